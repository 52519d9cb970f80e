package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// oldestRelease is the oldest MLflow release the program accepts; the test starts on it and
// upgrades to the dev stack's (the default) release.
const oldestRelease = "3.5.0"

// EnvExtraClient names a Python file the test runs as a further client of the same server (see
// TestRealMLflowEndToEnd); empty means none.
const EnvExtraClient = "MLFLOW_E2E_EXTRA_CLIENT"

// TestRealMLflowEndToEnd launches the real MLflow server from the dev stack's rendered user data
// (with authentication on: the admin, two users and one promoter, their passwords and the Flask
// secret key SecureStrings in moto) and uses it with the real MLflow client of the same version:
//
//   - Each venv is built by the document's own bootstrap (only dnf, useradd and systemctl are
//     stubbed): python3.11, the hashed lock and the mlflow-aws-auth wheel downloaded from moto
//     with the instance role's credentials and checked against their SHA-256, pip
//     --require-hashes. Venvs are cached under
//     ~/.cache/mlflow-aws/e2e by lock digest; a cached one is reused by the bootstrap itself
//     (its marker holds the lock's digest).
//   - PostgreSQL 15 with TLS; the launcher's URI has sslmode=verify-full against the test CA,
//     which the bootstrap downloaded over HTTPS; the password (every special character of the
//     generator's alphabet) is a SecureString in moto that the launcher reads with the role.
//   - moto for S3 and SSM with IAM enforced: the server holds only the role's session
//     credentials, with the program's own policy (components.TrackingServerPolicy).
//   - the IMDSv2 stub on 127.0.0.1; the real launcher; the real `mlflow server` bound to
//     127.0.0.1 (MLFLOW_HOST, an env file key, overridden).
//
// Steps: (7) start on 3.5.0 with an empty database (the server creates the schema), seed data
// with the 3.5.0 client, relaunch on the default release: the launcher runs `mlflow db upgrade`
// and the old runs, artifacts and models read back; (1-4) health, version, UI, experiments, runs,
// 1,000 metric points by log_batch, search, artifacts of every size (a 200 MiB one, SHA-256
// compared), pyfunc models registered with aliases set and moved; every object is under
// s3://<bucket>/artifacts/ (besides the program's lock objects under bootstrap/); (5) every
// allowed Host answers and evil.example gets 403; an allowed Origin's POST succeeds, another's is
// refused; (6) stop and relaunch: the launcher takes the db upgrade path and everything is there.
// Authentication (issue 9): /health needs no credentials, the API without them, with a wrong
// password or as MLflow's default admin/password1234 gets 401, on 3.5.0 and after the upgrade
// (the auth database migrated); server/tests/extra_client.py's scenarios (the default permission
// on another user's experiment, staging allowed and production refused for a user, a promoter
// refused outside staging and recorded inside it, the legacy stage rule) pass before and after
// the restart; no password reaches the server's output.
//
// (8) The extra-client hook: when MLFLOW_E2E_EXTRA_CLIENT names a Python file (checked before
// anything starts; a relative path is taken from the directory go test was started in), it runs
// after step 6 with the client's interpreter (the server venv's python: MLflow and boto3, by
// absolute path; PATH is /usr/bin:/bin) and the client's environment: MLFLOW_TRACKING_URI,
// MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD and _UPLOAD set to false (see clientEnv), plus
// MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD of the MLflow admin, MLFLOW_E2E_USERS (a JSON
// object of every user's name and password), MLFLOW_E2E_PROMOTERS (a JSON list),
// MLFLOW_E2E_DEFAULT_PERMISSION, MLFLOW_E2E_S3_ENDPOINT_URL (moto: pass it as boto3's
// endpoint_url, nothing else points boto3 there), MLFLOW_E2E_BUCKET, AWS_DEFAULT_REGION, and
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of moto's admin user (allowed everything). A non-zero exit fails the test and prints its output.
// A cold run builds two venvs, so give go test a timeout above its default 10 minutes:
//
//	MLFLOW_E2E_EXTRA_CLIENT=$PWD/my_scenario.py go test -count=1 -timeout 40m -run TestRealMLflowEndToEnd ./e2e/
//
// Every server listens on 127.0.0.1 only and is stopped by the test, also on failure.
func TestRealMLflowEndToEnd(t *testing.T) {
	extra := os.Getenv(EnvExtraClient)
	if extra != "" {
		abs, err := filepath.Abs(filepath.Join(os.Getenv("PWD"), extra))
		if filepath.IsAbs(extra) {
			abs, err = extra, nil
		}
		if _, statErr := os.Stat(abs); err != nil || statErr != nil {
			t.Fatalf("%s=%s: no such file (%v %v)", EnvExtraClient, extra, err, statErr)
		}
		extra = abs
	}
	_, _, params := devDocuments(t, oldestRelease)
	// Authentication on, with two users and one promoter (the dev stack's own settings, when it
	// has them, with the users added).
	auth := userdata.AuthParams{AdminUsername: "mlflow-admin", DefaultPermission: "READ", ProductionAlias: "production",
		StagingAlias: "staging", ParameterPath: "/mlflow-aws/dev/auth", SecretKeyParameterName: "/mlflow-aws/dev/flask-secret-key"}
	if params.Auth != nil {
		auth = *params.Auth
	}
	auth.Users, auth.Promoters = []string{"alice", "bob"}, []string{"bob"}
	params.Auth = &auth
	dev := render(t, params)
	oldParams := params
	oldParams.MLflowVersion = oldestRelease
	old := render(t, oldParams)
	env := dev.env(t)
	t.Logf("dev stack: MLflow %s, artifacts %s, parameter %s, admin %s, users %q (promoters %q)", params.MLflowVersion,
		params.ArtifactsURI, params.PasswordParameterName, auth.AdminUsername, auth.Users, auth.Promoters)

	// PostgreSQL 15 with TLS, the owner's password drawn from the generator's alphabet; moto.
	tb := startTestbed(t, params, "172.31.16.10")
	pw, cloud := tb.password, tb.cloud
	caURL, curlCA, caDest := tb.caURL, tb.curlCA, tb.caDest
	secrets := cloud.putAuthSecrets(t, &auth)
	// The stack's DB instance, for the launcher's pre-upgrade snapshot (e2e/upgrade_test.go).
	cloud.createDBInstance(t, dbInstanceIdentifier(params))
	oldLock, oldKeys := cloud.putBootstrapObjects(t, oldestRelease)
	newLock, newKeys := cloud.putBootstrapObjects(t, params.MLflowVersion)
	admin := []string{"MLFLOW_TRACKING_USERNAME=" + auth.AdminUsername, "MLFLOW_TRACKING_PASSWORD=" + secrets.admin}
	usersJSON, _ := json.Marshal(secrets.users)
	promotersJSON, _ := json.Marshal(auth.Promoters)
	authEnv := append([]string{"MLFLOW_E2E_USERS=" + string(usersJSON), "MLFLOW_E2E_PROMOTERS=" + string(promotersJSON),
		"MLFLOW_E2E_DEFAULT_PERMISSION=" + auth.DefaultPermission}, admin...)

	overrides := tb.withOverrides(map[string]string{
		// The endpoint here is 127.0.0.1: the identifier the launcher derives from the RDS name.
		"MLFLOW_DB_INSTANCE_IDENTIFIER": dbInstanceIdentifier(params),
	})

	// The venvs, each by its document's bootstrap with the role of that release's instance.
	oldRole := cloud.instanceRole(t, oldKeys)
	oldVenv, _, calls := bootstrap(t, old, cloud, oldRole, oldLock, caURL, curlCA, caDest)
	for _, want := range []string{"dnf install -y python3.11 python3.11-pip awscli-2", "systemctl enable " + userdata.UnitName,
		"systemctl start --no-block " + userdata.UnitName,
		// The CloudWatch agent: installed, its configuration loaded, started with the journal copy.
		"dnf install -y amazon-cloudwatch-agent logrotate", "systemctl start --no-block " + userdata.LogExportUnitName,
		"amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -c file:" + userdata.AgentConfigPath,
		"systemctl start --no-block " + userdata.AgentUnitName} {
		if !strings.Contains(calls, want) {
			t.Errorf("the bootstrap did not run %q; it ran:\n%s", want, calls)
		}
	}
	if b, err := os.ReadFile(caDest); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Fatalf("the bootstrap did not install the CA bundle at %s: %v", caDest, err)
	}
	newRole := cloud.instanceRole(t, newKeys)
	newVenv, _, _ := bootstrap(t, dev, cloud, newRole, newLock, caURL, curlCA, caDest)
	for venv, want := range map[string]string{oldVenv: oldestRelease, newVenv: params.MLflowVersion} {
		out, err := exec.Command(filepath.Join(venv, "bin", "mlflow"), "--version").CombinedOutput()
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "version "+want) {
			t.Fatalf("%s: mlflow --version = %q (%v), want %s", venv, out, err, want)
		}
	}
	state := filepath.Join(t.TempDir(), "client-state.json")

	// (7) The oldest release on an empty database, then the upgrade.
	s := launch(t, old, cloud, oldRole, oldVenv, overrides)
	if !strings.Contains(s.logs.Tail(1<<20), "database is empty: mlflow server creates the schema") {
		t.Errorf("first start on an empty database: the launcher did not take the empty path\n%s", s.logs.Tail(4000))
	}
	requireAuth(t, s, auth.AdminUsername, secrets.admin)
	runClient(t, oldVenv, s, "seed", state, admin...)
	s.stop(t)

	s = launch(t, dev, cloud, newRole, newVenv, overrides)
	requireUpgradePath(t, s)
	requireAuth(t, s, auth.AdminUsername, secrets.admin)
	runClient(t, newVenv, s, "verify-seed", state, admin...)

	// (1-4) A data scientist's session on the default release.
	st := runClient(t, newVenv, s, "main", state, admin...)
	t.Logf("200 MiB artifact through the server: upload %vs, download %vs", st["big_upload_seconds"], st["big_download_seconds"])
	requireArtifactsOnlyUnderPrefix(t, cloud, st)
	requirePresignedURL(t, s, cloud, st, auth.AdminUsername, secrets.admin)

	// (5) Host header and CORS.
	// The launcher adds the private IPv4 from IMDS, bare and with the port it listens on.
	_, port, _ := strings.Cut(strings.TrimPrefix(s.url, "http://"), ":")
	allowed := append(strings.Split(env[userdata.EnvAllowedHosts], ","), "172.31.16.10", "172.31.16.10:"+port)
	requireHostAndOriginChecks(t, s, allowed, auth.AdminUsername, secrets.admin)
	// Who may do what: logins, default permission, the promotion rule (server/tests/extra_client.py).
	runAuthScenarios(t, newVenv, s, authEnv)

	// (6) Stop and relaunch: the data is still there, and the launcher runs db upgrade.
	s.stop(t)
	s = launch(t, dev, cloud, newRole, newVenv, overrides)
	requireUpgradePath(t, s)
	requireAuth(t, s, auth.AdminUsername, secrets.admin)
	runClient(t, newVenv, s, "verify-main", state, admin...)
	runAuthScenarios(t, newVenv, s, authEnv) // users, permissions and the secret key survive
	logs := s.logs.Tail(1 << 22)
	for what, secret := range map[string]string{"the database password": pw, "the admin password": secrets.admin,
		"alice's password": secrets.users["alice"], "bob's password": secrets.users["bob"]} {
		if strings.Contains(logs, secret) {
			t.Errorf("the server's output (the journal) contains %s", what)
		}
	}

	// (8) Further scenarios against the same server.
	if extra != "" {
		runExtraClient(t, extra, newVenv, s, cloud, authEnv)
	}
}

