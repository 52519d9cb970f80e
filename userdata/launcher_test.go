package userdata

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	"github.com/mlflow-aws/mlflow-aws/server"
)

// awsEnv is the environment for the AWS CLI against moto: dummy keys, the endpoint, no user
// config. pyenv shims need PYENV_ROOT once HOME changes.
func awsEnv(endpoint, home, region string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "MLFLOW_") || strings.HasPrefix(k, "OMP_") || k == "PGPASSWORD" || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	if os.Getenv("PYENV_ROOT") == "" {
		if h, err := os.UserHomeDir(); err == nil {
			if _, err := os.Stat(filepath.Join(h, ".pyenv")); err == nil {
				env = append(env, "PYENV_ROOT="+filepath.Join(h, ".pyenv"))
			}
		}
	}
	return append(env, "HOME="+home, "AWS_ENDPOINT_URL="+endpoint, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_DEFAULT_REGION="+region, "AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true") // the AWS CLI must never look for the real IMDS
}

// EnvIMDSURL is the launcher's test-only override of the IMDS base URL (default
// http://169.254.169.254). Every simulated boot sets it to a 127.0.0.1 URL: tests never send
// traffic anywhere but loopback.
const EnvIMDSURL = "MLFLOW_IMDS_URL"

// stubPrivateIPv4 is what the IMDS stub answers for local-ipv4 unless told otherwise.
const stubPrivateIPv4 = "172.31.16.10"

// closedLoopbackURL is an http://127.0.0.1 URL nothing listens on (connection refused).
func closedLoopbackURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// requireLoopbackIMDS fails unless the MLFLOW_IMDS_URL the launcher will see (the last one in
// env) is an http URL on 127.0.0.1.
func requireLoopbackIMDS(t *testing.T, env []string) {
	t.Helper()
	got, set := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, EnvIMDSURL+"="); ok {
			got, set = v, true
		}
	}
	u, err := url.Parse(got)
	if !set || err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
		t.Fatalf("%s=%q (set: %v): a simulated boot must point the launcher at a 127.0.0.1 IMDS stub, never the real IMDS", EnvIMDSURL, got, set)
	}
}

