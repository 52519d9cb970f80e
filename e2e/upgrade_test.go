package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// TestRealUpgradeSafety proves issue 13's upgrade and rotation cases (C9, C10, C13) and issue
// 10's single migrator on the real software: the dev stack's rendered launcher and helper, the
// venvs its bootstrap builds (the plugin's mlflow_aws_auth.schema does the migration), PostgreSQL
// 15 with verify-full TLS, moto with IAM enforced holding the stack's RDS DB instance, the
// instance role's session with the program's policy and snapshot statements, the real `mlflow
// server` on 127.0.0.1. Authentication is off (TestRealMLflowEndToEnd covers it), one worker.
//
//  1. MLflow 3.5.0 on an empty database; an experiment is created; the release is recorded.
//  2. Two 3.17.2 launchers race on that database: exactly one takes an RDS snapshot named
//     "<db>-mlflow-3-5-0-to-3-17-2-<UTC time>", sees it "available" and only then runs
//     `mlflow db upgrade`; the other waits on the advisory lock and finds the schema current.
//  3. The 3.17.2 server starts without migrating again; the real client reads the experiment.
//  4. Rotation: the password watch does nothing while nothing changed; after the password is
//     changed in PostgreSQL and in SSM it asks systemd to try-restart mlflow.service; the
//     restarted server works with the new password; the watch is quiet again.
//  5. Downgrade: the 3.5.0 launcher against the 3.17.2 schema exits once with status 78 and one
//     "refusing to downgrade" line, a status the unit lists in RestartPreventExitStatus=.
//  6. A failed snapshot (an unknown DB instance) refuses the migration: exit 79, the schema
//     untouched, no `mlflow db upgrade`.
func TestRealUpgradeSafety(t *testing.T) {
	_, _, params := devDocuments(t, oldestRelease)
	params.Auth = nil
	dev := render(t, params)
	oldParams := params
	oldParams.MLflowVersion = oldestRelease
	old := render(t, oldParams)

	tb := startTestbed(t, params, "172.31.16.10")
	pg, cloud := tb.pg, tb.cloud
	dbID := dbInstanceIdentifier(params)
	cloud.createDBInstance(t, dbID)
	oldLock, oldKeys := cloud.putBootstrapObjects(t, oldestRelease)
	newLock, newKeys := cloud.putBootstrapObjects(t, params.MLflowVersion)
	caURL, curlCA, caDest := tb.caURL, tb.curlCA, tb.caDest
	runtimeDir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	overrides := tb.withOverrides(map[string]string{
		"MLFLOW_DB_INSTANCE_IDENTIFIER": dbID, // the endpoint is 127.0.0.1 here, not the RDS name
		userdata.EnvWorkers:             "1",
		"RUNTIME_DIRECTORY":             runtimeDir, // the unit's RuntimeDirectory=mlflow
	})
	oldRole := cloud.instanceRole(t, oldKeys)
	oldVenv, _, _ := bootstrap(t, old, cloud, oldRole, oldLock, caURL, curlCA, caDest)
	newRole := cloud.instanceRole(t, newKeys)
	newVenv, _, _ := bootstrap(t, dev, cloud, newRole, newLock, caURL, curlCA, caDest)
	started := time.Now()

	// (1) 3.5.0 on an empty database.
	s := launch(t, old, cloud, oldRole, oldVenv, overrides)
	if !strings.Contains(s.logs.Tail(1<<20), "database is empty: mlflow server creates the schema") {
		t.Errorf("3.5.0 on an empty database did not take the empty path\n%s", s.logs.Tail(4000))
	}
	createExperiment(t, s, "upgrade-safety")
	s.stop(t)
	if got := strings.TrimSpace(pg.SQL(t, params.DatabaseName, "SELECT version FROM mlflow_aws_server")); got != oldestRelease {
		t.Errorf("recorded release %q, want %s", got, oldestRelease)
	}
	oldRev := alembicRevision(t, pg, params.DatabaseName)

	// (2) Two launchers of the new release race on the same database.
	var wg sync.WaitGroup
	outs, errs := make([]string, 2), make([]error, 2)
	for i := range outs {
		cmd := launcherCmd(t, dev, cloud, newRole, newVenv, overrides, "prepare_database")
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(b), err
		}()
	}
	wg.Wait()
	upgrades := 0
	snapRe := regexp.MustCompile(`^` + regexp.QuoteMeta(dbID) + `-mlflow-3-5-0-to-` + strings.ReplaceAll(params.MLflowVersion, ".", "-") + `-[0-9]{14}$`)
	snaps := cloud.snapshots(t)
	for i, out := range outs {
		if errs[i] != nil {
			t.Fatalf("launcher %d: %v\n%s", i, errs[i], out)
		}
		if !strings.Contains(out, "running mlflow db upgrade") {
			if !strings.Contains(out, "database holds MLflow tables: schema current") {
				t.Errorf("launcher %d neither migrated nor found the schema current:\n%s", i, out)
			}
			continue
		}
		upgrades++
		t.Logf("the migrating launcher:\n%s", out)
		for name := range snaps {
			available := strings.Index(out, "RDS snapshot "+name+" is available")
			if available < 0 || available > strings.Index(out, "running mlflow db upgrade") {
				t.Errorf("launcher %d: the snapshot %s was not available before mlflow db upgrade:\n%s", i, name, out)
			}
		}
		if !strings.Contains(out, "database holds MLflow tables: schema upgraded") {
			t.Errorf("launcher %d migrated but did not say so:\n%s", i, out)
		}
	}
	if upgrades != 1 {
		t.Errorf("%d launchers ran mlflow db upgrade, want exactly 1:\n%s\n---\n%s", upgrades, outs[0], outs[1])
	}
	if len(snaps) != 1 {
		t.Errorf("snapshots %v, want exactly one", snaps)
	}
	for name, status := range snaps {
		if !snapRe.MatchString(name) || status != "available" {
			t.Errorf("snapshot %s (%s): want a name like %s, available", name, status, snapRe)
		}
	}
	newRev := alembicRevision(t, pg, params.DatabaseName)
	if newRev == oldRev {
		t.Errorf("the schema is still at %s after the upgrade", oldRev)
	}
	t.Logf("race: one upgrade %s -> %s after snapshot %v (%s since the venvs)", oldRev, newRev, snaps, time.Since(started).Round(time.Second))

	// (3) The new server: no second migration, the old data reads back.
	s = launch(t, dev, cloud, newRole, newVenv, overrides)
	if logs := s.logs.Tail(1 << 20); !strings.Contains(logs, "schema current") || strings.Contains(logs, "running mlflow db upgrade") {
		t.Errorf("the 3.17.2 server start did not find the schema current\n%s", s.logs.Tail(4000))
	}
	requireExperiment(t, newVenv, s, "upgrade-safety")

	// (4) Rotation without a manual restart.
	if got := watchPassword(t, dev, cloud, newRole, runtimeDir); got != "" {
		t.Errorf("nothing changed, but the watch ran systemctl %q", got)
	}
	pw2 := password()
	pg.SQL(t, "postgres", fmt.Sprintf("ALTER ROLE %s PASSWORD %s;\n", params.DatabaseUser, testenv.SQLLiteral(pw2)))
	cloud.putSecureString(t, params.PasswordParameterName, pw2)
	if got := watchPassword(t, dev, cloud, newRole, runtimeDir); got != "try-restart "+userdata.UnitName+"\n" {
		t.Fatalf("after the rotation the watch ran systemctl %q, want try-restart %s", got, userdata.UnitName)
	}
	s.stop(t) // what systemctl try-restart does: stop, then start the unit again
	s = launch(t, dev, cloud, newRole, newVenv, overrides)
	requireExperiment(t, newVenv, s, "upgrade-safety")
	if got := watchPassword(t, dev, cloud, newRole, runtimeDir); got != "" {
		t.Errorf("after the restart the watch still ran systemctl %q", got)
	}
	s.stop(t)

	// (5) The old release against the newer schema: refused once, not restarted.
	cmd := launcherCmd(t, old, cloud, oldRole, oldVenv, overrides, "")
	out, err := runWithin(cmd, 3*time.Minute)
	requireExit(t, "the 3.5.0 launcher on the 3.17.2 schema", err, userdata.ExitSchemaNewer, out)
	if n := strings.Count(out, "refusing to downgrade"); n != 1 || strings.Contains(out, "Listening") {
		t.Errorf("want exactly one 'refusing to downgrade' line and no server, got:\n%s", out)
	}
	requireRestartPrevented(t, old, userdata.ExitSchemaNewer)
	t.Logf("the 3.5.0 launcher on the %s schema (exit %d):\n%s", params.MLflowVersion, userdata.ExitSchemaNewer, out)
	if got := alembicRevision(t, pg, params.DatabaseName); got != newRev {
		t.Errorf("the refused downgrade changed the schema to %s", got)
	}

	// (6) A snapshot that fails refuses the migration.
	const failDB = "mlflow_snapfail"
	pg.SQL(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s;\n", failDB, params.DatabaseUser))
	fq := params
	fq.DatabaseName = failDB
	failURI := tb.backendStoreURI(fq)
	initSchema(t, oldVenv, failURI, pw2)
	failRev := alembicRevision(t, pg, failDB)
	failOverrides := map[string]string{}
	for k, v := range overrides {
		failOverrides[k] = v
	}
	failOverrides[userdata.EnvBackendStoreURI] = failURI
	failOverrides["MLFLOW_DB_INSTANCE_IDENTIFIER"] = "mlflow-aws-no-such-db"
	out, err = runWithin(launcherCmd(t, dev, cloud, newRole, newVenv, failOverrides, "prepare_database"), 3*time.Minute)
	requireExit(t, "a migration whose snapshot fails", err, userdata.ExitUpgradeFailed, out)
	if !strings.Contains(out, "failed, not migrating") || strings.Contains(out, "running mlflow db upgrade") {
		t.Errorf("want the snapshot failure line and no migration, got:\n%s", out)
	}
	if got := alembicRevision(t, pg, failDB); got != failRev {
		t.Errorf("the schema moved from %s to %s although the snapshot failed", failRev, got)
	}
	requireRestartPrevented(t, dev, userdata.ExitUpgradeFailed)
	t.Logf("upgrade safety scenarios: %s after the venvs were ready", time.Since(started).Round(time.Second))
}