// requireUpgradePath: the launcher saw an initialised database and brought its schema to this
// release (upgraded after a snapshot, or already current: e2e/upgrade_test.go tells them apart).
func requireUpgradePath(t *testing.T, s *server) {
	t.Helper()
	if !strings.Contains(s.logs.Tail(1<<20), "database holds MLflow tables: schema ") {
		t.Errorf("the launcher did not take the db upgrade path on an initialised database\n%s", s.logs.Tail(4000))
	}
}

// requireArtifactsOnlyUnderPrefix: the run's artifacts are mlflow-artifacts:/ URIs (proxied,
// C4) and every object in the bucket is under artifacts/, besides the program's lock objects.
func requireArtifactsOnlyUnderPrefix(t *testing.T, c *cloud, state map[string]any) {
	t.Helper()
	if uri, _ := state["artifact_uri"].(string); !strings.HasPrefix(uri, "mlflow-artifacts:/") {
		t.Errorf("C4: the run's artifact URI is %q, want mlflow-artifacts:/... (proxied)", uri)
	}
	keys := c.objectKeys(t)
	var artifacts int
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, components.ArtifactsPrefix+"/"):
			artifacts++
		case strings.HasPrefix(k, lock.ObjectPrefix+"/"):
		default:
			t.Errorf("object %q is outside s3://%s/%s/", k, c.bucket, components.ArtifactsPrefix)
		}
	}
	if artifacts == 0 || !slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, "/big/big.bin") }) {
		t.Errorf("the bucket holds %d artifact objects and no big/big.bin: %q", artifacts, keys)
	}
}

