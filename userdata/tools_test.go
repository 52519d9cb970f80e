package userdata

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

// TestCloudInitSchemaAcceptsDocuments runs cloud-init's own validator on every document (YAML
// syntax, module types, unknown keys inside write_files entries, permissions as strings).
func TestCloudInitSchemaAcceptsDocuments(t *testing.T) {
	cloudInit := requireTool(t, "cloud-init", "cloud-init")
	for _, d := range documents(t) {
		parseDocument(t, d) // exact top-level keys: the schema check accepts unknown ones
		f := filepath.Join(t.TempDir(), "user-data")
		if err := os.WriteFile(f, []byte(d.text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(cloudInit, "schema", "--config-file", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
			t.Errorf("%s: cloud-init schema rejects the document (%v):\n%s", d.name, err, out)
		}
	}
}

// TestShellScriptsPassBashAndShellcheck: the launcher and the bootstrap parse with bash -n and
// are shellcheck clean (any finding fails).
func TestShellScriptsPassBashAndShellcheck(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck", "shellcheck")
	for _, d := range documents(t) {
		files, _ := parseDocument(t, d)
		for _, path := range []string{LauncherPath, BootstrapPath} {
			content := mustFile(t, d, files, path)
			if !strings.HasPrefix(content, "#!/bin/bash\n") || !strings.Contains(content, "\nset -euo pipefail\n") {
				t.Errorf("%s: %s does not start with #!/bin/bash and set -euo pipefail", d.name, path)
			}
			f := filepath.Join(t.TempDir(), filepath.Base(path))
			if err := os.WriteFile(f, []byte(content), 0o700); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("/bin/bash", "-n", f).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("%s: bash -n %s: %v\n%s", d.name, path, err, out)
			}
			if out, err := exec.Command(shellcheck, "--shell=bash", "--severity=style", f).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("%s: shellcheck %s: %v\n%s", d.name, path, err, out)
			}
		}
	}
}

