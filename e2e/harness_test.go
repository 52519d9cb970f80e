// Package e2e runs the real MLflow tracking server, launched by the files the dev stack's user
// data writes, against real PostgreSQL (verify-full TLS) and moto (S3 and SSM with IAM enforced,
// called with the instance role's credentials), and drives it with the real MLflow client. It
// holds tests only; they never skip: a missing tool fails them with the install command.
package e2e

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	plugin "github.com/mlflow-aws/mlflow-aws/server"
	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// motoAccount is the account moto puts every resource in.
const motoAccount = "123456789012"

// document is a rendered cloud-config: its write_files by path.
type document map[string]string

// parseDocument returns the write_files of a #cloud-config by path.
func parseDocument(t testing.TB, text string) document {
	t.Helper()
	var cfg struct {
		WriteFiles []struct{ Path, Content string } `yaml:"write_files"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("parse cloud-config: %v", err)
	}
	d := document{}
	for _, f := range cfg.WriteFiles {
		d[f.Path] = f.Content
	}
	for _, p := range []string{userdata.EnvFilePath, userdata.LauncherPath, userdata.DBStateHelperPath, userdata.BootstrapPath, userdata.UnitPath} {
		if d[p] == "" {
			t.Fatalf("the cloud-config writes no %s", p)
		}
	}
	return d
}

// env returns the document's env file as a map (values unquoted as systemd reads them).
func (d document) env(t testing.TB) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(d[userdata.EnvFilePath], "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("env file line %q", l)
		}
		m[k] = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
	}
	return m
}

// devDocuments returns the dev stack's rendered user data (the golden file the program's
// TestGoldenUserData keeps equal to what `pulumi up` renders) and the same stack rendered with
// MLflow oldVersion. The Params are recovered from the golden's env file; rendering them with the
// golden's own version must give the golden byte for byte, which proves the recovery exact.
func devDocuments(t testing.TB, oldVersion string) (dev, old document, p userdata.Params) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join(root, "userdata", "testdata", "dev.cloud-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dev = parseDocument(t, string(golden))
	env := dev.env(t)
	u, err := url.Parse(env[userdata.EnvBackendStoreURI])
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	workers, _ := strconv.Atoi(env[userdata.EnvWorkers])
	listen, _ := strconv.Atoi(env[userdata.EnvPort])
	p = userdata.Params{
		Region: env[userdata.EnvAWSDefaultRegion], BackendStoreHost: u.Hostname(), BackendStorePort: port,
		DatabaseName: strings.TrimPrefix(u.Path, "/"), DatabaseUser: u.User.Username(),
		PasswordParameterName: env[userdata.EnvDBPasswordParameter], ArtifactAccess: env[userdata.EnvArtifactAccess],
		ArtifactsURI: env[userdata.EnvArtifactsURI], AllowedHosts: strings.Split(env[userdata.EnvAllowedHosts], ","),
		Workers: workers, Port: listen,
	}
	if env[userdata.EnvAuth] == userdata.AuthBasic {
		p.Auth = &userdata.AuthParams{AdminUsername: env[userdata.EnvAuthAdminUsername], DefaultPermission: env[userdata.EnvAuthDefaultPermission],
			Users: splitList(env[userdata.EnvAuthUsers]), Promoters: splitList(env[userdata.EnvAuthPromoters]),
			ProductionAlias: env[userdata.EnvAuthProductionAlias], StagingAlias: env[userdata.EnvAuthStagingAlias],
			ParameterPath: env[userdata.EnvAuthParameterPath], SecretKeyParameterName: env[userdata.EnvFlaskSecretKeyParameter]}
	}
	if agent, ok := dev[userdata.AgentConfigPath]; ok {
		p.Monitoring = monitoringParams(t, agent)
	}
	// The spool volume and gc settings live in their own files, not the env file.
	_, p.SpoolVolume = dev[userdata.SpoolDropInPath]
	for _, l := range strings.Split(dev[userdata.GCUnitPath], "\n") {
		if v, ok := strings.CutPrefix(l, "Environment="+userdata.EnvGCOlderThan+"="); ok {
			p.GCOlderThan = v
		}
	}
	boot := dev[userdata.BootstrapPath]
	for _, v := range lock.Versions() {
		if lk, _ := lock.For(v); strings.Contains(boot, "readonly lock_sha256='"+lk.SHA256+"'") {
			p.MLflowVersion = v
		}
	}
	if text, err := userdata.Render(p); err != nil || text != string(golden) {
		t.Fatalf("the dev golden is not Render(%+v) (err %v): the Params recovered from it are wrong", p, err)
	}
	q := p
	q.MLflowVersion = oldVersion
	text, err := userdata.Render(q)
	if err != nil {
		t.Fatal(err)
	}
	return dev, parseDocument(t, text), p
}

// monitoringParams recovers userdata.MonitoringParams from the CloudWatch agent configuration
// the document writes: its log group, namespace and the disk other than / (the spool volume).
func monitoringParams(t testing.TB, agentJSON string) *userdata.MonitoringParams {
	t.Helper()
	var c struct {
		Metrics struct {
			Namespace        string `json:"namespace"`
			MetricsCollected struct {
				Disk struct {
					Resources []string `json:"resources"`
				} `json:"disk"`
			} `json:"metrics_collected"`
		} `json:"metrics"`
		Logs struct {
			LogsCollected struct {
				Files struct {
					CollectList []struct {
						LogGroupName string `json:"log_group_name"`
					} `json:"collect_list"`
				} `json:"files"`
			} `json:"logs_collected"`
		} `json:"logs"`
	}
	if err := json.Unmarshal([]byte(agentJSON), &c); err != nil || len(c.Logs.LogsCollected.Files.CollectList) != 1 {
		t.Fatalf("the agent configuration does not parse (%v):\n%s", err, agentJSON)
	}
	m := &userdata.MonitoringParams{LogGroupName: c.Logs.LogsCollected.Files.CollectList[0].LogGroupName, MetricsNamespace: c.Metrics.Namespace}
	for _, r := range c.Metrics.MetricsCollected.Disk.Resources {
		if r != userdata.RootPath {
			m.SpoolPath = r
		}
	}
	return m
}

// splitList splits a comma-separated env value ("" is no element).
func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// render renders p or fails the test.
func render(t testing.TB, p userdata.Params) document {
	t.Helper()
	text, err := userdata.Render(p)
	if err != nil {
		t.Fatal(err)
	}
	return parseDocument(t, text)
}

// cloud is moto on loopback with IAM enforced: an admin user for setup, and the tracking
// server's role with the program's own least-privilege policy.
type cloud struct {
	endpoint, region, bucket, parameter string
	// dbInstance is the RDS DB instance createDBInstance made ("" before): the role then also
	// gets the program's pre-upgrade snapshot statements on it.
	dbInstance string
	admin      []string // AWS_* of the admin user
	aws        string   // the AWS CLI
}

// startCloud starts moto (INITIAL_NO_AUTH_ACTION_COUNT=3: just the admin user's creation goes
// unchecked), creates the bucket and the SecureString password parameter with the admin.
func startCloud(t testing.TB, region, bucket, parameter, password string) *cloud {
	t.Helper()
	c := &cloud{region: region, bucket: bucket, parameter: parameter,
		aws: testenv.RequireTool(t, "aws", "the AWS CLI comes from .tools/venv: "+testenv.InstallHint)}
	c.endpoint = testenv.StartMoto(t, "INITIAL_NO_AUTH_ACTION_COUNT=3")
	anon := []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"}
	c.call(t, anon, "iam", "create-user", "--user-name", "e2e-admin")
	c.call(t, anon, "iam", "put-user-policy", "--user-name", "e2e-admin", "--policy-name", "admin",
		"--policy-document", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	var key struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	c.callJSON(t, anon, &key, "iam", "create-access-key", "--user-name", "e2e-admin")
	c.admin = []string{"AWS_ACCESS_KEY_ID=" + key.AccessKey.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + key.AccessKey.SecretAccessKey}
	// From here on every call is checked against IAM.
	if _, _, err := c.run(t, anon, "s3api", "list-buckets"); err == nil {
		t.Fatal("moto answered an unknown access key after setup: IAM is not enforced")
	}
	c.call(t, c.admin, "s3api", "create-bucket", "--bucket", bucket)
	c.putSecureString(t, parameter, password)
	return c
}

// putSecureString creates an SSM SecureString parameter (as the admin). The value goes through a
// JSON input file, so it is never on a command line.
func (c *cloud) putSecureString(t testing.TB, name, value string) {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"Name": name, "Value": value, "Type": "SecureString", "Overwrite": true})
	f := filepath.Join(t.TempDir(), "parameter.json")
	if err := os.WriteFile(f, in, 0o600); err != nil {
		t.Fatal(err)
	}
	c.call(t, c.admin, "ssm", "put-parameter", "--cli-input-json", "file://"+f)
}

// authSecrets holds the auth passwords the test puts in SSM where the program does.
type authSecrets struct {
	admin string
	users map[string]string
}

// putAuthSecrets creates the admin's and every user's password and the Flask secret key as
// SecureStrings at the names of a (AuthParams.ParameterPath, SecretKeyParameterName).
func (c *cloud) putAuthSecrets(t testing.TB, a *userdata.AuthParams) authSecrets {
	t.Helper()
	s := authSecrets{admin: password(), users: map[string]string{}}
	c.putSecureString(t, a.ParameterPath+"/admin-password", s.admin)
	for _, u := range a.Users {
		s.users[u] = password()
		c.putSecureString(t, a.ParameterPath+"/users/"+u, s.users[u])
	}
	c.putSecureString(t, a.SecretKeyParameterName, strings.ReplaceAll(password(), "%", "x")+password())
	return s
}

// env is the environment of an AWS CLI or boto3 call with credentials creds: moto's endpoint,
// the region, no config files, never the real IMDS.
func (c *cloud) env(home string, creds []string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LC_ALL=C.UTF-8", "AWS_ENDPOINT_URL=" + c.endpoint,
		"AWS_DEFAULT_REGION=" + c.region, "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}, creds...)
}

func (c *cloud) run(t testing.TB, creds []string, args ...string) (string, string, error) {
	t.Helper()
	return testenv.Run(t, 2*time.Minute, c.env(t.TempDir(), creds), "", c.aws, append(args, "--output", "json")...)
}

func (c *cloud) call(t testing.TB, creds []string, args ...string) string {
	t.Helper()
	out, stderr, err := c.run(t, creds, args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func (c *cloud) callJSON(t testing.TB, creds []string, v any, args ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(c.call(t, creds, args...)), v); err != nil {
		t.Fatalf("aws %s: %v", strings.Join(args, " "), err)
	}
}

// putBootstrapObjects uploads the lock of version and the plugin wheel where the program puts
// them (lock.Lock.ObjectKey, plugin.Wheel.ObjectKey) and returns the lock and both keys.
func (c *cloud) putBootstrapObjects(t testing.TB, version string) (lock.Lock, []string) {
	t.Helper()
	lk, err := lock.For(version)
	if err != nil {
		t.Fatal(err)
	}
	wheel, err := plugin.BuildWheel()
	if err != nil {
		t.Fatal(err)
	}
	for key, content := range map[string][]byte{lk.ObjectKey(): []byte(lk.Content), wheel.ObjectKey(): wheel.Content} {
		f := filepath.Join(t.TempDir(), "object")
		if err := os.WriteFile(f, content, 0o644); err != nil {
			t.Fatal(err)
		}
		c.call(t, c.admin, "s3api", "put-object", "--bucket", c.bucket, "--key", key, "--body", f)
	}
	return lk, []string{lk.ObjectKey(), wheel.ObjectKey()}
}

// instanceRole (re)creates the tracking server's role with the program's policy for the bootstrap
// objects keys and returns the AWS_* credentials of a session of it, as the instance profile
// would hand them out.
func (c *cloud) instanceRole(t testing.TB, keys []string) []string {
	t.Helper()
	const role = "mlflow-e2e-server-role"
	// On EC2 the instance profile hands the role's session to the instance; here the admin user
	// stands in for EC2 (moto checks the trust policy against the caller of sts:AssumeRole).
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + motoAccount +
		`:user/e2e-admin"},"Action":"sts:AssumeRole"}]}`
	if _, _, err := c.run(t, c.admin, "iam", "get-role", "--role-name", role); err != nil {
		c.call(t, c.admin, "iam", "create-role", "--role-name", role, "--assume-role-policy-document", trust)
	}
	paramArn := fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", c.region, motoAccount, strings.TrimPrefix(c.parameter, "/"))
	doc, err := components.TrackingServerPolicy("arn:aws:s3:::"+c.bucket, components.ArtifactsPrefix, keys, paramArn)
	if err != nil {
		t.Fatal(err)
	}
	// moto checks SSM actions against resource "*", so the program's statement scoped to the one
	// parameter ARN never matches there (TestTrackingServerPolicyEnforcedByMoto documents it and
	// asserts the ARN on the document). For moto only, the SSM reads (the passwords' and, with
	// authentication, the auth parameters' by path) are granted on "*"; the S3 statements, which
	// moto does enforce per bucket and key, are the program's exactly.
	doc.Statement = append(doc.Statement, components.PolicyStatement{Sid: "MotoSSMResourceStar", Effect: "Allow",
		Action: []string{"ssm:GetParameter", "ssm:GetParametersByPath"}, Resource: []string{"*"}})
	if c.dbInstance != "" {
		snap, err := components.TrackingServerSnapshotStatements(c.dbInstanceArn())
		if err != nil {
			t.Fatal(err)
		}
		// moto authorizes RDS actions, like SSM's, against resource "*" (moto/core/authorization.py:
		// _authenticate_and_authorize_normal_action), so the program's statements, scoped to the
		// stack's DB instance and snapshot ARNs (TestBoundaryAllowsThePreUpgradeSnapshot checks
		// them), never match there: for moto only, the same two actions on "*".
		doc.Statement = append(doc.Statement, snap...)
		doc.Statement = append(doc.Statement, components.PolicyStatement{Sid: "MotoRDSResourceStar", Effect: "Allow",
			Action: []string{"rds:CreateDBSnapshot", "rds:DescribeDBSnapshots"}, Resource: []string{"*"}})
	}
	policy, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	c.call(t, c.admin, "iam", "put-role-policy", "--role-name", role, "--policy-name", "server", "--policy-document", policy)
	var out struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	c.callJSON(t, c.admin, &out, "sts", "assume-role", "--role-arn", "arn:aws:iam::"+motoAccount+":role/"+role, "--role-session-name", "i-e2e")
	cr := out.Credentials
	return []string{"AWS_ACCESS_KEY_ID=" + cr.AccessKeyId, "AWS_SECRET_ACCESS_KEY=" + cr.SecretAccessKey, "AWS_SESSION_TOKEN=" + cr.SessionToken}
}

// createDBInstance creates the RDS DB instance id in moto (as the admin), so the launcher's
// pre-upgrade snapshot of it can succeed; later instanceRole calls grant the program's snapshot
// statements (components.TrackingServerSnapshotStatements) on it.
func (c *cloud) createDBInstance(t testing.TB, id string) {
	t.Helper()
	// The AWS CLI v1 of .tools ignores AWS_ENDPOINT_URL for rds commands: name the endpoint.
	c.call(t, c.admin, "rds", "create-db-instance", "--endpoint-url", c.endpoint, "--db-instance-identifier", id, "--db-instance-class", "db.t3.micro",
		"--engine", "postgres", "--allocated-storage", "20", "--master-username", "mlflow", "--master-user-password", "not-the-real-one-1")
	c.dbInstance = id
}

// dbInstanceArn is the ARN of the DB instance createDBInstance made.
func (c *cloud) dbInstanceArn() string {
	return fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", c.region, motoAccount, c.dbInstance)
}

// snapshots lists the manual RDS snapshot identifiers and statuses of the DB instance (as the
// admin; moto also keeps an automated one from the instance's creation).
func (c *cloud) snapshots(t testing.TB) map[string]string {
	t.Helper()
	var out struct {
		DBSnapshots []struct{ DBSnapshotIdentifier, Status string }
	}
	c.callJSON(t, c.admin, &out, "rds", "describe-db-snapshots", "--endpoint-url", c.endpoint, "--db-instance-identifier", c.dbInstance,
		"--snapshot-type", "manual")
	m := map[string]string{}
	for _, s := range out.DBSnapshots {
		m[s.DBSnapshotIdentifier] = s.Status
	}
	return m
}

// dbInstanceIdentifier is the DB instance identifier of the stack: the first label of the RDS
// endpoint, as the launcher derives it.
func dbInstanceIdentifier(p userdata.Params) string {
	id, _, _ := strings.Cut(p.BackendStoreHost, ".")
	return id
}

// objectKeys lists every key in the bucket (as the admin).
func (c *cloud) objectKeys(t testing.TB) []string {
	t.Helper()
	var out struct{ Contents []struct{ Key string } }
	c.callJSON(t, c.admin, &out, "s3api", "list-objects-v2", "--bucket", c.bucket)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, o.Key)
	}
	return keys
}