// requirePresignedURL: what the server hands a client for a direct download of the big artifact
// is a URL of that object under the artifacts prefix, signed with the instance role's session
// (a temporary ASIA key and its token), valid for MLflow's 300 s.
func requirePresignedURL(t *testing.T, s *server, c *cloud, state map[string]any, user, password string) {
	t.Helper()
	path := fmt.Sprintf("%v/%v/artifacts/big/big.bin", state["main_experiment_id"], state["main_run_id"])
	req, _ := http.NewRequest(http.MethodGet, s.url+"/api/2.0/mlflow-artifacts/presigned/"+path, nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		URL      string `json:"url"`
		FileSize int64  `json:"file_size"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("presigned download of %s: %d %v", path, resp.StatusCode, err)
	}
	u, err := url.Parse(body.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	wantPath := "/" + c.bucket + "/" + components.ArtifactsPrefix + "/" + path
	if u.Path != wantPath || !strings.HasPrefix(q.Get("X-Amz-Credential"), "ASIA") || q.Get("X-Amz-Security-Token") == "" ||
		q.Get("X-Amz-Expires") != "300" || float64(body.FileSize) != state["big_bytes"] {
		t.Errorf("presigned download URL %s (size %d): want path %s signed by the role's session, 300 s", body.URL, body.FileSize, wantPath)
	}
}

// requireHostAndOriginChecks (C7): every allowed Host answers; evil.example gets 403. A POST
// with an allowed Origin succeeds; with another Origin it is refused.
func requireHostAndOriginChecks(t *testing.T, s *server, allowed []string, user, password string) {
	t.Helper()
	get := func(host string) int {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default", nil)
		req.Host = host
		req.SetBasicAuth(user, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET with Host %s: %v", host, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range allowed {
		if code := get(h); code != http.StatusOK {
			t.Errorf("C7: Host %q got %d, want 200", h, code)
		}
	}
	if code := get("evil.example"); code != http.StatusForbidden {
		t.Errorf("Host evil.example got %d, want 403", code)
	}
	post := func(origin, name string) int {
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/2.0/mlflow/experiments/create", strings.NewReader(`{"name":"`+name+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		req.SetBasicAuth(user, password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST with Origin %s: %v", origin, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("http://localhost:5000", "cors-allowed-"+time.Now().Format("150405.000")); code != http.StatusOK {
		t.Errorf("POST from the allowed origin http://localhost:5000 got %d, want 200", code)
	}
	if code := post("http://evil.example", "cors-refused"); code != http.StatusForbidden {
		t.Errorf("POST from origin http://evil.example got %d, want 403", code)
	}
}

// requireAuth: /health answers without credentials; an API call without credentials, with a
// wrong password, or as MLflow's default admin gets 401; the admin's SSM password works.
func requireAuth(t *testing.T, s *server, admin, password string) {
	t.Helper()
	get := func(path, user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const api = "/api/2.0/mlflow/experiments/search?max_results=1"
	for _, c := range []struct {
		what, path, user, pass string
		want                   int
	}{
		{"/health without credentials", "/health", "", "", http.StatusOK},
		{"the API without credentials", api, "", "", http.StatusUnauthorized},
		{"the admin with a wrong password", api, admin, password + "x", http.StatusUnauthorized},
		{"MLflow's default admin", api, "admin", "password1234", http.StatusUnauthorized},
		{"the admin with its SSM password", api, admin, password, http.StatusOK},
	} {
		if got := get(c.path, c.user, c.pass); got != c.want {
			t.Errorf("%s: %d, want %d", c.what, got, c.want)
		}
	}
}

// runAuthScenarios runs server/tests/extra_client.py (issue 9's scenarios: logins, the default
// permission on another user's experiment, staging allowed and production refused for a user, a
// promoter refused outside staging and recorded inside it, the legacy stage rule) against s.
func runAuthScenarios(t *testing.T, venv string, s *server, authEnv []string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "server", "tests", "extra_client.py")
	stdout, stderr, err := testenv.Run(t, 10*time.Minute, clientEnv(t, s, authEnv...), "", filepath.Join(venv, "bin", "python"), script)
	if err != nil {
		t.Fatalf("auth scenarios failed: %v\n%s%s\nserver log (tail):\n%s", err, stdout, stderr, s.logs.Tail(6000))
	}
	t.Logf("auth scenarios: %d checks passed", strings.Count("\n"+stdout, "\nok "))
}

// runExtraClient runs the extra client file (see TestRealMLflowEndToEnd).
func runExtraClient(t *testing.T, file, venv string, s *server, c *cloud, authEnv []string) {
	t.Helper()
	env := clientEnv(t, s, "MLFLOW_E2E_S3_ENDPOINT_URL="+c.endpoint, "MLFLOW_E2E_BUCKET="+c.bucket, "AWS_DEFAULT_REGION="+c.region)
	env = append(env, authEnv...)
	env = append(env, c.admin...)
	stdout, stderr, err := testenv.Run(t, 30*time.Minute, env, "", filepath.Join(venv, "bin", "python"), file)
	if err != nil {
		t.Fatalf("%s=%s failed: %v\nstdout:\n%s\nstderr:\n%s", EnvExtraClient, file, err, stdout, stderr)
	}
	t.Logf("extra client %s: ok\n%s", file, stdout)
}
