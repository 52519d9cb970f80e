package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// day2Stack is the dev stack's default release running for real (as in TestRealMLflowEndToEnd):
// PostgreSQL with verify-full TLS, moto with IAM enforced and the instance role's session, the
// venv built by the document's bootstrap, the real launcher and `mlflow server` on loopback.
type day2Stack struct {
	doc       document
	params    userdata.Params
	cloud     *cloud
	pg        *testenv.Postgres
	role      []string
	venv      string
	overrides map[string]string
	server    *server
	admin     []string // MLFLOW_TRACKING_USERNAME/PASSWORD of the MLflow admin ("" without auth)
}

// startDay2Stack renders the dev stack's user data with edit applied to its Params and launches
// it (overrides adds to the launcher's test overrides, e.g. TMPDIR).
func startDay2Stack(t *testing.T, edit func(*userdata.Params), overrides map[string]string) *day2Stack {
	t.Helper()
	_, _, params := devDocuments(t, oldestRelease)
	edit(&params)
	st := &day2Stack{params: params, doc: render(t, params)}
	tb := startTestbed(t, params, "172.31.16.10")
	st.pg, st.cloud = tb.pg, tb.cloud
	if params.Auth != nil {
		secrets := st.cloud.putAuthSecrets(t, params.Auth)
		st.admin = []string{"MLFLOW_TRACKING_USERNAME=" + params.Auth.AdminUsername, "MLFLOW_TRACKING_PASSWORD=" + secrets.admin}
	}
	lk, keys := st.cloud.putBootstrapObjects(t, params.MLflowVersion)
	st.overrides = tb.withOverrides(overrides)
	st.role = st.cloud.instanceRole(t, keys)
	st.venv, _, _ = bootstrap(t, st.doc, st.cloud, st.role, lk, tb.caURL, tb.curlCA, tb.caDest)
	st.server = launch(t, st.doc, st.cloud, st.role, st.venv, st.overrides)
	return st
}