// launcherCmd returns the document's launcher, as launch runs it (the unit's environment and
// env file, the test's overrides, a free loopback port), running main when fn is "" or else only
// the named function after require_env and export_db_password (sourced: functions first, main
// guarded), in its own process group (runWithin kills the group on timeout).
func launcherCmd(t *testing.T, d document, c *cloud, role []string, venv string, overrides map[string]string, fn string) *exec.Cmd {
	t.Helper()
	dir, launcher, helper := writeLauncher(t, d)
	port := testenv.FreePort(t)
	env := c.env(dir, role)
	for k, v := range d.env(t) {
		env = append(env, k+"="+v)
	}
	env = append(env, d.unitEnvironment()...)
	env = append(env, "TMPDIR="+dir, "MLFLOW_VENV="+venv, "MLFLOW_DB_STATE_HELPER="+helper,
		userdata.EnvHost+"=127.0.0.1", userdata.EnvPort+"="+strconv.Itoa(port))
	for k, v := range overrides {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("/bin/bash", "-c", `umask 077; exec "$0"`, launcher)
	if fn != "" {
		// $0 is not the launcher, so its guard does not run main.
		cmd = exec.Command("/bin/bash", "-c", `set -euo pipefail; umask 077; source "$1"; require_env; export_db_password; `+fn, "bash", launcher)
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// runWithin runs cmd and returns its combined output; the process is killed after timeout.
func runWithin(cmd *exec.Cmd, timeout time.Duration) (string, error) {
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return buf.String(), fmt.Errorf("still running after %s (killed)", timeout)
	}
}

// requireExit fails unless err is an exit with status want.
func requireExit(t *testing.T, what string, err error, want int, out string) {
	t.Helper()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != want {
		t.Fatalf("%s: %v, want exit status %d\n%s", what, err, want, out)
	}
}

// requireRestartPrevented: the document's mlflow.service lists status in
// RestartPreventExitStatus= (systemd.service(5): such an exit is not restarted even with
// Restart=always); TestSystemdUnitVerifies runs systemd-analyze verify on the same unit.
func requireRestartPrevented(t *testing.T, d document, status int) {
	t.Helper()
	for _, l := range strings.Split(d[userdata.UnitPath], "\n") {
		if v, ok := strings.CutPrefix(l, "RestartPreventExitStatus="); ok && strings.Contains(" "+v+" ", " "+strconv.Itoa(status)+" ") {
			return
		}
	}
	t.Errorf("mlflow.service does not list %d in RestartPreventExitStatus=:\n%s", status, d[userdata.UnitPath])
}

// watchPassword runs the document's "mlflow-launch watch-password" (what the timer's service
// runs) with the server's runtime directory and a systemctl stand-in on PATH, and returns the
// systemctl calls it made.
func watchPassword(t *testing.T, d document, c *cloud, role []string, runtimeDir string) string {
	t.Helper()
	dir := t.TempDir()
	launcher := filepath.Join(dir, "mlflow-launch")
	calls := filepath.Join(dir, "systemctl.calls")
	if err := testenv.WriteExecutable(launcher, []byte(d[userdata.LauncherPath])); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WriteExecutable(filepath.Join(dir, "systemctl"), []byte("#!/bin/bash\necho \"$*\" >> '"+calls+"'\n")); err != nil {
		t.Fatal(err)
	}
	env := c.env(dir, role)
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + dir + ":" + strings.TrimPrefix(kv, "PATH=")
		}
	}
	for k, v := range d.env(t) {
		env = append(env, k+"="+v)
	}
	env = append(env, "RUNTIME_DIRECTORY="+runtimeDir)
	if out, stderr, err := testenv.Run(t, time.Minute, env, "", launcher, "watch-password"); err != nil {
		t.Fatalf("watch-password: %v\n%s%s", err, out, stderr)
	}
	b, _ := os.ReadFile(calls)
	return string(b)
}