// python311 returns the path of a CPython 3.11 interpreter (the minor the locks target).
func python311(t testing.TB) string {
	t.Helper()
	py := testenv.RequireTool(t, "python3.11", "CPython 3.11 (Debian 12's python3, or the machine's pyenv): "+testenv.InstallHint)
	out, err := exec.Command(py, "-c", "import sys, venv, ensurepip; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("%s cannot create venvs with pip (install python3-venv: %s): %v", py, testenv.InstallHint, err)
	}
	return strings.TrimSpace(string(out))
}

// venvCacheDir is where built venvs are kept between runs: a venv cannot move, so its cache
// path is its path. The directory name carries the lock's and the plugin wheel's digests, so a
// new lock or plugin gets a new venv.
func venvCacheDir(t testing.TB, lk lock.Lock) string {
	t.Helper()
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(home, ".cache")
	}
	// The venv holds the plugin wheel too (its marker carries both digests): worktrees with
	// different plugins on one machine must not rebuild each other's venv.
	wheel, err := plugin.BuildWheel()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(base, "mlflow-aws", "e2e", "venv-mlflow-"+lk.MLflowVersion+"-"+lk.SHA256[:12]+"-"+wheel.SHA256[:12])
}

// stubCommands writes dnf, useradd, systemctl and amazon-cloudwatch-agent-ctl stand-ins into a
// new directory (the only commands of the bootstrap that would change the test machine); each
// records its argv.
func stubCommands(t testing.TB) (dir, calls string) {
	t.Helper()
	dir = t.TempDir()
	calls = filepath.Join(dir, "calls")
	for _, name := range []string{"dnf", "useradd", "systemctl", filepath.Base(userdata.AgentCtl)} {
		script := "#!/bin/bash\nprintf '%s %s\\n' " + name + " \"$*\" >>" + strconv.Quote(calls) + "\n"
		if name == "systemctl" {
			script += "[[ \"$1\" != is-active ]]\n" // the service is not running yet
		}
		if err := testenv.WriteExecutable(filepath.Join(dir, name), []byte(script)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, calls
}

// caBundleServer serves caFile as the RDS CA bundle over HTTPS on 127.0.0.1 and returns its URL
// and a CURL_CA_BUNDLE that trusts the server.
func caBundleServer(t testing.TB, caFile string) (bundleURL, curlCA string) {
	t.Helper()
	bundle, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/global/global-bundle.pem" {
			http.NotFound(w, r)
			return
		}
		w.Write(bundle)
	}))
	t.Cleanup(srv.Close)
	curlCA = filepath.Join(t.TempDir(), "server-ca.pem")
	if err := os.WriteFile(curlCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/global/global-bundle.pem", curlCA
}