// unitRun runs the ExecStart of the document's unit at unitPath the way systemd does: umask 077,
// the env file (with the test's overrides: the backend store URI's test CA, the server's
// loopback port) and the unit's Environment= assignments, plus the instance role's credentials
// and moto's endpoint. The script finds the rendered launcher at MLFLOW_LAUNCHER and the venv at
// MLFLOW_VENV (both test-only overrides). It returns the combined output and the exit error.
func (st *day2Stack) unitRun(t *testing.T, unitPath string) (string, error) {
	t.Helper()
	unit := st.doc[unitPath]
	var exe string
	var unitEnv []string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			exe = v
		}
		if v, ok := strings.CutPrefix(l, "Environment="); ok {
			unitEnv = append(unitEnv, v)
		}
	}
	if exe == "" || st.doc[exe] == "" {
		t.Fatalf("%s: ExecStart=%q is not a file the document writes", unitPath, exe)
	}
	dir := t.TempDir()
	script, launcher := filepath.Join(dir, filepath.Base(exe)), filepath.Join(dir, "mlflow-launch")
	for p, content := range map[string]string{script: st.doc[exe], launcher: st.doc[userdata.LauncherPath]} {
		if err := testenv.WriteExecutable(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	env := st.cloud.env(dir, st.role)
	fileEnv := st.doc.env(t)
	_, port, _ := strings.Cut(strings.TrimPrefix(st.server.url, "http://"), ":")
	fileEnv[userdata.EnvPort] = port
	fileEnv[userdata.EnvBackendStoreURI] = st.overrides[userdata.EnvBackendStoreURI]
	for k, v := range fileEnv {
		env = append(env, k+"="+v)
	}
	env = append(env, unitEnv...)
	env = append(env, "MLFLOW_VENV="+st.venv, "MLFLOW_LAUNCHER="+launcher, "TMPDIR="+t.TempDir())
	stdout, stderr, err := testenv.Run(t, 5*time.Minute, env, "", "/bin/bash", "-c", `umask 077; exec "$0"`, script)
	return stdout + stderr, err
}

// runKeys are the bucket's object keys under a run's artifact directory.
func runKeys(keys []string, experimentID, runID string) []string {
	prefix := components.ArtifactsPrefix + "/" + experimentID + "/" + runID + "/artifacts/"
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// TestRealMLflowGarbageCollection proves issue 13 §4 with the real MLflow server of the dev
// stack (default release, proxied artifacts, authentication on): the rendered mlflow-gc.service
// (gcOlderThan 1h, the shortest the config takes) run the way systemd runs it purges a run deleted longer ago (its objects
// leave the bucket, its rows leave PostgreSQL: runs, params, metrics, latest_metrics, tags), and
// a deleted run that logged no artifacts (mlflow/mlflow#15461 reported gc crashing on one),
// while a run deleted a moment ago and a live run keep every object and row. "Longer ago" is
// made by moving the two runs' deleted_time two hours back in the database. The gc deletes the
// objects through the server's artifact API (mlflow-artifacts: URIs resolve against
// --tracking-uri), as the admin, with the instance role's S3 permissions on artifacts/.
func TestRealMLflowGarbageCollection(t *testing.T) {
	st := startDay2Stack(t, func(p *userdata.Params) { p.GCOlderThan = "1h" }, nil)
	motoAllowsMultiObjectDelete(t, st.cloud)
	if st.doc[userdata.GCUnitPath] == "" {
		t.Fatal("the document writes no gc unit with GCOlderThan set")
	}
	stateFile := filepath.Join(t.TempDir(), "gc-state.json")
	script, err := filepath.Abs(filepath.Join("testdata", "gc_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := testenv.Run(t, 5*time.Minute, clientEnv(t, st.server, st.admin...), "", filepath.Join(st.venv, "bin", "python"), script, stateFile)
	if err != nil {
		t.Fatalf("gc client: %v\n%s%s\n%s", err, out, stderr, st.server.logs.Tail(4000))
	}
	var state struct {
		ExperimentID string            `json:"experiment_id"`
		Runs         map[string]string `json:"runs"`
	}
	b, _ := os.ReadFile(stateFile)
	if err := json.Unmarshal(b, &state); err != nil {
		t.Fatal(err)
	}
	db := st.params.DatabaseName
	st.pg.SQL(t, db, "UPDATE runs SET deleted_time = deleted_time - 7200000 WHERE run_uuid IN ("+
		testenv.SQLLiteral(state.Runs["purged"])+", "+testenv.SQLLiteral(state.Runs["empty_purged"])+");\n")
	rows := func(runID string) string {
		var counts []string
		for _, table := range []string{"runs", "params", "metrics", "latest_metrics", "tags"} {
			counts = append(counts, table+"="+strings.TrimSpace(st.pg.SQL(t, db, "SELECT count(*) FROM "+table+" WHERE run_uuid = "+testenv.SQLLiteral(runID)+";\n")))
		}
		return strings.Join(counts, " ")
	}
	const allRows, noRows = "runs=1 params=1 metrics=1 latest_metrics=1 tags=", "runs=0 params=0 metrics=0 latest_metrics=0 tags=0"
	before := st.cloud.objectKeys(t)
	for _, name := range []string{"purged", "young", "live"} {
		if n := len(runKeys(before, state.ExperimentID, state.Runs[name])); n != 2 {
			t.Fatalf("run %s has %d objects before gc, want 2: %q", name, n, before)
		}
	}
	for name, id := range state.Runs {
		if r := rows(id); !strings.HasPrefix(r, allRows) {
			t.Fatalf("run %s rows before gc: %s", name, r)
		}
	}

	started := time.Now()
	out, err = st.unitRun(t, userdata.GCUnitPath)
	t.Logf("mlflow-gc.service (%s): %v\n%s", time.Since(started).Round(100*time.Millisecond), err, out)
	if err != nil {
		t.Fatalf("the gc unit failed: %v\n%s\nserver log:\n%s", err, out, st.server.logs.Tail(6000))
	}
	after := st.cloud.objectKeys(t)
	for name, wantObjects := range map[string]int{"purged": 0, "empty_purged": 0, "young": 2, "live": 2} {
		id := state.Runs[name]
		if n := len(runKeys(after, state.ExperimentID, id)); n != wantObjects {
			t.Errorf("run %s has %d objects after gc, want %d", name, n, wantObjects)
		}
		purged := wantObjects == 0
		if r := rows(id); purged && r != noRows || !purged && !strings.HasPrefix(r, allRows) {
			t.Errorf("run %s rows after gc: %s", name, r)
		}
		if said := strings.Contains(out, "Run with ID "+id+" has been permanently deleted."); said != purged {
			t.Errorf("gc output mentions run %s (%s): %v, want %v", name, id, said, purged)
		}
	}
	// The program's bootstrap objects are outside the artifacts prefix and untouched.
	for _, k := range before {
		if !strings.HasPrefix(k, components.ArtifactsPrefix+"/") && !strings.Contains(strings.Join(after, "\n"), k) {
			t.Errorf("gc removed %s", k)
		}
	}
}

// motoAllowsMultiObjectDelete adds, for moto only, s3:DeleteObject on the bucket's own ARN to the
// test's instance role (mlflow-e2e-server-role). MLflow deletes a directory with one
// DeleteObjects request (S3ArtifactRepository.delete_artifacts). AWS authorizes it per key
// against s3:DeleteObject on each object's ARN (Amazon S3 API Reference, DeleteObjects), which
// the program's ReadWriteArtifacts statement grants under artifacts/. moto 5.2.5 first checks
// s3:DeleteObject against the bucket ARN (s3/responses.py _bucket_response_post) and, when that
// is denied, answers 200 with every key in Errors, deleting nothing. On AWS the extra statement
// grants nothing (no object is named by the bucket's ARN), so the program's S3 statements stay
// exactly as they are. (moto then checks each key against the bucket policy only.)
func motoAllowsMultiObjectDelete(t *testing.T, c *cloud) {
	t.Helper()
	const role = "mlflow-e2e-server-role"
	var got struct{ PolicyDocument components.PolicyDocument }
	c.callJSON(t, c.admin, &got, "iam", "get-role-policy", "--role-name", role, "--policy-name", "server")
	doc := got.PolicyDocument
	doc.Statement = append(doc.Statement, components.PolicyStatement{Sid: "MotoBucketLevelDeleteCheck", Effect: "Allow",
		Action: []string{"s3:DeleteObject"}, Resource: []string{"arn:aws:s3:::" + c.bucket}})
	policy, err := doc.JSON()
	if err != nil {
		t.Fatal(err)
	}
	c.call(t, c.admin, "iam", "put-role-policy", "--role-name", role, "--policy-name", "server", "--policy-document", policy)
}
