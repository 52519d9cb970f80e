package components

// TestTrackingServerPolicyEnforcedByMoto runs the tracking server's inline policy, rendered by
// TrackingServerPolicy, under moto's IAM enforcement and checks what the role may and may not do.
//
// How moto (5.2.5, pinned in .ci/requirements-tools.txt) enforces IAM, as read from
// moto/core/authorization.py and moto/iam/access_control.py and observed here:
//   - INITIAL_NO_AUTH_ACTION_COUNT=N lets the first N requests through unchecked; every later
//     request has its SigV4 signature and its action checked.
//   - After those N requests the dummy keys (AWS_ACCESS_KEY_ID=testing) are no identity at all:
//     moto knows only the access keys of IAM users (AKIA...) and of assumed roles (ASIA...), so
//     a "testing" call is rejected with InvalidClientTokenId. There is no root/admin identity
//     once enforcement starts. The setup therefore creates an IAM user with an access key and a
//     user policy allowing sts:AssumeRole on the role; the user assumes the role, and the role's
//     temporary credentials carry exactly the role's inline policy.
//   - S3 is checked against real bucket and object ARNs (arn:aws:s3:::bucket/key).
//   - Conditions are evaluated only for sts:AssumeRole trust policies and only with
//     StringEquals; any other operator (our StringLike on s3:prefix) is ignored, i.e. treated as
//     true. moto therefore does NOT enforce the s3:prefix condition of ListArtifactsPrefix: a
//     listing with no prefix or a prefix outside artifacts/ is allowed by moto (real IAM denies
//     it). The condition is asserted on the rendered document instead.
//   - SSM actions are checked with resource "*": a policy statement scoped to one parameter ARN
//     never matches, so moto denies ssm:GetParameter even though real IAM allows it. The action
//     part is still enforced (other ssm actions are denied); the resource is asserted on the
//     rendered document.
//   - DeleteObjects (bulk delete, POST ?delete) is checked against the bucket ARN, not each key,
//     so moto reports AccessDenied per key where real S3 allows keys under artifacts/. It is not
//     asserted here.
//   - moto_server recomputes SigV4 signatures from the decoded URL, so S3 calls with "/" in a
//     query value (Prefix="artifacts/", Delimiter="/") fail with SignatureDoesNotMatch; the
//     driver (testdata/moto_driver.py) sends and signs that "/" literally to work around it.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

const (
	// motoSetupCalls is the exact number of setup requests sent with the dummy keys before the
	// test switches to real (IAM user / assumed role) credentials. moto lets exactly this many
	// requests through unchecked (INITIAL_NO_AUTH_ACTION_COUNT); everything after is enforced.
	motoSetupCalls = 9

	motoArtifactBucket = "mlflow-aws-dev-artifacts"
	motoOtherBucket    = "mlflow-aws-dev-other"
	motoParameterName  = "/mlflow-aws/dev/db-password"
	motoParameterValue = "not-a-real-password"
	motoRoleName       = "mlflow-aws-dev-tracking-server"
	motoCallerUser     = "policy-test-caller"
	motoArtifactKey    = "artifacts/1/run/artifacts/model.pkl"
)

// motoCreds are AWS credentials in the shape of STS / IAM responses.
type motoCreds struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken,omitempty"`
}

// motoReply is one line from testdata/moto_driver.py.
type motoReply struct {
	Result map[string]any `json:"result"`
	Error  *struct {
		Code    string `json:"Code"`
		Message string `json:"Message"`
	} `json:"error"`
	Status int    `json:"status"`
	Fatal  string `json:"fatal"`
}

func (r motoReply) String() string {
	switch {
	case r.Fatal != "":
		return "driver failure: " + r.Fatal
	case r.Error != nil:
		return fmt.Sprintf("HTTP %d %s: %s", r.Status, r.Error.Code, r.Error.Message)
	default:
		b, _ := json.Marshal(r.Result)
		return "success: " + string(b)
	}
}