// putSecureString creates (or overwrites) an SSM SecureString parameter in moto. The value goes
// through a JSON input file, so it is never parsed as a CLI option or a file:// reference.
func putSecureString(t *testing.T, endpoint, region, name, value string) {
	t.Helper()
	aws := requireTool(t, "aws", "awscli")
	dir := t.TempDir()
	in, _ := json.Marshal(map[string]any{"Name": name, "Value": value, "Type": "SecureString", "Overwrite": true})
	f := filepath.Join(dir, "in.json")
	if err := os.WriteFile(f, in, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := run(t, time.Minute, awsEnv(endpoint, dir, region), "", aws, "ssm", "put-parameter", "--cli-input-json", "file://"+f); err != nil {
		t.Fatalf("put SSM parameter %s in %s: %v\n%s%s", name, region, err, out, stderr)
	}
}

// bootRun is one simulated start of mlflow.service: the real launcher with the real env file,
// real AWS CLI against moto, and a stub venv.
type bootRun struct {
	// dbState is what the stub venv python ("mlflow-db-state prepare") prints: upgraded, current,
	// empty; or unreachable (exit 1), exit3, exit4, exit5 (the helper's refusals).
	dbState  string
	memKiB   int    // MemTotal in the fake meminfo
	cpus     int    // nproc (via OMP_NUM_THREADS, which GNU nproc honours)
	imdsURL  string // MLFLOW_IMDS_URL: required, an http://127.0.0.1 URL (an imdsStub or closedLoopbackURL)
	noBundle bool   // MLFLOW_RDS_CA_BUNDLE names a missing file (else a PEM in the scratch root)
	override map[string]string
}

// EnvRDSCABundle is the launcher's test-only override of the RDS CA bundle path (default
// RDSCABundlePath). Every simulated boot sets it to a file in its scratch root.
const EnvRDSCABundle = "MLFLOW_RDS_CA_BUNDLE"

type bootResult struct {
	root, stdout, stderr string
	err                  error
	mlflowArgv           [][]string          // one per mlflow invocation, in order
	mlflowEnv            []map[string]string // environment of each invocation
	pythonArgv           []string
	pythonEnv            map[string]string
	// With MLFLOW_AUTH=basic: the plugin bootstrap's argv and stdin (the SSM parameters under
	// the auth path, as the AWS CLI prints them), and the secret key and admin password put in
	// moto's SSM for this boot.
	authArgv                      []string
	authStdin                     string
	flaskSecretKey, adminPassword string
}

// Values the simulated boot puts in SSM for a document with MLFLOW_AUTH=basic.
const (
	simulatedFlaskSecretKey = "FlaskKey0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
	simulatedAdminPassword  = "AdminPw-_.,:;=+%~^0123456789"
)

// simulateBoot runs the launcher from d in a scratch root as systemd would (UMask=0077,
// environment from the env file) and returns what the stub venv recorded.
func simulateBoot(t *testing.T, endpoint string, env map[string]string, launcher, helper string, r bootRun) bootResult {
	t.Helper()
	root := t.TempDir()
	rec := mkdir(t, root, "rec")
	venv := mkdir(t, root, "venv")
	mkdir(t, root, "venv/bin")
	home := mkdir(t, root, "home")
	write := func(rel, content string, mode os.FileMode) string {
		p := filepath.Join(root, rel)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	launcherPath := write("mlflow-launch", launcher, 0o755)
	helperPath := write("mlflow-db-state", helper, 0o755)
	meminfo := write("meminfo", fmt.Sprintf("MemTotal:       %d kB\nMemFree:         123456 kB\nMemAvailable:    234567 kB\n", r.memKiB), 0o644)
	stateFile := write("db-state", r.dbState+"\n", 0o644)
	bundle := filepath.Join(root, "rds-ca-bundle.pem")
	if !r.noBundle {
		write("rds-ca-bundle.pem", "-----BEGIN CERTIFICATE-----\nTUlJQg==\n-----END CERTIFICATE-----\n", 0o644)
	}
	write("venv/bin/python", fmt.Sprintf(`#!/bin/bash
set -euo pipefail
umask 077
printf '%%s\n' "$@" > %[1]q/python.argv
env > %[1]q/python.env
state="$(cat %[2]q)"
if [[ "$state" == unreachable ]]; then
  echo "mlflow-db-state: cannot query the backend store: connection refused" >&2
  exit 1
fi
if [[ "$state" == exit* ]]; then
  echo "mlflow-db-state: refusing (stub)" >&2
  echo x >> %[1]q/python.refusals
  exit "${state#exit}"
fi
printf '%%s\n' "$state"
`, rec, stateFile), 0o755)
	write("venv/bin/mlflow", fmt.Sprintf(`#!/bin/bash
set -euo pipefail
umask 077
n=$(( $(cat %[1]q/count 2>/dev/null || echo 0) + 1 ))
echo "$n" > %[1]q/count
printf '%%s\n' "$@" > %[1]q/mlflow.$n.argv
env > %[1]q/mlflow.$n.env
`, rec), 0o755)

	procEnv := awsEnv(endpoint, home, env[EnvAWSDefaultRegion])
	for k, v := range env {
		procEnv = append(procEnv, k+"="+v)
	}
	procEnv = append(procEnv, "MLFLOW_VENV="+venv, "MLFLOW_DB_STATE_HELPER="+helperPath, "MLFLOW_MEMINFO="+meminfo,
		"MLFLOW_DB_WAIT_ATTEMPTS=3", "MLFLOW_DB_WAIT_SECONDS=0", "OMP_NUM_THREADS="+strconv.Itoa(r.cpus), "LC_ALL=C",
		EnvIMDSURL+"="+r.imdsURL, EnvRDSCABundle+"="+bundle)
	for k, v := range r.override {
		procEnv = append(procEnv, k+"="+v)
	}
	res := bootResult{root: root}
	if env[EnvAuth] == AuthBasic {
		// What the unit and the stack provide with authentication on: the runtime directory
		// (RuntimeDirectory=mlflow), the Flask secret key and the admin's password in SSM, and
		// the plugin's bootstrap command in the venv (a stub recording what it is given).
		runtimeDir := mkdir(t, root, "run")
		procEnv = append(procEnv, "RUNTIME_DIRECTORY="+runtimeDir)
		res.flaskSecretKey, res.adminPassword = simulatedFlaskSecretKey, simulatedAdminPassword
		putSecureString(t, endpoint, env[EnvAWSDefaultRegion], env[EnvFlaskSecretKeyParameter], res.flaskSecretKey)
		putSecureString(t, endpoint, env[EnvAWSDefaultRegion], env[EnvAuthParameterPath]+"/admin-password", res.adminPassword)
		write("venv/bin/"+server.BootstrapCommand, fmt.Sprintf(`#!/bin/bash
set -euo pipefail
umask 077
printf '%%s\n' "$@" > %[1]q/auth.argv
cat > %[1]q/auth.stdin
`, rec), 0o755)
	}
	requireLoopbackIMDS(t, procEnv)
	res.stdout, res.stderr, res.err = run(t, 2*time.Minute, procEnv, "", "/bin/bash", "-c", `umask 077; exec "$0"`, launcherPath)

	readLines := func(p string) []string {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	readEnv := func(p string) map[string]string {
		m := map[string]string{}
		for _, l := range readLines(p) {
			k, v, _ := strings.Cut(l, "=")
			m[k] = v
		}
		return m
	}
	for n := 1; ; n++ {
		argv := filepath.Join(rec, fmt.Sprintf("mlflow.%d.argv", n))
		if _, err := os.Stat(argv); err != nil {
			break
		}
		res.mlflowArgv = append(res.mlflowArgv, readLines(argv))
		res.mlflowEnv = append(res.mlflowEnv, readEnv(filepath.Join(rec, fmt.Sprintf("mlflow.%d.env", n))))
	}
	res.pythonArgv = readLines(filepath.Join(rec, "python.argv"))
	res.pythonEnv = readEnv(filepath.Join(rec, "python.env"))
	res.authArgv = readLines(filepath.Join(rec, "auth.argv"))
	if b, err := os.ReadFile(filepath.Join(rec, "auth.stdin")); err == nil {
		res.authStdin = string(b)
	}
	return res
}

// assertAuthLaunch: with MLFLOW_AUTH=basic the plugin's bootstrap ran with the auth path and
// got the admin's password on stdin (from SSM, not argv), the server got the Flask secret key
// and the auth config through its environment only, and neither secret is in an argv or the
// launcher's output; with MLFLOW_AUTH=none nothing of this happened.
func assertAuthLaunch(t *testing.T, name string, env map[string]string, res bootResult) {
	t.Helper()
	if len(res.mlflowEnv) == 0 {
		return
	}
	serverEnv := res.mlflowEnv[len(res.mlflowEnv)-1]
	if env[EnvAuth] != AuthBasic {
		if res.authArgv != nil || serverEnv["MLFLOW_FLASK_SERVER_SECRET_KEY"] != "" || serverEnv["MLFLOW_AUTH_CONFIG_PATH"] != "" {
			t.Errorf("%s: MLFLOW_AUTH=%s but the auth bootstrap ran or the server got auth settings", name, env[EnvAuth])
		}
		return
	}
	if !slices.Equal(res.authArgv, []string{"bootstrap", "--parameter-path", env[EnvAuthParameterPath]}) {
		t.Errorf("%s: auth bootstrap argv %q", name, res.authArgv)
	}
	if !strings.Contains(res.authStdin, res.adminPassword) || !strings.Contains(res.authStdin, env[EnvAuthParameterPath]+"/admin-password") {
		t.Errorf("%s: the auth bootstrap did not get the admin's password parameter on stdin", name)
	}
	if serverEnv["MLFLOW_FLASK_SERVER_SECRET_KEY"] != res.flaskSecretKey {
		t.Errorf("%s: the server's MLFLOW_FLASK_SERVER_SECRET_KEY is not the SSM secret key", name)
	}
	if cfg := serverEnv["MLFLOW_AUTH_CONFIG_PATH"]; !strings.HasPrefix(cfg, filepath.Join(res.root, "run")+"/") {
		t.Errorf("%s: MLFLOW_AUTH_CONFIG_PATH=%q is not in the runtime directory", name, cfg)
	}
	for _, secret := range []string{res.flaskSecretKey, res.adminPassword} {
		for _, argv := range append(slices.Clone(res.mlflowArgv), res.authArgv) {
			if slices.ContainsFunc(argv, func(a string) bool { return strings.Contains(a, secret) }) {
				t.Errorf("%s: a secret is in argv %q", name, argv[0])
			}
		}
		if strings.Contains(res.stdout+res.stderr, secret) {
			t.Errorf("%s: the launcher printed a secret", name)
		}
	}
}

// assertPasswordContained: the password is in no argv, not in the launcher's output (the
// journal), and in no file of the scratch root unless that file is mode 0600.
func assertPasswordContained(t *testing.T, name, password string, res bootResult) {
	t.Helper()
	for i, argv := range res.mlflowArgv {
		for _, a := range argv {
			if strings.Contains(a, password) {
				t.Errorf("%s: mlflow invocation %d (%q) has the password in argv", name, i+1, argv[0])
			}
		}
	}
	for _, a := range res.pythonArgv {
		if strings.Contains(a, password) {
			t.Errorf("%s: the db-state helper got the password in argv", name)
		}
	}
	if strings.Contains(res.stdout+res.stderr, password) {
		t.Errorf("%s: the launcher printed the password (it would land in the journal)", name)
	}
	err := filepath.WalkDir(res.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), password) {
			info, err := e.Info()
			if err != nil {
				return err
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s contains the password with mode %v, want 0600", name, p, info.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// withPrivateIP is the --allowed-hosts the launcher passes when IMDS answers ip: the configured
// hosts, then "<ip>,<ip>:<port>".
func withPrivateIP(env map[string]string, ip string) string {
	return env[EnvAllowedHosts] + "," + ip + "," + ip + ":" + env[EnvPort]
}

// corsOrigins is the --cors-allowed-origins the launcher derives from an --allowed-hosts value
// (written here independently of the launcher's bash): "host:port" -> http://host:port, plus
// https://host for port 443 and http://host for port 80; a bare "host" -> http://host and
// https://host; duplicates dropped, first occurrence kept.
func corsOrigins(allowedHosts string) string {
	var out []string
	add := func(origins ...string) {
		for _, o := range origins {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	for _, h := range strings.Split(allowedHosts, ",") {
		host, port, hasPort := strings.Cut(h, ":")
		switch {
		case !hasPort:
			add("http://"+h, "https://"+h)
		case port == "443":
			add("http://"+h, "https://"+host)
		case port == "80":
			add("http://"+h, "http://"+host)
		default:
			add("http://" + h)
		}
	}
	return strings.Join(out, ",")
}

// expectedServerArgv is the exact `mlflow server` argv for an env file, worker count and
// --allowed-hosts value (--cors-allowed-origins derived from it by corsOrigins).
func expectedServerArgv(env map[string]string, workers int, allowedHosts string) []string {
	argv := []string{"server", "--backend-store-uri", env[EnvBackendStoreURI], "--host", env[EnvHost], "--port", env[EnvPort],
		"--workers", strconv.Itoa(workers), "--allowed-hosts", allowedHosts, "--cors-allowed-origins", corsOrigins(allowedHosts)}
	if env[EnvAuth] == AuthBasic {
		argv = append(argv, "--app-name", server.AppName)
	}
	if env[EnvArtifactAccess] == ArtifactAccessProxied {
		return append(argv, "--serve-artifacts", "--artifacts-destination", env[EnvArtifactsURI])
	}
	return append(argv, "--no-serve-artifacts", "--default-artifact-root", env[EnvArtifactsURI])
}

// TestLauncherBootSimulation runs the real launcher of every document against moto's SSM with
// a stub venv and checks: the password reaches the server (and db upgrade) only through
// PGPASSWORD (C2); `db upgrade` runs before `server` on an initialised database and is skipped on
// an empty one (C3); proxied mode never passes --default-artifact-root (C4); the server's
// environment has AWS_DEFAULT_REGION (C6); --allowed-hosts is what was configured followed by
// the private IPv4 an IMDSv2 stub on 127.0.0.1 answers, with and without the port (C7), and
// exactly what was configured when IMDS is absent, refuses or answers garbage; workers are
// sized from meminfo and nproc; an unreachable database or unreadable parameter exits non-zero
// without starting mlflow.
func TestLauncherBootSimulation(t *testing.T) {
	t.Parallel()
	endpoint := testenv.StartMoto(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	password := everySpecialPassword + randomPassword(rng, 12)
	t.Logf("password drawn for this run: %q", password)

	for _, d := range documents(t) {
		files, _ := parseDocument(t, d)
		env := parseEnvFile(t, mustFile(t, d, files, EnvFilePath))
		launcher := mustFile(t, d, files, LauncherPath)
		helper := mustFile(t, d, files, DBStateHelperPath)
		putSecureString(t, endpoint, env[EnvAWSDefaultRegion], env[EnvDBPasswordParameter], password)
		configuredWorkers, err := strconv.Atoi(env[EnvWorkers])
		if err != nil {
			t.Fatalf("%s: MLFLOW_WORKERS=%q", d.name, env[EnvWorkers])
		}
		wantWorkers := configuredWorkers
		if wantWorkers == 0 {
			wantWorkers = 2 // 2 GiB, 2 CPUs
		}

		// The helper migrates (snapshot, then mlflow db upgrade; proven on real PostgreSQL with
		// the real venvs in e2e/upgrade_test.go): the launcher runs mlflow only for the server.
		for _, state := range []string{"upgraded", "current", "empty"} {
			t.Run(d.name+"/"+state, func(t *testing.T) {
				t.Parallel()
				imds := testenv.StartIMDSStub(t, stubPrivateIPv4, 0)
				res := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: state, memKiB: 2 * 1024 * 1024, cpus: 2, imdsURL: imds.URL})
				if res.err != nil {
					t.Fatalf("launcher failed: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
				}
				if tokens, answers, bad := imds.Requests(); tokens != 1 || answers != 1 || len(bad) != 0 {
					t.Errorf("IMDS stub: %d token(s), %d local-ipv4 answer(s), bad requests %q; want one IMDSv2 token then one local-ipv4 with it", tokens, answers, bad)
				}
				assertPasswordContained(t, d.name, password, res)
				assertAuthLaunch(t, d.name, env, res)
				if !slices.Equal(res.pythonArgv, []string{filepath.Join(res.root, "mlflow-db-state"), "prepare"}) {
					t.Errorf("venv python ran %q, want only the db-state helper's prepare", res.pythonArgv)
				}
				if res.pythonEnv["PGPASSWORD"] != password || res.pythonEnv[EnvBackendStoreURI] != env[EnvBackendStoreURI] {
					t.Errorf("the db-state helper did not get PGPASSWORD and %s in its environment", EnvBackendStoreURI)
				}
				wantCalls := [][]string{expectedServerArgv(env, wantWorkers, withPrivateIP(env, stubPrivateIPv4))}
				if len(res.mlflowArgv) != len(wantCalls) {
					t.Fatalf("C3: on an %s database mlflow ran %d time(s) %q, want %q", state, len(res.mlflowArgv), res.mlflowArgv, wantCalls)
				}
				for i := range wantCalls {
					if !slices.Equal(res.mlflowArgv[i], wantCalls[i]) {
						t.Errorf("mlflow call %d argv\n got %q\nwant %q", i+1, res.mlflowArgv[i], wantCalls[i])
					}
					if got := res.mlflowEnv[i]["PGPASSWORD"]; got != password {
						t.Errorf("C2: mlflow call %d (%s) has PGPASSWORD=%q, want the SSM password", i+1, res.mlflowArgv[i][0], got)
					}
				}
				server := res.mlflowArgv[len(res.mlflowArgv)-1]
				serverEnv := res.mlflowEnv[len(res.mlflowEnv)-1]
				if env[EnvArtifactAccess] == ArtifactAccessProxied && (slices.Contains(server, "--default-artifact-root") || !slices.Contains(server, "--serve-artifacts")) {
					t.Errorf("C4: proxied mode server argv %q passes --default-artifact-root or lacks --serve-artifacts", server)
				}
				if env[EnvArtifactAccess] == ArtifactAccessDirect && slices.Contains(server, "--artifacts-destination") {
					t.Errorf("direct mode server argv %q passes --artifacts-destination", server)
				}
				if serverEnv["AWS_DEFAULT_REGION"] != env[EnvAWSDefaultRegion] || (d.params != nil && serverEnv["AWS_DEFAULT_REGION"] != d.params.Region) {
					t.Errorf("C6: server AWS_DEFAULT_REGION=%q, want %q", serverEnv["AWS_DEFAULT_REGION"], env[EnvAWSDefaultRegion])
				}
				i := slices.Index(server, "--allowed-hosts")
				if i < 0 || i+1 >= len(server) {
					t.Fatalf("C7: server argv %q has no --allowed-hosts", server)
				}
				suffix := "," + stubPrivateIPv4 + "," + stubPrivateIPv4 + ":" + env[EnvPort]
				if !strings.HasSuffix(server[i+1], suffix) {
					t.Errorf("C7: --allowed-hosts %q does not end with the private IPv4 from IMDS %q", server[i+1], suffix)
				}
				if d.params != nil && !slices.Equal(strings.Split(server[i+1], ","), append(slices.Clone(d.params.AllowedHosts), stubPrivateIPv4, stubPrivateIPv4+":"+strconv.Itoa(d.params.Port))) {
					t.Errorf("C7: --allowed-hosts %q, want %q then the private IPv4 %s with and without port %d", server[i+1], d.params.AllowedHosts, stubPrivateIPv4, d.params.Port)
				}
				for _, h := range strings.Split(server[i+1], ",") {
					if err := CheckAllowedHost(h); err != nil {
						t.Errorf("C7: --allowed-hosts entry: %v", err)
					}
				}
				// CORS: the browser origin of every allowed host, the private IP's included, and
				// no wildcard (MLflow >= 3.5 refuses state-changing requests from other origins).
				j := slices.Index(server, "--cors-allowed-origins")
				if j < 0 || j+1 >= len(server) {
					t.Fatalf("server argv %q has no --cors-allowed-origins", server)
				}
				origins := strings.Split(server[j+1], ",")
				wantOrigins := []string{"http://" + stubPrivateIPv4 + ":" + env[EnvPort], "http://" + stubPrivateIPv4, "https://" + stubPrivateIPv4}
				for _, h := range strings.Split(env[EnvAllowedHosts], ",") {
					if host, _, hasPort := strings.Cut(h, ":"); hasPort {
						wantOrigins = append(wantOrigins, "http://"+h)
					} else {
						wantOrigins = append(wantOrigins, "http://"+host, "https://"+host)
					}
				}
				for _, o := range wantOrigins {
					if !slices.Contains(origins, o) {
						t.Errorf("--cors-allowed-origins %q lacks %q", server[j+1], o)
					}
				}
				if strings.Contains(server[j+1], "*") {
					t.Errorf("--cors-allowed-origins %q holds a wildcard", server[j+1])
				}
				for _, o := range origins {
					if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || CheckAllowedHost(u.Host) != nil {
						t.Errorf("--cors-allowed-origins entry %q is not scheme://host[:port]", o)
					}
				}
			})
		}
	}

	// Workers sizing: clamp(MemTotal_MiB / 768, 1, 2*nproc + 1), documented in the launcher.
	d := documents(t)[0]
	files, _ := parseDocument(t, d)
	env := parseEnvFile(t, mustFile(t, d, files, EnvFilePath))
	launcher, helper := mustFile(t, d, files, LauncherPath), mustFile(t, d, files, DBStateHelperPath)
	putSecureString(t, endpoint, env[EnvAWSDefaultRegion], env[EnvDBPasswordParameter], password)
	for _, c := range []struct {
		name         string
		memKiB, cpus int
		want         int
	}{
		{"t3.micro MemTotal 1 GiB less kernel", 980 * 1024, 2, 1},
		{"512 MiB", 512 * 1024, 1, 1},
		{"4 GiB 1 CPU", 4 * 1024 * 1024, 1, 3},
		{"8 GiB 2 CPUs", 8 * 1024 * 1024, 2, 5},
		{"16 GiB 4 CPUs", 16 * 1024 * 1024, 4, 9},
	} {
		t.Run("workers/"+c.name, func(t *testing.T) {
			t.Parallel()
			res := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: "empty", memKiB: c.memKiB, cpus: c.cpus,
				imdsURL: closedLoopbackURL(t), override: map[string]string{EnvWorkers: "0"}})
			if res.err != nil || len(res.mlflowArgv) != 1 {
				t.Fatalf("launcher: %v, mlflow calls %q\n%s", res.err, res.mlflowArgv, res.stderr)
			}
			server := res.mlflowArgv[0]
			i := slices.Index(server, "--workers")
			if i < 0 || server[i+1] != strconv.Itoa(c.want) {
				t.Errorf("%d KiB, %d CPUs: server argv %q, want --workers %d", c.memKiB, c.cpus, server, c.want)
			}
		})
	}

	t.Run("unreachable database exits non-zero", func(t *testing.T) {
		t.Parallel()
		res := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: "unreachable", memKiB: 1 << 20, cpus: 1, imdsURL: closedLoopbackURL(t)})
		if res.err == nil || len(res.mlflowArgv) != 0 {
			t.Errorf("launcher err=%v, mlflow calls %q; want exit 1 and no mlflow call so systemd restarts it", res.err, res.mlflowArgv)
		}
		if !strings.Contains(res.stderr, "database not reachable after 3 attempts") {
			t.Errorf("launcher stderr does not say the database was not reachable:\n%s", res.stderr)
		}
		assertPasswordContained(t, "unreachable", password, res)
	})
	t.Run("missing RDS CA bundle exits non-zero", func(t *testing.T) {
		t.Parallel()
		res := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: "empty", memKiB: 1 << 20, cpus: 1,
			imdsURL: closedLoopbackURL(t), noBundle: true})
		if res.err == nil || len(res.mlflowArgv) != 0 || len(res.pythonArgv) != 0 {
			t.Errorf("launcher err=%v, mlflow calls %q, helper calls %q; want exit 1 before anything runs", res.err, res.mlflowArgv, res.pythonArgv)
		}
		want := "mlflow-launch: RDS CA bundle " + filepath.Join(res.root, "rds-ca-bundle.pem") + " is missing"
		if !strings.Contains(res.stderr, want) {
			t.Errorf("launcher stderr does not say %q:\n%s", want, res.stderr)
		}
		assertPasswordContained(t, "missing RDS CA bundle", password, res)
	})
	t.Run("missing SSM parameter exits non-zero", func(t *testing.T) {
		t.Parallel()
		res := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: "empty", memKiB: 1 << 20, cpus: 1,
			imdsURL: closedLoopbackURL(t), override: map[string]string{EnvDBPasswordParameter: "/does/not/exist"}})
		if res.err == nil || len(res.mlflowArgv) != 0 || len(res.pythonArgv) != 0 {
			t.Errorf("launcher err=%v, mlflow calls %q, helper calls %q; want exit 1 before anything runs", res.err, res.mlflowArgv, res.pythonArgv)
		}
		if !strings.Contains(res.stderr, "cannot read SSM parameter /does/not/exist") {
			t.Errorf("launcher stderr does not name the parameter:\n%s", res.stderr)
		}
	})

	// IMDS failures never stop the server: --allowed-hosts stays exactly what was configured and
	// the launcher logs one line about it. Every URL is on 127.0.0.1.
	for _, c := range []struct {
		name        string
		imdsURL     func(t *testing.T) (url string, stub *testenv.IMDSStub)
		wantInLog   string
		wantAnswers int
	}{
		{"absent (connection refused)", func(t *testing.T) (string, *testenv.IMDSStub) { return closedLoopbackURL(t), nil }, "token request failed", 0},
		{"token refused", func(t *testing.T) (string, *testenv.IMDSStub) {
			s := testenv.StartIMDSStub(t, stubPrivateIPv4, http.StatusForbidden)
			return s.URL, s
		}, "token request failed", 0},
		{"answers not-an-ip", stubAnswering("not-an-ip"), "is not an IPv4 address", 1},
		{"answers 1.2.3.4;rm", stubAnswering("1.2.3.4;rm -rf /"), "is not an IPv4 address", 1},
		{"answers 999.1.1.1", stubAnswering("999.1.1.1"), "is not an IPv4 address", 1},
		{"answers 10.0.0.1:5000", stubAnswering("10.0.0.1:5000"), "is not an IPv4 address", 1},
		{"answers two lines", stubAnswering("10.0.0.1\n10.0.0.2"), "is not an IPv4 address", 1},
		{"answers empty", stubAnswering(""), "is not an IPv4 address", 1},
	} {
		t.Run("imds/"+c.name, func(t *testing.T) {
			t.Parallel()
			u, stub := c.imdsURL(t)
			res := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: "empty", memKiB: 1 << 20, cpus: 1, imdsURL: u})
			if res.err != nil || len(res.mlflowArgv) != 1 {
				t.Fatalf("launcher: %v, mlflow calls %q; want the server started anyway\n%s", res.err, res.mlflowArgv, res.stderr)
			}
			if want := expectedServerArgv(env, 1, env[EnvAllowedHosts]); !slices.Equal(res.mlflowArgv[0], want) {
				t.Errorf("server argv\n got %q\nwant %q (configured --allowed-hosts unchanged)", res.mlflowArgv[0], want)
			}
			var imdsLines []string
			for _, l := range strings.Split(res.stderr, "\n") {
				if strings.Contains(l, "IMDS") {
					imdsLines = append(imdsLines, l)
				}
			}
			if len(imdsLines) != 1 || !strings.Contains(imdsLines[0], c.wantInLog) || !strings.HasPrefix(imdsLines[0], "mlflow-launch: ") {
				t.Errorf("launcher logged %q about IMDS, want one mlflow-launch line containing %q\nstderr:\n%s", imdsLines, c.wantInLog, res.stderr)
			}
			if strings.Contains(res.stderr, testenv.IMDSToken[:20]) {
				t.Errorf("launcher logged the IMDS token:\n%s", res.stderr)
			}
			if stub != nil {
				if _, answers, bad := stub.Requests(); answers != c.wantAnswers || len(bad) != 0 {
					t.Errorf("IMDS stub: %d local-ipv4 answer(s), bad requests %q; want %d and none", answers, bad, c.wantAnswers)
				}
			}
			assertPasswordContained(t, c.name, password, res)
		})
	}
}

