package userdata

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

// TestLauncherRefusalsExitOnce: when the db-state helper refuses (3: the schema is newer than
// this MLflow, a downgrade; 4: the pre-upgrade snapshot failed; 5: the migration failed) the
// launcher asks it once, starts no mlflow, and exits with ExitSchemaNewer or ExitUpgradeFailed,
// which mlflow.service lists in RestartPreventExitStatus= (so systemd does not restart it); an
// unreachable database is still retried and ends in exit 1 (restarted, within the start limit).
func TestLauncherRefusalsExitOnce(t *testing.T) {
	endpoint := testenv.StartMoto(t)
	d := documents(t)[0]
	files, _ := parseDocument(t, d)
	env := parseEnvFile(t, mustFile(t, d, files, EnvFilePath))
	launcher, helper := mustFile(t, d, files, LauncherPath), mustFile(t, d, files, DBStateHelperPath)
	putSecureString(t, endpoint, env[EnvAWSDefaultRegion], env[EnvDBPasswordParameter], "Pw0-_.,:;=+%~^")
	unit := mustFile(t, d, files, UnitPath)
	prevent := ""
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "RestartPreventExitStatus="); ok {
			prevent = " " + v + " "
		}
	}
	for _, c := range []struct {
		state       string
		want, tries int
		prevented   bool
	}{
		{"exit3", ExitSchemaNewer, 1, true},
		{"exit4", ExitUpgradeFailed, 1, true},
		{"exit5", ExitUpgradeFailed, 1, true},
		{"unreachable", 1, 3, false},
	} {
		t.Run(c.state, func(t *testing.T) {
			res := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: c.state, memKiB: 2 << 20, cpus: 2, imdsURL: closedLoopbackURL(t)})
			var exit *exec.ExitError
			if !errors.As(res.err, &exit) || exit.ExitCode() != c.want {
				t.Fatalf("launcher exit %v, want status %d\n%s", res.err, c.want, res.stderr)
			}
			if len(res.mlflowArgv) != 0 {
				t.Errorf("mlflow ran %q after the helper refused", res.mlflowArgv)
			}
			if c.prevented != strings.Contains(prevent, fmt.Sprintf(" %d ", c.want)) {
				t.Errorf("exit %d: RestartPreventExitStatus=%s, want it listed: %v", c.want, strings.TrimSpace(prevent), c.prevented)
			}
			if c.prevented {
				b, _ := os.ReadFile(filepath.Join(res.root, "rec", "python.refusals"))
				if n := strings.Count(string(b), "x"); n != c.tries {
					t.Errorf("the helper ran %d time(s), want %d (a refusal is not retried)", n, c.tries)
				}
			}
		})
	}
}

// TestLauncherWatchPassword: "mlflow-launch watch-password" (the timer's service) restarts
// mlflow.service with `systemctl try-restart` exactly when the password parameter's SSM Version
// differs from the one the running server read, which the launcher records at start in
// $RUNTIME_DIRECTORY/db-password-version; with no record (the server is not running) it does
// nothing. The recorded Version is the one the boot read.
func TestLauncherWatchPassword(t *testing.T) {
	endpoint := testenv.StartMoto(t)
	d := documents(t)[0]
	files, _ := parseDocument(t, d)
	env := parseEnvFile(t, mustFile(t, d, files, EnvFilePath))
	launcher, helper := mustFile(t, d, files, LauncherPath), mustFile(t, d, files, DBStateHelperPath)
	region, name := env[EnvAWSDefaultRegion], env[EnvDBPasswordParameter]
	putSecureString(t, endpoint, region, name, "first-Password0")

	// The unit's RuntimeDirectory=: simulateBoot provides one with MLFLOW_AUTH=basic.
	runtime, override := t.TempDir(), map[string]string{}
	if env[EnvAuth] != AuthBasic {
		override["RUNTIME_DIRECTORY"] = runtime
	}
	boot := simulateBoot(t, endpoint, env, launcher, helper, bootRun{dbState: "current", memKiB: 2 << 20, cpus: 2,
		imdsURL: closedLoopbackURL(t), override: override})
	if boot.err != nil {
		t.Fatalf("boot: %v\n%s", boot.err, boot.stderr)
	}
	if env[EnvAuth] == AuthBasic {
		runtime = filepath.Join(boot.root, "run")
	}
	if b, err := os.ReadFile(filepath.Join(runtime, "db-password-version")); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("the boot recorded %q (%v), want the parameter's Version 1", b, err)
	}

	dir := t.TempDir()
	script := filepath.Join(dir, "mlflow-launch")
	calls := filepath.Join(dir, "systemctl.calls")
	bin := mkdir(t, dir, "bin")
	if err := testenv.WriteExecutable(script, []byte(launcher)); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WriteExecutable(filepath.Join(bin, "systemctl"), []byte("#!/bin/bash\necho \"$*\" >> "+calls+"\n")); err != nil {
		t.Fatal(err)
	}
	watch := func(runtimeDir string) string {
		t.Helper()
		_ = os.Remove(calls)
		procEnv := awsEnv(endpoint, dir, region)
		for i, kv := range procEnv {
			if strings.HasPrefix(kv, "PATH=") {
				procEnv[i] = "PATH=" + bin + ":" + strings.TrimPrefix(kv, "PATH=")
			}
		}
		procEnv = append(procEnv, EnvDBPasswordParameter+"="+name, "RUNTIME_DIRECTORY="+runtimeDir)
		if _, stderr, err := run(t, time.Minute, procEnv, "", script, "watch-password"); err != nil {
			t.Fatalf("watch-password: %v\n%s", err, stderr)
		}
		b, _ := os.ReadFile(calls)
		return string(b)
	}
	if got := watch(runtime); got != "" {
		t.Errorf("nothing changed, but watch-password ran systemctl %q", got)
	}
	if got := watch(t.TempDir()); got != "" {
		t.Errorf("no server running (no recorded Version), but watch-password ran systemctl %q", got)
	}
	putSecureString(t, endpoint, region, name, "second-Password0")
	if got := watch(runtime); got != "try-restart "+UnitName+"\n" {
		t.Errorf("the password changed (Version 2), watch-password ran systemctl %q, want try-restart %s", got, UnitName)
	}
}