// accessDenied reports whether the call was refused by IAM. moto's SSM answers its JSON protocol
// with an XML error body that botocore cannot parse, so the code then only shows in the message.
func (r motoReply) accessDenied() bool {
	if r.Error == nil {
		return false
	}
	return r.Error.Code == "AccessDenied" ||
		(r.Status == 403 && strings.Contains(r.Error.Message, "<Code>AccessDenied</Code>"))
}

// motoDriver is a running testdata/moto_driver.py: one JSON line in, one JSON line out.
type motoDriver struct {
	stdin io.WriteCloser
	dec   *json.Decoder
}

func (d *motoDriver) call(t *testing.T, creds motoCreds, service, op string, params map[string]any) motoReply {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	line, err := json.Marshal(map[string]any{"service": service, "op": op, "params": params, "creds": creds})
	if err != nil {
		t.Fatalf("%s:%s: encode request: %v", service, op, err)
	}
	if _, err := d.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("%s:%s: write to moto driver: %v", service, op, err)
	}
	type decoded struct {
		reply motoReply
		err   error
	}
	ch := make(chan decoded, 1)
	go func() {
		var r motoReply
		err := d.dec.Decode(&r)
		ch <- decoded{r, err}
	}()
	select {
	case got := <-ch:
		if got.err != nil {
			t.Fatalf("%s:%s: read reply from moto driver: %v", service, op, got.err)
		}
		if got.reply.Fatal != "" {
			t.Fatalf("%s:%s: %s", service, op, got.reply)
		}
		return got.reply
	case <-time.After(20 * time.Second):
		t.Fatalf("%s:%s: no reply from moto driver within 20s", service, op)
	}
	return motoReply{}
}

// startMotoServer starts moto_server on a free port with IAM enforcement after
// motoSetupCalls requests, waits until the port answers and stops it (whole process group) in
// t.Cleanup. It returns the endpoint URL.
func startMotoServer(t *testing.T) string {
	t.Helper()
	return testenv.StartMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(motoSetupCalls))
}

// startMotoDriver starts testdata/moto_driver.py with the first python3 on PATH (the tools
// venv's, which internal/testenv puts first: it has boto3) and stops it in t.Cleanup.
func startMotoDriver(t *testing.T, endpoint string) *motoDriver {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 not found on PATH (%v): .tools/venv provides it: %s", err, testenv.InstallHint)
	}
	if out, err := exec.Command(py, "-c", "import boto3").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import boto3 (%v): %s; the first python3 on PATH must be .tools/venv's (%s)", py, err, out, testenv.InstallHint)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "moto_driver.py"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script)
	cmd.Env = append(os.Environ(),
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.LogBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s %s: %v", py, script, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close() // the driver exits at end of input
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() && stderr.Tail(1) != "" {
			t.Logf("moto driver stderr (tail):\n%s", stderr.Tail(4000))
		}
	})
	return &motoDriver{stdin: stdin, dec: json.NewDecoder(bufio.NewReader(stdout))}
}

// str walks a decoded JSON reply, e.g. motoStr(r, "Role", "Arn").
func motoStr(m map[string]any, path ...string) string {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[k]
	}
	s, _ := cur.(string)
	return s
}

// motoLockKey stands in for the venv lock's object key (lock.Lock.ObjectKey).
const motoLockKey = "bootstrap/mlflow-3.17.2-0123456789ab.txt"