// venvMu serialises venv builds of this test binary; the cache is per lock, so two test
// binaries building the same venv at once would be a mistake of the caller.
var venvMu sync.Mutex

// bootstrap runs the document's real bootstrap (main) as root with only dnf, useradd and
// systemctl stubbed, the venv at its cache path, python3.11 of this machine, the CA bundle from
// caURL, and the lock downloaded from moto with the instance role's credentials. It returns the
// venv directory, the bootstrap's stderr and the stubs' calls.
func bootstrap(t testing.TB, d document, c *cloud, role []string, lk lock.Lock, caURL, curlCA, caDest string) (venv, log, calls string) {
	t.Helper()
	venvMu.Lock()
	defer venvMu.Unlock()
	dir := t.TempDir()
	script := filepath.Join(dir, "mlflow-bootstrap")
	if err := testenv.WriteExecutable(script, []byte(d[userdata.BootstrapPath])); err != nil {
		t.Fatal(err)
	}
	stubs, callsFile := stubCommands(t)
	venv = venvCacheDir(t, lk)
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		t.Fatal(err)
	}
	env := c.env(dir, role)
	env[0] = "PATH=" + stubs + string(os.PathListSeparator) + os.Getenv("PATH")
	// curl (the CA bundle download) trusts the test's HTTPS server through ~/.curlrc: the
	// CURL_CA_BUNDLE variable would also replace pip's trust store (requests reads it).
	if err := os.WriteFile(filepath.Join(dir, ".curlrc"), []byte("cacert = \""+curlCA+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "MLFLOW_VENV="+venv, "MLFLOW_PYTHON="+python311(t),
		"MLFLOW_RDS_CA_BUNDLE="+caDest, "MLFLOW_RDS_CA_BUNDLE_URL="+caURL, "MLFLOW_BOOTSTRAP_DONE_MARKER="+filepath.Join(dir, "done"),
		"MLFLOW_MEMINFO=/proc/meminfo", "MLFLOW_LOG_DIR="+filepath.Join(dir, "log"), "MLFLOW_AGENT_CTL="+filepath.Join(stubs, filepath.Base(userdata.AgentCtl)),
		// No spool volume on this machine (an empty device skips mount_spool); the spool tests
		// mount their own.
		"MLFLOW_SPOOL_DEVICE=")
	started := time.Now()
	stdout, stderr, err := testenv.Run(t, 20*time.Minute, env, "", "/bin/bash", script)
	if err != nil {
		t.Fatalf("bootstrap of MLflow %s failed: %v\n%s%s", lk.MLflowVersion, err, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		t.Fatalf("the bootstrap succeeded without its done marker")
	}
	b, _ := os.ReadFile(callsFile)
	t.Logf("bootstrap of MLflow %s: %s (venv %s)", lk.MLflowVersion, time.Since(started).Round(time.Second), venv)
	return venv, stderr, string(b)
}

// server is one run of the real launcher (which execs the real mlflow server).
type server struct {
	url    string
	cmd    *exec.Cmd
	logs   *testenv.LogBuffer
	exited chan error
}

// unitEnvironment returns the Environment= assignments of the document's mlflow.service.
func (d document) unitEnvironment() []string {
	var env []string
	for _, l := range strings.Split(d[userdata.UnitPath], "\n") {
		if v, ok := strings.CutPrefix(l, "Environment="); ok {
			env = append(env, v)
		}
	}
	return env
}

// writeLauncher writes the document's launcher and its database helper (mode 0755) into a new
// test directory dir and returns their paths.
func writeLauncher(t testing.TB, d document) (dir, launcher, helper string) {
	t.Helper()
	dir = t.TempDir()
	launcher = filepath.Join(dir, "mlflow-launch")
	helper = filepath.Join(dir, "mlflow-db-state")
	for p, content := range map[string]string{launcher: d[userdata.LauncherPath], helper: d[userdata.DBStateHelperPath]} {
		if err := testenv.WriteExecutable(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, launcher, helper
}

// launch runs the document's launcher as the unit does (umask 077, the unit's Environment= and
// the env file's environment) with the test's overrides (TMPDIR a test directory): the backend store URI on 127.0.0.1 with the test CA, MLFLOW_HOST
// 127.0.0.1 and a free port, the venv, the helper's path, the IMDS stub, the CA bundle path, the
// instance role's credentials and moto's endpoint. It waits until /health answers 200 and stops
// the whole process group in t.Cleanup (and on failure).
func launch(t testing.TB, d document, c *cloud, role []string, venv string, overrides map[string]string) *server {
	t.Helper()
	dir, launcher, helper := writeLauncher(t, d)
	spool := filepath.Join(dir, "tmp")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	env := c.env(dir, role)
	fileEnv := d.env(t)
	// The server listens on a free loopback port instead of 5000, so the client's Host header is
	// 127.0.0.1:<port>: that loopback endpoint joins the document's allowed hosts, which stay.
	fileEnv[userdata.EnvAllowedHosts] += fmt.Sprintf(",127.0.0.1:%d,localhost:%d", port, port)
	for k, v := range fileEnv {
		env = append(env, k+"="+v)
	}
	env = append(env, d.unitEnvironment()...)
	runtime := filepath.Join(dir, "run")
	if err := os.Mkdir(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	// RUNTIME_DIRECTORY is what systemd sets for the unit's RuntimeDirectory=mlflow.
	env = append(env, "TMPDIR="+spool, "RUNTIME_DIRECTORY="+runtime, "MLFLOW_VENV="+venv, "MLFLOW_DB_STATE_HELPER="+helper,
		userdata.EnvHost+"=127.0.0.1", userdata.EnvPort+"="+strconv.Itoa(port))
	for k, v := range overrides {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("/bin/bash", "-c", `umask 077; exec "$0"`, launcher)
	cmd.Env = env
	return startServer(t, cmd, port, "the launcher")
}

// startServer starts cmd (an MLflow server listening on 127.0.0.1:port) in its own process
// group, stops the group in t.Cleanup (also when the test fails), and waits until /health
// answers 200, failing the test when cmd exits first or after 3 minutes.
func startServer(t testing.TB, cmd *exec.Cmd, port int, what string) *server {
	t.Helper()
	s := &server{url: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, logs: &testenv.LogBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if resp, err := http.Get(s.url + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("%s exited before /health answered: %v\n%s", what, err, s.logs.Tail(8000))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /health did not answer 200 within 3 minutes\n%s", what, s.logs.Tail(8000))
		}
	}
}

// stop ends the server's process group (SIGTERM, then SIGKILL after 30 s); safe to call twice.
func (s *server) stop(t testing.TB) {
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		err := <-s.exited
		s.exited <- err
	}
	// uvicorn workers are in the same group; make sure none is left.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
}

// clientEnv is a data scientist's environment: the tracking URI and nothing from AWS (proxied
// artifacts need no credentials on the client).
//
// One client default is turned off: MLflow >= 3.17 servers advertise presigned multipart
// transfers, and a client of that version then downloads (and uploads files over
// MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE) straight from S3 through presigned URLs. moto 5.2.5
// does not serve presigned URLs (500 with IAM enforced, 404 without), so the client here keeps
// every transfer on the server; requirePresignedURL checks what the server hands out instead.
func clientEnv(t testing.TB, s *server, extra ...string) []string {
	return append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "LC_ALL=C.UTF-8", "MLFLOW_TRACKING_URI=" + s.url,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD=false", "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=false",
		"TMPDIR=" + t.TempDir()}, extra...)
}

// runClient runs testdata/client.py PHASE with the venv's python (extra: more environment, e.g.
// the credentials) and fails with its output.
func runClient(t testing.TB, venv string, s *server, phase, stateFile string, extra ...string) map[string]any {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "client.py"))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	stdout, stderr, err := testenv.Run(t, 15*time.Minute, clientEnv(t, s, extra...), "", filepath.Join(venv, "bin", "python"), script, phase, stateFile)
	if err != nil {
		t.Fatalf("client phase %s failed: %v\n%s%s\nserver log (tail):\n%s", phase, err, stdout, stderr, s.logs.Tail(6000))
	}
	t.Logf("client phase %s: %s: %s", phase, time.Since(started).Round(100*time.Millisecond), strings.TrimSpace(stdout))
	var state map[string]any
	b, _ := os.ReadFile(stateFile)
	if err := json.Unmarshal(b, &state); err != nil {
		t.Fatalf("client state: %v", err)
	}
	return state
}