// alembicRevision is the schema revision of database db.
func alembicRevision(t *testing.T, pg *testenv.Postgres, db string) string {
	t.Helper()
	return strings.TrimSpace(pg.SQL(t, db, "SELECT version_num FROM alembic_version"))
}

// initSchema creates MLflow's schema on the empty database behind uri with the venv's MLflow
// (its SqlAlchemyStore does what `mlflow server` does on an empty database).
func initSchema(t *testing.T, venv, uri, pw string) {
	t.Helper()
	code := "import sys, tempfile\nfrom mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\nSqlAlchemyStore(sys.argv[1], tempfile.mkdtemp())\n"
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "PGPASSWORD=" + pw, "LC_ALL=C.UTF-8"}
	if out, stderr, err := testenv.Run(t, 3*time.Minute, env, "", filepath.Join(venv, "bin", "python"), "-c", code, uri); err != nil {
		t.Fatalf("initialise the schema: %v\n%s%s", err, out, stderr)
	}
}

// createExperiment creates an experiment through the server's REST API.
func createExperiment(t *testing.T, s *server, name string) {
	t.Helper()
	body := strings.NewReader(fmt.Sprintf(`{"name": %q}`, name))
	resp, err := http.Post(s.url+"/api/2.0/mlflow/experiments/create", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.ExperimentID == "" {
		t.Fatalf("create experiment %s: %d %v", name, resp.StatusCode, err)
	}
}

// requireExperiment: the real MLflow client of the venv finds the experiment on the server.
func requireExperiment(t *testing.T, venv string, s *server, name string) {
	t.Helper()
	code := "import sys\nfrom mlflow import MlflowClient\ne = MlflowClient().get_experiment_by_name(sys.argv[1])\nassert e is not None, 'no experiment'\nprint(e.experiment_id)\n"
	out, stderr, err := testenv.Run(t, 3*time.Minute, clientEnv(t, s), "", filepath.Join(venv, "bin", "python"), "-c", code, name)
	if err != nil {
		t.Fatalf("the client cannot read experiment %s: %v\n%s%s\nserver log (tail):\n%s", name, err, out, stderr, s.logs.Tail(4000))
	}
}
