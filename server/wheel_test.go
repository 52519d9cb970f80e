package server

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

// TestWheelMatchesPyproject: the version and entry points the wheel declares are the ones
// pyproject.toml declares (pip install -e for the Python tests reads pyproject.toml; the instance
// installs the wheel).
func TestWheelMatchesPyproject(t *testing.T) {
	b, err := os.ReadFile("pyproject.toml")
	if err != nil {
		t.Fatal(err)
	}
	py := string(b)
	for _, want := range []string{`version = "` + Version + `"`, `name = "mlflow-aws-auth"`,
		"[project.entry-points.\"mlflow.app\"]\n" + AppName + ` = "mlflow_aws_auth.app:create_app"`,
		"[project.scripts]\n" + BootstrapCommand + ` = "mlflow_aws_auth.bootstrap:main"`} {
		if !strings.Contains(py, want) {
			t.Errorf("pyproject.toml lacks %q, which the wheel declares", want)
		}
	}
}

// TestWheelIsReproducibleAndInstalls: two builds are byte-identical; pip installs the wheel with
// --require-hashes --no-deps into a fresh venv (offline, from the file); the installed package
// carries every source file, the mlflow.app entry point MLflow's --app-name looks up, and the
// bootstrap console script.
func TestWheelIsReproducibleAndInstalls(t *testing.T) {
	a, err := BuildWheel()
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildWheel()
	if err != nil || !bytes.Equal(a.Content, b.Content) || a.SHA256 != b.SHA256 {
		t.Fatalf("two builds differ (err %v)", err)
	}
	if want := "bootstrap/" + a.SHA256[:12] + "/mlflow_aws_auth-" + Version + "-py3-none-any.whl"; a.ObjectKey() != want {
		t.Errorf("ObjectKey = %q, want %q", a.ObjectKey(), want)
	}
	python := testenv.RequireTool(t, "python3.11", "CPython 3.11: "+testenv.InstallHint)
	dir := t.TempDir()
	whl := filepath.Join(dir, a.FileName)
	if err := os.WriteFile(whl, a.Content, 0o644); err != nil {
		t.Fatal(err)
	}
	venv := filepath.Join(dir, "venv")
	if out, err := exec.Command(python, "-m", "venv", venv).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	req := filepath.Join(dir, "req.txt")
	if err := os.WriteFile(req, []byte("mlflow-aws-auth @ file://"+whl+" --hash=sha256:"+a.SHA256+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "PIP_NO_INDEX=1"}
	if out, stderr, err := testenv.Run(t, 3*time.Minute, env, "", filepath.Join(venv, "bin", "python"), "-m", "pip", "install",
		"--disable-pip-version-check", "--require-hashes", "--no-deps", "-r", req); err != nil {
		t.Fatalf("pip install: %v\n%s%s", err, out, stderr)
	}
	const probe = `import importlib.metadata as m, importlib.util as u, pathlib
eps = {(e.group, e.name): e.value for e in m.distribution("mlflow-aws-auth").entry_points}
print(eps[("mlflow.app", "mlflow-aws")])
pkg = pathlib.Path(u.find_spec("mlflow_aws_auth").origin).parent
print(" ".join(sorted(p.name for p in pkg.glob("*.py"))))`
	out, stderr, err := testenv.Run(t, time.Minute, env, "", filepath.Join(venv, "bin", "python"), "-c", probe)
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, stderr)
	}
	srcs, _ := filepath.Glob(filepath.Join("src", "mlflow_aws_auth", "*.py"))
	var names []string
	for _, s := range srcs {
		names = append(names, filepath.Base(s))
	}
	if want := "mlflow_aws_auth.app:create_app\n" + strings.Join(names, " ") + "\n"; out != want {
		t.Errorf("installed wheel: %q, want %q", out, want)
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", BootstrapCommand)); err != nil {
		t.Errorf("no %s console script: %v", BootstrapCommand, err)
	}
}