// TestDBStateHelperCompiles byte-compiles the Python helper with the system python3.
func TestDBStateHelperCompiles(t *testing.T) {
	py := requireTool(t, "/usr/bin/python3", "python3")
	for _, d := range documents(t) {
		files, _ := parseDocument(t, d)
		content := mustFile(t, d, files, DBStateHelperPath)
		if !strings.HasPrefix(content, "#!"+VenvDir+"/bin/python\n") {
			t.Errorf("%s: %s does not run with the venv's python", d.name, DBStateHelperPath)
		}
		dir := t.TempDir()
		f := filepath.Join(dir, "mlflow_db_state.py")
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, "-m", "py_compile", f)
		cmd.Env = append(os.Environ(), "PYTHONPYCACHEPREFIX="+filepath.Join(dir, "cache"))
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("%s: python3 -m py_compile %s: %v\n%s", d.name, DBStateHelperPath, err, out)
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on every unit (the service, the
// bootstrap, the password watch service and its timer) inside a scratch root holding the distribution's units, the two units, and a stub
// at each ExecStart; any output is a failure (it exits 0 on some ignored parse errors). It also
// asserts the directives the design relies on, among them TMPDIR=/var/tmp for the service
// (proxied artifact transfers are spooled through tempfile, and AL2023's /tmp is a tmpfs capped
// at half the RAM; PrivateTmp=yes makes /var/tmp private), and for the bootstrap unit: oneshot,
// retried every 30 s without a start limit, skipped once the bootstrap's done marker exists; for
// the service bounded restarts and no restart after the launcher's refusals (exit statuses
// ExitSchemaNewer and ExitUpgradeFailed, which TestLauncherRefusalsExitOnce checks).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "systemd")
	if _, err := os.Stat("/lib/systemd/system"); err != nil {
		t.Fatalf("/lib/systemd/system is missing: install the Debian package systemd (%v)", err)
	}
	units := []struct {
		name, path string
		want       []string
	}{
		{UnitName, UnitPath, []string{"[Unit]", "Wants=network-online.target", "After=network-online.target",
			"StartLimitIntervalSec=1h", "StartLimitBurst=20", "Wants=" + PasswordWatchTimerName,
			fmt.Sprintf("RestartPreventExitStatus=%d %d", ExitSchemaNewer, ExitUpgradeFailed), "[Service]", "User=" + ServiceUser, "Group=" + ServiceUser, "EnvironmentFile=" + EnvFilePath, "Environment=TMPDIR=/var/tmp",
			"ExecStart=" + LauncherPath, "Restart=always", "RestartSec=10", "StateDirectory=mlflow", "WorkingDirectory=" + StateDir,
			"UMask=0077", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "[Install]",
			"WantedBy=multi-user.target"}},
		{BootstrapUnitName, BootstrapUnitPath, []string{"[Unit]", "Wants=network-online.target", "After=network-online.target",
			"ConditionPathExists=!" + BootstrapDoneMarker, "StartLimitIntervalSec=0", "[Service]", "Type=oneshot", "RemainAfterExit=yes",
			"ExecStart=" + BootstrapPath, "Restart=on-failure", "RestartSec=30", "[Install]", "WantedBy=multi-user.target"}},
		{PasswordWatchServiceName, PasswordWatchServicePath, []string{"[Service]", "Type=oneshot", "EnvironmentFile=" + EnvFilePath,
			"ExecStart=" + LauncherPath + " watch-password"}},
		{PasswordWatchTimerName, PasswordWatchTimerPath, []string{"[Timer]", "OnActiveSec=5min", "OnUnitActiveSec=5min"}},
	}
	for _, d := range documents(t) {
		files, _ := parseDocument(t, d)
		units := units
		if _, ok := files[LogExportUnitPath]; ok {
			// The journal copy for the CloudWatch agent: its output is the copy.
			units = append(units, struct {
				name, path string
				want       []string
			}{LogExportUnitName, LogExportUnitPath, []string{"[Unit]", "StartLimitIntervalSec=0", "[Service]", "Type=exec",
				"StandardOutput=append:" + JournalLogPath, "Restart=always", "StateDirectory=" + filepath.Base(filepath.Dir(LogExportCursorPath)),
				"NoNewPrivileges=yes", "ProtectSystem=strict", "[Install]", "WantedBy=multi-user.target"}})
		}
		root := t.TempDir()
		if out, err := exec.Command("cp", "-a", "/lib/systemd/system", filepath.Join(mkdir(t, root, "usr/lib/systemd"), "system")).CombinedOutput(); err != nil {
			t.Fatalf("copy /lib/systemd/system: %v\n%s", err, out)
		}
		var names []string
		for _, u := range units {
			unit := mustFile(t, d, files, u.path)
			lines := map[string]bool{}
			for _, l := range strings.Split(unit, "\n") {
				lines[strings.TrimSpace(l)] = true
			}
			for _, w := range u.want {
				if !lines[w] {
					t.Errorf("%s: %s lacks the line %q", d.name, u.name, w)
				}
			}
			if u.name != LogExportUnitName && (strings.Contains(unit, "StandardOutput=") || strings.Contains(unit, "StandardError=")) {
				t.Errorf("%s: %s redirects output away from the journal", d.name, u.name)
			}
			if err := os.WriteFile(filepath.Join(mkdir(t, root, filepath.Dir(u.path)), filepath.Base(u.path)), []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(unit, "\n") {
				if exe, ok := strings.CutPrefix(l, "ExecStart="); ok {
					exe, _, _ = strings.Cut(exe, " ") // the program; its arguments follow
					mkdir(t, root, filepath.Dir(exe))
					if err := testenv.WriteExecutable(filepath.Join(root, exe), []byte("#!/bin/sh\nexit 0\n")); err != nil {
						t.Fatal(err)
					}
				}
			}
			names = append(names, u.name)
		}
		stdout, stderr, err := run(t, time.Minute, os.Environ(), "", analyze, append([]string{"verify", "--root=" + root}, names...)...)
		if err != nil || stdout != "" || stderr != "" {
			t.Errorf("%s: systemd-analyze verify %s: %v\n%s%s", d.name, strings.Join(names, " "), err, stdout, stderr)
		}
	}
}

func mkdir(t *testing.T, root, rel string) string {
	t.Helper()
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