// stubAnswering returns a bootRun IMDS URL factory for an imdsStub answering body as local-ipv4.
func stubAnswering(body string) func(t *testing.T) (string, *testenv.IMDSStub) {
	return func(t *testing.T) (string, *testenv.IMDSStub) {
		s := testenv.StartIMDSStub(t, body, 0)
		return s.URL, s
	}
}

// TestLauncherCORSOrigins runs the launcher's real cors_origins (with its log) on allowed-host
// lists and compares with the literal origins a browser sends (and with corsOrigins, which the
// boot simulation expects): ports kept, https://host for :443 and bare hosts, http://host for
// :80, duplicates dropped, and an entry that is not host[:port] (a "*" edited into the env
// file would be a wildcard origin to MLflow) skipped with one log line.
func TestLauncherCORSOrigins(t *testing.T) {
	t.Parallel()
	funcs := sourced(t, LauncherPath)
	for _, c := range []struct {
		hosts, want, log string
	}{
		{"localhost:5000,127.0.0.1:5000", "http://localhost:5000,http://127.0.0.1:5000", ""},
		{"mlflow.example.com", "http://mlflow.example.com,https://mlflow.example.com", ""},
		{"203.0.113.10:8080,mlflow.example.com,mlflow.example.com:8080,172.31.16.10,172.31.16.10:8080",
			"http://203.0.113.10:8080,http://mlflow.example.com,https://mlflow.example.com,http://mlflow.example.com:8080," +
				"http://172.31.16.10,https://172.31.16.10,http://172.31.16.10:8080", ""},
		{"mlflow.example.com:443", "http://mlflow.example.com:443,https://mlflow.example.com", ""},
		{"mlflow.example.com:80", "http://mlflow.example.com:80,http://mlflow.example.com", ""},
		{"a.example.com:8443,a.example.com:4430", "http://a.example.com:8443,http://a.example.com:4430", ""},
		{"x.example.com,x.example.com:443,x.example.com:80", "http://x.example.com,https://x.example.com,http://x.example.com:443,http://x.example.com:80", ""},
		{"*,good.example.com:5000", "http://good.example.com:5000", "allowed host '*' is not host[:port]"},
		{"*.example.com:5000,h:5000", "http://h:5000", "allowed host '*.example.com:5000' is not host[:port]"},
		{"http://evil.example,h", "http://h,https://h", "allowed host 'http://evil.example' is not host[:port]"},
	} {
		stdout, stderr, err := run(t, 10*time.Second, []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}, "", "/bin/bash", "-c",
			"set -euo pipefail\n"+funcs+`cors_origins "$1"`, "bash", c.hosts)
		if err != nil || stdout != c.want+"\n" {
			t.Errorf("cors_origins %q = %q (err %v, stderr %q), want %q", c.hosts, stdout, err, stderr, c.want)
		}
		if !strings.Contains(c.hosts, "*") && !strings.Contains(c.hosts, "/") && corsOrigins(c.hosts) != c.want {
			t.Errorf("corsOrigins(%q) = %q, want %q (the boot simulation's expectation disagrees with the launcher)", c.hosts, corsOrigins(c.hosts), c.want)
		}
		if c.log == "" && stderr != "" || c.log != "" && (strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "mlflow-launch: "+c.log)) {
			t.Errorf("cors_origins %q logged %q, want %q", c.hosts, stderr, c.log)
		}
	}
}