// password draws an RDS-legal password holding every special character of the generator's
// alphabet (components.PasswordSpecialCharacters) plus random ones.
func password() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	all := alnum + components.PasswordSpecialCharacters
	b := []byte("Aa0" + components.PasswordSpecialCharacters)
	for range 12 {
		b = append(b, all[rand.IntN(len(all))])
	}
	return string(b)
}

// testbed is what every real-server test stands up for one stack: PostgreSQL 15 with TLS (a
// test CA, the owner with a password from the generator's alphabet, CREATEDB as RDS's master
// user has it: the plugin creates the auth database), moto with the stack's bucket and
// password parameter, the RDS CA bundle served over HTTPS (caURL, curlCA) for the bootstrap to
// install at caDest, the IMDSv2 stub answering privateIP, and the launcher's test overrides
// (the backend store URI on 127.0.0.1 with the test CA, the IMDS and CA bundle locations).
type testbed struct {
	pg                    *testenv.Postgres
	password              string
	cloud                 *cloud
	caURL, curlCA, caDest string
	imds                  *testenv.IMDSStub
	overrides             map[string]string
}

// startTestbed starts a testbed for params (its DatabaseUser, DatabaseName, Region,
// ArtifactsURI and PasswordParameterName); every server it starts is stopped by t's cleanup.
func startTestbed(t testing.TB, params userdata.Params, privateIP string) *testbed {
	t.Helper()
	ca := testenv.NewCA(t, "e2e RDS CA")
	cert := ca.Issue(t, "localhost", "DNS:localhost,IP:127.0.0.1")
	tb := &testbed{pg: testenv.StartPostgres(t, &cert), password: password()}
	tb.pg.CreateOwner(t, params.DatabaseUser, params.DatabaseName, tb.password)
	tb.pg.SQL(t, "postgres", "ALTER ROLE "+params.DatabaseUser+" CREATEDB;\n")
	bucket := strings.SplitN(strings.TrimPrefix(params.ArtifactsURI, "s3://"), "/", 2)[0]
	tb.cloud = startCloud(t, params.Region, bucket, params.PasswordParameterName, tb.password)
	tb.caURL, tb.curlCA = caBundleServer(t, ca.Cert)
	tb.caDest = filepath.Join(t.TempDir(), "rds-ca-bundle.pem")
	tb.imds = testenv.StartIMDSStub(t, privateIP, 0)
	tb.overrides = map[string]string{
		userdata.EnvBackendStoreURI: tb.backendStoreURI(params),
		"MLFLOW_IMDS_URL":           tb.imds.URL,
		"MLFLOW_RDS_CA_BUNDLE":      tb.caDest,
	}
	return tb
}

// backendStoreURI is params' backend store URI pointed at the testbed's PostgreSQL.
func (tb *testbed) backendStoreURI(params userdata.Params) string {
	q := params
	q.BackendStoreHost, q.BackendStorePort = "127.0.0.1", tb.pg.Port
	return userdata.BackendStoreURIWithRootCert(q, tb.caDest)
}

// withOverrides returns the testbed's overrides plus extra (extra wins).
func (tb *testbed) withOverrides(extra map[string]string) map[string]string {
	out := maps.Clone(tb.overrides)
	maps.Copy(out, extra)
	return out
}