func TestTrackingServerPolicyEnforcedByMoto(t *testing.T) {
	start := time.Now()
	endpoint := startMotoServer(t)
	d := startMotoDriver(t, endpoint)

	// ---- Setup: exactly motoSetupCalls requests with the dummy keys, unchecked by moto. ----
	dummy := motoCreds{AccessKeyID: "testing", SecretAccessKey: "testing"}
	setupCalls := 0
	setup := func(what, service, op string, params map[string]any) map[string]any {
		t.Helper()
		setupCalls++
		r := d.call(t, dummy, service, op, params)
		if r.Error != nil {
			t.Fatalf("setup %d (%s, %s:%s): %s", setupCalls, what, service, op, r)
		}
		return r.Result
	}

	setup("artifact bucket", "s3", "create_bucket", map[string]any{"Bucket": motoArtifactBucket})
	setup("other bucket", "s3", "create_bucket", map[string]any{"Bucket": motoOtherBucket})
	setup("db password parameter", "ssm", "put_parameter", map[string]any{
		"Name": motoParameterName, "Value": motoParameterValue, "Type": "SecureString",
	})
	parameterArn := motoStr(setup("parameter ARN", "ssm", "get_parameter", map[string]any{"Name": motoParameterName}), "Parameter", "ARN")
	if parameterArn == "" {
		t.Fatalf("ssm:GetParameter %s: moto reported no ARN", motoParameterName)
	}
	// S3 responses carry no ARN; a bucket's ARN is arn:aws:s3:::name, which is also the form
	// moto checks policies against (arn:aws:s3:::bucket/key for objects).
	bucketArn := "arn:aws:s3:::" + motoArtifactBucket

	userArn := motoStr(setup("caller user", "iam", "create_user", map[string]any{"UserName": motoCallerUser}), "User", "Arn")
	key := setup("caller access key", "iam", "create_access_key", map[string]any{"UserName": motoCallerUser})
	caller := motoCreds{AccessKeyID: motoStr(key, "AccessKey", "AccessKeyId"), SecretAccessKey: motoStr(key, "AccessKey", "SecretAccessKey")}
	if userArn == "" || caller.AccessKeyID == "" || caller.SecretAccessKey == "" {
		t.Fatalf("iam:CreateUser/CreateAccessKey %s: missing ARN or key in moto's replies", motoCallerUser)
	}

	// The trust policy is the production EC2AssumeRolePolicy() plus, in this test's copy only,
	// the caller user as a second principal so that the test can assume the role. The principal
	// goes into the existing statement instead of a statement of its own: when moto checks
	// sts:AssumeRole by an IAM user it crashes (HTTP 500, TypeError) on a statement whose
	// Principal has no "AWS" key, and it treats a statement naming another principal as an
	// explicit Deny. The production document itself is not changed.
	trust := EC2AssumeRolePolicy()
	if len(trust.Statement) != 1 {
		t.Fatalf("EC2AssumeRolePolicy: want 1 statement to extend in the test copy, got %d", len(trust.Statement))
	}
	ec2Principal, ok := trust.Statement[0].Principal.(map[string]string)
	if !ok || ec2Principal["Service"] != "ec2.amazonaws.com" || len(ec2Principal) != 1 {
		t.Fatalf("EC2AssumeRolePolicy: Principal = %#v, want only {Service: ec2.amazonaws.com}", trust.Statement[0].Principal)
	}
	testPrincipal := map[string]string{"AWS": userArn} // test-only addition
	for k, v := range ec2Principal {
		testPrincipal[k] = v
	}
	trust.Statement = []PolicyStatement{trust.Statement[0]}
	trust.Statement[0].Principal = testPrincipal
	trustJSON, err := trust.JSON()
	if err != nil {
		t.Fatal(err)
	}
	roleArn := motoStr(setup("tracking server role", "iam", "create_role", map[string]any{
		"RoleName": motoRoleName, "AssumeRolePolicyDocument": trustJSON,
	}), "Role", "Arn")
	if roleArn == "" {
		t.Fatalf("iam:CreateRole %s: moto reported no ARN", motoRoleName)
	}
	setup("caller may assume the role", "iam", "put_user_policy", map[string]any{
		"UserName": motoCallerUser, "PolicyName": "assume-tracking-server-role",
		"PolicyDocument": fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":%q}]}`, roleArn),
	})

	doc, err := TrackingServerPolicy(bucketArn, ArtifactsPrefix, []string{motoLockKey}, parameterArn)
	if err != nil {
		t.Fatalf("TrackingServerPolicy(%q, %q, %q): %v", bucketArn, ArtifactsPrefix, parameterArn, err)
	}
	policyJSON, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	setup("tracking server inline policy", "iam", "put_role_policy", map[string]any{
		"RoleName": motoRoleName, "PolicyName": "tracking-server", "PolicyDocument": policyJSON,
	})

	if setupCalls != motoSetupCalls {
		t.Fatalf("setup sent %d unauthenticated requests but moto lets %d through (INITIAL_NO_AUTH_ACTION_COUNT); update motoSetupCalls", setupCalls, motoSetupCalls)
	}

	// ---- Enforcement is on: the dummy keys no longer work. ----
	if r := d.call(t, dummy, "iam", "list_roles", nil); r.Error == nil || r.Error.Code != "InvalidClientTokenId" {
		t.Fatalf("iam:ListRoles with the dummy keys after %d setup calls: want InvalidClientTokenId (IAM enforcement on), got %s", motoSetupCalls, r)
	}

	// ---- Assume the role. ----
	ar := d.call(t, caller, "sts", "assume_role", map[string]any{"RoleArn": roleArn, "RoleSessionName": "policy-test"})
	if ar.Error != nil {
		t.Fatalf("sts:AssumeRole %s as %s: want allowed, got %s", roleArn, userArn, ar)
	}
	role := motoCreds{
		AccessKeyID:     motoStr(ar.Result, "Credentials", "AccessKeyId"),
		SecretAccessKey: motoStr(ar.Result, "Credentials", "SecretAccessKey"),
		SessionToken:    motoStr(ar.Result, "Credentials", "SessionToken"),
	}
	if role.AccessKeyID == "" || role.SecretAccessKey == "" || role.SessionToken == "" {
		t.Fatalf("sts:AssumeRole %s: incomplete credentials in %s", roleArn, ar)
	}
	if r := d.call(t, role, "sts", "get_caller_identity", nil); !strings.Contains(motoStr(r.Result, "Arn"), ":assumed-role/"+motoRoleName+"/") {
		t.Fatalf("sts:GetCallerIdentity with the role's credentials: want an assumed-role/%s ARN, got %s", motoRoleName, r)
	}

	allowed := func(action, target, service, op string, params map[string]any) map[string]any {
		t.Helper()
		r := d.call(t, role, service, op, params)
		if r.Error != nil {
			t.Errorf("%s on %s: want ALLOWED for the tracking server role, got %s", action, target, r)
		}
		return r.Result
	}
	denied := func(action, target, service, op string, params map[string]any) {
		t.Helper()
		r := d.call(t, role, service, op, params)
		if !r.accessDenied() {
			t.Errorf("%s on %s: want AccessDenied for the tracking server role, got %s", action, target, r)
		}
	}
	objTarget := func(bucket, key string) string { return "s3://" + bucket + "/" + key }

	// ---- ALLOWED: what MLflow's S3ArtifactRepository does under s3://bucket/artifacts. ----
	body := "pickled model bytes"
	allowed("s3:PutObject", objTarget(motoArtifactBucket, motoArtifactKey), "s3", "put_object",
		map[string]any{"Bucket": motoArtifactBucket, "Key": motoArtifactKey, "Body": body})
	// list_artifacts: ListObjectsV2 with Prefix "<artifact path>/" and Delimiter "/".
	for _, prefix := range []string{ArtifactsPrefix + "/", "artifacts/1/run/artifacts/"} {
		res := allowed("s3:ListBucket (ListObjectsV2)", fmt.Sprintf("s3://%s prefix %q", motoArtifactBucket, prefix), "s3", "list_objects_v2",
			map[string]any{"Bucket": motoArtifactBucket, "Prefix": prefix, "Delimiter": "/"})
		if res != nil {
			listed, _ := json.Marshal(res)
			if !strings.Contains(string(listed), "artifacts/1/") {
				t.Errorf("s3:ListBucket on s3://%s prefix %q: want the uploaded artifact (or its folder) listed, got %s", motoArtifactBucket, prefix, listed)
			}
		}
	}
	if res := allowed("s3:GetObject", objTarget(motoArtifactBucket, motoArtifactKey), "s3", "get_object",
		map[string]any{"Bucket": motoArtifactBucket, "Key": motoArtifactKey}); res != nil && motoStr(res, "Body") != body {
		t.Errorf("s3:GetObject on %s: want body %q, got %q", objTarget(motoArtifactBucket, motoArtifactKey), body, motoStr(res, "Body"))
	}
	allowed("s3:GetObject (HeadObject)", objTarget(motoArtifactBucket, motoArtifactKey), "s3", "head_object",
		map[string]any{"Bucket": motoArtifactBucket, "Key": motoArtifactKey})
	allowed("s3:GetBucketLocation", "s3://"+motoArtifactBucket, "s3", "get_bucket_location", map[string]any{"Bucket": motoArtifactBucket})
	allowed("s3:DeleteObject", objTarget(motoArtifactBucket, motoArtifactKey), "s3", "delete_object",
		map[string]any{"Bucket": motoArtifactBucket, "Key": motoArtifactKey})

	// Multipart upload as boto3's upload_file does for large artifacts: a 5 MiB part (S3's
	// minimum for a non-final part) and a small final part, listed and completed.
	bigKey := "artifacts/1/run/artifacts/big-model.bin"
	mp := allowed("s3:PutObject (CreateMultipartUpload)", objTarget(motoArtifactBucket, bigKey), "s3", "create_multipart_upload",
		map[string]any{"Bucket": motoArtifactBucket, "Key": bigKey})
	if uploadID := motoStr(mp, "UploadId"); uploadID != "" {
		var parts []map[string]any
		for i, p := range []string{strings.Repeat("a", 5<<20), "tail"} {
			res := allowed("s3:PutObject (UploadPart)", fmt.Sprintf("%s part %d", objTarget(motoArtifactBucket, bigKey), i+1), "s3", "upload_part",
				map[string]any{"Bucket": motoArtifactBucket, "Key": bigKey, "UploadId": uploadID, "PartNumber": i + 1, "Body": p})
			parts = append(parts, map[string]any{"PartNumber": i + 1, "ETag": motoStr(res, "ETag")})
		}
		allowed("s3:ListMultipartUploadParts", objTarget(motoArtifactBucket, bigKey), "s3", "list_parts",
			map[string]any{"Bucket": motoArtifactBucket, "Key": bigKey, "UploadId": uploadID})
		allowed("s3:PutObject (CompleteMultipartUpload)", objTarget(motoArtifactBucket, bigKey), "s3", "complete_multipart_upload",
			map[string]any{"Bucket": motoArtifactBucket, "Key": bigKey, "UploadId": uploadID, "MultipartUpload": map[string]any{"Parts": parts}})
		if res := allowed("s3:GetObject (HeadObject)", objTarget(motoArtifactBucket, bigKey), "s3", "head_object",
			map[string]any{"Bucket": motoArtifactBucket, "Key": bigKey}); res != nil {
			if n, _ := res["ContentLength"].(float64); int(n) != 5<<20+len("tail") {
				t.Errorf("s3:GetObject (HeadObject) on %s after CompleteMultipartUpload: want ContentLength %d, got %v", objTarget(motoArtifactBucket, bigKey), 5<<20+len("tail"), res["ContentLength"])
			}
		}
	} else {
		t.Errorf("s3:PutObject (CreateMultipartUpload) on %s: no UploadId, multipart steps skipped", objTarget(motoArtifactBucket, bigKey))
	}
	abortKey := "artifacts/1/run/artifacts/aborted.bin"
	if uploadID := motoStr(allowed("s3:PutObject (CreateMultipartUpload)", objTarget(motoArtifactBucket, abortKey), "s3", "create_multipart_upload",
		map[string]any{"Bucket": motoArtifactBucket, "Key": abortKey}), "UploadId"); uploadID != "" {
		allowed("s3:AbortMultipartUpload", objTarget(motoArtifactBucket, abortKey), "s3", "abort_multipart_upload",
			map[string]any{"Bucket": motoArtifactBucket, "Key": abortKey, "UploadId": uploadID})
	}

	// ---- DENIED. ----
	denied("s3:PutObject", objTarget(motoOtherBucket, motoArtifactKey), "s3", "put_object",
		map[string]any{"Bucket": motoOtherBucket, "Key": motoArtifactKey, "Body": body})
	denied("s3:GetObject", objTarget(motoOtherBucket, motoArtifactKey), "s3", "get_object",
		map[string]any{"Bucket": motoOtherBucket, "Key": motoArtifactKey})
	denied("s3:ListBucket (ListObjectsV2)", fmt.Sprintf("s3://%s prefix %q", motoOtherBucket, ArtifactsPrefix+"/"), "s3", "list_objects_v2",
		map[string]any{"Bucket": motoOtherBucket, "Prefix": ArtifactsPrefix + "/"})
	for _, k := range []string{"outside/x", "artifacts", "artifactsx/y"} {
		denied("s3:PutObject", objTarget(motoArtifactBucket, k), "s3", "put_object",
			map[string]any{"Bucket": motoArtifactBucket, "Key": k, "Body": body})
	}
	denied("s3:GetObject", objTarget(motoArtifactBucket, "outside/x"), "s3", "get_object",
		map[string]any{"Bucket": motoArtifactBucket, "Key": "outside/x"})
	// The venv's lock: readable (TestRealMLflowEndToEnd's bootstrap downloads it with this role),
	// but no other key under bootstrap/ is, and the lock itself cannot be replaced.
	for _, k := range []string{"bootstrap/mlflow-3.5.0-ffffffffffff.txt", "bootstrap/other"} {
		denied("s3:GetObject", objTarget(motoArtifactBucket, k), "s3", "get_object", map[string]any{"Bucket": motoArtifactBucket, "Key": k})
	}
	denied("s3:PutObject", objTarget(motoArtifactBucket, motoLockKey), "s3", "put_object",
		map[string]any{"Bucket": motoArtifactBucket, "Key": motoLockKey, "Body": body})
	denied("s3:DeleteObject", objTarget(motoArtifactBucket, "outside/x"), "s3", "delete_object",
		map[string]any{"Bucket": motoArtifactBucket, "Key": "outside/x"})
	denied("s3:PutObject (CreateMultipartUpload)", objTarget(motoArtifactBucket, "outside/big"), "s3", "create_multipart_upload",
		map[string]any{"Bucket": motoArtifactBucket, "Key": "outside/big"})
	denied("s3:DeleteBucket", "s3://"+motoArtifactBucket, "s3", "delete_bucket", map[string]any{"Bucket": motoArtifactBucket})
	denied("s3:CreateBucket", "s3://mlflow-aws-dev-new", "s3", "create_bucket", map[string]any{"Bucket": "mlflow-aws-dev-new"})
	// Not asserted, because moto ignores the StringLike s3:prefix condition (see the file
	// comment): ListObjectsV2 on the artifact bucket with no prefix or with Prefix "outside/".
	// Real IAM denies both; the condition is checked on the rendered document below.
	for _, prefix := range []string{"", "outside/"} {
		r := d.call(t, role, "s3", "list_objects_v2", map[string]any{"Bucket": motoArtifactBucket, "Prefix": prefix})
		t.Logf("moto does not evaluate s3:prefix: ListObjectsV2 on s3://%s prefix %q -> %s (real IAM: AccessDenied)", motoArtifactBucket, prefix, r)
	}

	// ---- SSM. moto checks SSM actions against resource "*" (see the file comment). ----
	denied("ssm:PutParameter", motoParameterName, "ssm", "put_parameter",
		map[string]any{"Name": motoParameterName, "Value": "overwritten", "Type": "SecureString", "Overwrite": true})
	denied("ssm:GetParametersByPath", "/mlflow-aws/", "ssm", "get_parameters_by_path",
		map[string]any{"Path": "/mlflow-aws/", "Recursive": true, "WithDecryption": true})
	denied("ssm:DescribeParameters", "*", "ssm", "describe_parameters", nil)
	gp := d.call(t, role, "ssm", "get_parameter", map[string]any{"Name": motoParameterName, "WithDecryption": true})
	switch {
	case gp.Error == nil:
		if got := motoStr(gp.Result, "Parameter", "Value"); got != motoParameterValue {
			t.Errorf("ssm:GetParameter --with-decryption on %s: want value %q, got %q", parameterArn, motoParameterValue, got)
		}
	case gp.accessDenied() && strings.Contains(gp.Error.Message, "ssm:GetParameter"):
		// moto matches the request against resource "*", which never matches the statement's
		// parameter ARN, so moto denies what real IAM allows. The resource is asserted on the
		// document below; if moto learns SSM resources, the branch above takes over.
		t.Logf("moto evaluates ssm:GetParameter against resource \"*\", so the ARN-scoped statement does not match there: %s", gp)
	default:
		t.Errorf("ssm:GetParameter --with-decryption on %s: want the value or moto's known AccessDenied, got %s", parameterArn, gp)
	}

	// ---- The rendered document (exactly what was put on the role). ----
	var rendered PolicyDocument
	if err := json.Unmarshal([]byte(policyJSON), &rendered); err != nil {
		t.Fatalf("rendered policy is not valid JSON: %v\n%s", err, policyJSON)
	}
	var ssmActions []string
	for i, st := range rendered.Statement {
		name := fmt.Sprintf("statement %d (%s)", i, st.Sid)
		for _, a := range st.Action {
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("%s: Action %q is a service-wide wildcard; want named actions only", name, a)
			}
			if strings.HasPrefix(a, "ssm:") {
				ssmActions = append(ssmActions, a)
				if len(st.Resource) != 1 || st.Resource[0] != parameterArn {
					t.Errorf("%s: %s has Resource %q; want exactly [%q]", name, a, st.Resource, parameterArn)
				}
			}
			if a == "s3:ListBucket" {
				if len(st.Resource) != 1 || st.Resource[0] != bucketArn {
					t.Errorf("%s: s3:ListBucket has Resource %q; want exactly [%q]", name, st.Resource, bucketArn)
				}
				want := []string{ArtifactsPrefix, ArtifactsPrefix + "/*"}
				got, _ := json.Marshal(st.Condition["StringLike"]["s3:prefix"])
				wantJSON, _ := json.Marshal(want)
				if string(got) != string(wantJSON) || len(st.Condition) != 1 || len(st.Condition["StringLike"]) != 1 {
					t.Errorf("%s: s3:ListBucket has Condition %v; want exactly StringLike s3:prefix = %q (moto does not evaluate it)", name, st.Condition, want)
				}
			}
		}
		if st.Effect == "Allow" {
			if len(st.Resource) == 0 {
				t.Errorf("%s: Allow statement without Resource; want explicit ARNs", name)
			}
			for _, r := range st.Resource {
				if r == "*" {
					t.Errorf("%s: Allow statement has Resource \"*\"; want explicit ARNs", name)
				}
			}
		}
	}
	if len(ssmActions) != 1 || ssmActions[0] != "ssm:GetParameter" {
		t.Errorf("rendered policy: ssm actions %q; want exactly [\"ssm:GetParameter\"]", ssmActions)
	}

	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("test took %s; keep it under 30s", elapsed.Round(time.Millisecond))
	}
}
