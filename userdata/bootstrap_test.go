package userdata

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	"github.com/mlflow-aws/mlflow-aws/server"
)

// TestBootstrapFetchesRDSCABundle runs the bootstrap's real fetch_ca_bundle (with its log) against
// an HTTPS server on 127.0.0.1 (curl trusts it through CURL_CA_BUNDLE; nothing leaves loopback):
// a PEM with a certificate is installed at the destination with mode 0644 even under umask 077,
// also when the first download is cut off mid-body (--retry-all-errors retries it); a download
// that fails (404), holds no certificate, or is not https (--proto =https) exits non-zero with
// one mlflow-bootstrap line naming the URL, leaves an existing bundle unchanged and no temporary
// file behind (after curl's 5 retries: --retry-all-errors retries a 404 too).
func TestBootstrapFetchesRDSCABundle(t *testing.T) {
	t.Parallel()
	requireTool(t, "curl", "curl")
	funcs := sourced(t, BootstrapPath)

	var plainRequests, flakyRequests atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/global/global-bundle.pem":
			w.Write([]byte(testBundle))
		case "/global/flaky-bundle.pem":
			// The first answer promises the whole bundle, sends half and drops the connection.
			if flakyRequests.Add(1) == 1 {
				w.Header().Set("Content-Length", strconv.Itoa(len(testBundle)))
				w.Write([]byte(testBundle[:len(testBundle)/2]))
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			w.Write([]byte(testBundle))
		case "/global/not-a-bundle.pem":
			w.Write([]byte("<html><body>Access Denied</body></html>\n"))
		default:
			http.NotFound(w, r)
		}
	})
	tlsSrv := httptest.NewTLSServer(handler)
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainRequests.Add(1)
		handler(w, r)
	}))
	t.Cleanup(plainSrv.Close)
	dir := t.TempDir()
	serverCA := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// The command is the bootstrap's, but a ~/.curlrc sets --retry-delay 1: each of the 5 retries
	// waits 1 s instead of backing off 1, 2, 4, 8, 16 s, so a failing case takes ~5 s, not ~31 s.
	fetch := func(t *testing.T, url, dest string) (string, string, error) {
		t.Helper()
		home := t.TempDir()
		if err := os.WriteFile(filepath.Join(home, ".curlrc"), []byte("retry-delay = 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + home, "CURL_CA_BUNDLE=" + serverCA}
		return run(t, time.Minute, env, "", "/bin/bash", "-c", "set -euo pipefail; umask 077\n"+funcs+`fetch_ca_bundle "$1" "$2"`, "bash", url, dest)
	}
	installed := func(t *testing.T, dest string) {
		t.Helper()
		b, err := os.ReadFile(dest)
		if err != nil || string(b) != testBundle {
			t.Fatalf("%s holds %q (err %v), want the served bundle", dest, b, err)
		}
		if info, _ := os.Stat(dest); info.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", dest, info.Mode().Perm())
		}
		if _, err := os.Stat(dest + ".tmp"); err == nil {
			t.Errorf("%s.tmp left behind", dest)
		}
	}

	t.Run("installs a bundle", func(t *testing.T) {
		t.Parallel()
		dest := filepath.Join(t.TempDir(), "rds-ca-bundle.pem")
		stdout, stderr, err := fetch(t, tlsSrv.URL+"/global/global-bundle.pem", dest)
		if err != nil || stdout != "" || stderr != "" {
			t.Fatalf("fetch_ca_bundle: err=%v stdout=%q stderr=%q", err, stdout, stderr)
		}
		installed(t, dest)
	})
	t.Run("retries a download cut off mid-body", func(t *testing.T) {
		t.Parallel()
		dest := filepath.Join(t.TempDir(), "rds-ca-bundle.pem")
		stdout, stderr, err := fetch(t, tlsSrv.URL+"/global/flaky-bundle.pem", dest)
		if err != nil || stdout != "" || strings.Contains(stderr, "mlflow-bootstrap: ") {
			t.Fatalf("fetch_ca_bundle: err=%v stdout=%q stderr=%q", err, stdout, stderr)
		}
		if n := flakyRequests.Load(); n != 2 {
			t.Errorf("%d requests for the cut-off bundle, want 2 (one retry)", n)
		}
		installed(t, dest)
	})

	for _, c := range []struct{ name, url string }{
		{"404", tlsSrv.URL + "/global/missing.pem"},
		{"no certificate in it", tlsSrv.URL + "/global/not-a-bundle.pem"},
		{"plain http", plainSrv.URL + "/global/global-bundle.pem"},
	} {
		t.Run("fails on "+c.name, func(t *testing.T) {
			t.Parallel()
			dest := filepath.Join(t.TempDir(), "rds-ca-bundle.pem")
			const old = "previous bundle\n"
			if err := os.WriteFile(dest, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := fetch(t, c.url, dest)
			if err == nil || stdout != "" {
				t.Errorf("fetch_ca_bundle %s: err=%v stdout=%q, want a non-zero exit", c.url, err, stdout)
			}
			var logLines []string
			for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
				if strings.HasPrefix(l, "mlflow-bootstrap: ") {
					logLines = append(logLines, l)
				}
			}
			if len(logLines) != 1 || !strings.Contains(logLines[0], c.url) {
				t.Errorf("fetch_ca_bundle %s logged %q, want one mlflow-bootstrap line naming the URL\nstderr:\n%s", c.url, logLines, stderr)
			}
			if b, _ := os.ReadFile(dest); string(b) != old {
				t.Errorf("the existing bundle was replaced by %q", b)
			}
			if _, err := os.Stat(dest + ".tmp"); err == nil {
				t.Errorf("%s.tmp left behind", dest)
			}
			if c.name == "plain http" && plainRequests.Load() != 0 {
				t.Errorf("curl sent a plain http request despite --proto =https")
			}
		})
	}
}

// TestBootstrapStartsServiceWithoutWaiting runs the bootstrap's real start_service (it runs
// inside the bootstrap unit, so it must never wait for a start job) against a stub systemctl
// that records its arguments: it reloads, enables the service and queues a start (--no-block),
// or a restart (--no-block) when the service is already active (a re-run by hand); a failing
// systemctl stops it with a non-zero exit before anything is started, so the done marker (the
// bootstrap's last command, after start_service) is not written.
func TestBootstrapStartsServiceWithoutWaiting(t *testing.T) {
	t.Parallel()
	funcs := sourced(t, BootstrapPath)
	const stub = `#!/bin/bash
printf '%s\n' "$*" >>"$STUB_CALLS"
case "$1" in
  is-active) [[ "$STUB_ACTIVE" == yes ]] ;;
  "$STUB_FAIL") echo "systemctl $1 failed" >&2; exit 1 ;;
esac
`
	for _, c := range []struct {
		name, active, fail string
		wantOK             bool
		want               []string
	}{
		{"inactive", "no", "", true, []string{"daemon-reload", "enable " + UnitName, "is-active --quiet " + UnitName, "start --no-block " + UnitName}},
		{"active", "yes", "", true, []string{"daemon-reload", "enable " + UnitName, "is-active --quiet " + UnitName, "restart --no-block " + UnitName}},
		{"enable fails", "no", "enable", false, []string{"daemon-reload", "enable " + UnitName}},
		{"start fails", "no", "start", false, []string{"daemon-reload", "enable " + UnitName, "is-active --quiet " + UnitName, "start --no-block " + UnitName}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			bin := mkdir(t, dir, "bin")
			if err := testenv.WriteExecutable(filepath.Join(bin, "systemctl"), []byte(stub)); err != nil {
				t.Fatal(err)
			}
			calls := filepath.Join(dir, "calls")
			marker := filepath.Join(dir, "done")
			env := []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C", "STUB_CALLS=" + calls, "STUB_ACTIVE=" + c.active, "STUB_FAIL=" + c.fail}
			_, stderr, err := run(t, 10*time.Second, env, "", "/bin/bash", "-c", "set -euo pipefail\n"+funcs+`start_service "$1"; touch "$2"`, "bash", UnitName, marker)
			if (err == nil) != c.wantOK {
				t.Errorf("start_service: err=%v, want success %v\nstderr:\n%s", err, c.wantOK, stderr)
			}
			b, _ := os.ReadFile(calls)
			if got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); !slices.Equal(got, c.want) {
				t.Errorf("systemctl calls\n got %q\nwant %q", got, c.want)
			}
			if _, err := os.Stat(marker); (err == nil) != c.wantOK {
				t.Errorf("done marker written: %v, want %v", err == nil, c.wantOK)
			}
		})
	}
}

// testBundle stands in for the RDS bundle: fetch_ca_bundle only checks for a certificate block.
const testBundle = "-----BEGIN CERTIFICATE-----\nTUlJQ2Zha2U=\n-----END CERTIFICATE-----\n"

// testWheel writes a minimal pure-Python wheel (PEP 427) of package demo 1.0 into dir and
// returns its file name and SHA-256: enough for pip to install offline from a find-links dir.
func testWheel(t *testing.T, dir string) (string, string) {
	t.Helper()
	const name = "demo-1.0-py3-none-any.whl"
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := map[string]string{
		"demo/__init__.py":                 "VALUE = 42\n",
		"demo-1.0.dist-info/METADATA":      "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
		"demo-1.0.dist-info/WHEEL":         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"demo-1.0.dist-info/top_level.txt": "demo\n",
	}
	var record strings.Builder
	for _, p := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[p]))
		sum := sha256.Sum256([]byte(files[p]))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", p, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[p]))
	}
	record.WriteString("demo-1.0.dist-info/RECORD,,\n")
	w, _ := zw.Create("demo-1.0.dist-info/RECORD")
	w.Write([]byte(record.String()))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return name, hex.EncodeToString(sum[:])
}

// TestBootstrapRepairsAnInterruptedVenv (case C11, of its whole kind): the bootstrap's real
// build_venv, with the document's lock constants replaced by a one-package test lock (a local
// wheel; pip installs it offline with --require-hashes, PIP_NO_INDEX and PIP_FIND_LINKS) and a stub
// `aws` serving it, turns every state an interrupted or earlier run can leave at the venv path
// into a complete venv holding the lock's digest: nothing there, an empty directory, a venv
// without pip (an interrupted `python -m venv`), a venv whose install was cut off (no marker), a
// venv of another lock; a venv already built from this lock is kept as it is; a lock whose
// SHA-256 differs is refused and nothing is installed.
func TestBootstrapRepairsAnInterruptedVenv(t *testing.T) {
	t.Parallel()
	python := testenv.RequireTool(t, "python3.11", "CPython 3.11: "+testenv.InstallHint)
	wheels := t.TempDir()
	_, wheelSHA := testWheel(t, wheels)
	lockText := "demo==1.0 \\\n    --hash=sha256:" + wheelSHA + "\n"
	lockSum := sha256.Sum256([]byte(lockText))
	lockSHA := hex.EncodeToString(lockSum[:])
	lockFile := filepath.Join(t.TempDir(), "lock.txt")
	if err := os.WriteFile(lockFile, []byte(lockText), 0o644); err != nil {
		t.Fatal(err)
	}
	wheel, err := server.BuildWheel()
	if err != nil {
		t.Fatal(err)
	}
	wheelFile := filepath.Join(t.TempDir(), wheel.FileName)
	if err := os.WriteFile(wheelFile, wheel.Content, 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.txt")
	if err := os.WriteFile(tampered, []byte(lockText+"# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The document's script with only its lock digest replaced by the test lock's.
	docs := documents(t)
	files, _ := parseDocument(t, docs[0])
	boot := mustFile(t, docs[0], files, BootstrapPath)
	i := strings.Index(boot, "\nreadonly lock_sha256='")
	j := strings.Index(boot[i+1:], "\n")
	if i < 0 || j < 0 {
		t.Fatal("the bootstrap has no readonly lock_sha256 line")
	}
	script := filepath.Join(t.TempDir(), "mlflow-bootstrap")
	if err := testenv.WriteExecutable(script, []byte(boot[:i+1]+"readonly lock_sha256='"+lockSHA+"'"+boot[i+1+j:])); err != nil {
		t.Fatal(err)
	}

	// buildVenv runs build_venv at venv with the stub aws serving served as the lock (and the
	// real plugin wheel for the .whl key); sleep is stubbed so the bootstrap's retries do not wait.
	buildVenv := func(t *testing.T, venv, served string) (string, error) {
		t.Helper()
		bin := mkdir(t, t.TempDir(), "bin")
		for name, body := range map[string]string{
			"aws": "#!/bin/bash\n[[ \"$1 $2\" == 's3 cp' && \" $* \" == *\" --region \"* ]] || exit 2\n" +
				"case \"${@: -2:1}\" in *.whl) src=" + strconv.Quote(wheelFile) + " ;; *) src=" + strconv.Quote(served) + " ;; esac\n" +
				"cp \"$src\" \"${@: -1}\"\n",
			"sleep": "#!/bin/bash\nexit 0\n",
		} {
			if err := testenv.WriteExecutable(filepath.Join(bin, name), []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		env := []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir(), "LC_ALL=C.UTF-8", "MLFLOW_VENV=" + venv,
			"MLFLOW_PYTHON=" + python, "PIP_NO_INDEX=1", "PIP_FIND_LINKS=" + wheels}
		_, stderr, err := run(t, 5*time.Minute, env, "", "/bin/bash", "-c", "source \"$1\"; build_venv", "bash", script)
		return stderr, err
	}
	mkVenv := func(t *testing.T, venv string, args ...string) {
		t.Helper()
		if out, err := exec.Command(python, append([]string{"-m", "venv"}, append(args, venv)...)...).CombinedOutput(); err != nil {
			t.Fatalf("python -m venv: %v\n%s", err, out)
		}
	}
	complete := func(t *testing.T, venv string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(venv, VenvLockMarker)); err != nil || strings.TrimSpace(string(b)) != lockSHA+" "+wheel.SHA256 {
			t.Errorf("marker %q (err %v), want the lock's and the plugin's SHA-256", b, err)
		}
		if _, err := os.Stat(filepath.Join(venv, "bin", server.BootstrapCommand)); err != nil {
			t.Errorf("the plugin is not installed: %v", err)
		}
		if out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import demo; print(demo.VALUE)").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "42" {
			t.Errorf("the venv cannot import the locked package: %v %s", err, out)
		}
	}

	for _, c := range []struct {
		name  string
		setup func(t *testing.T, venv string)
	}{
		{"nothing there", func(t *testing.T, venv string) {}},
		{"an empty directory", func(t *testing.T, venv string) { mkdir(t, venv, ".") }},
		{"a venv without pip (python -m venv cut off)", func(t *testing.T, venv string) { mkVenv(t, venv, "--without-pip") }},
		{"an install cut off (pip, no marker, half a package)", func(t *testing.T, venv string) {
			mkVenv(t, venv)
			mkdir(t, venv, "lib/python3.11/site-packages/demo")
		}},
		{"a venv of another lock", func(t *testing.T, venv string) {
			mkVenv(t, venv)
			if err := os.WriteFile(filepath.Join(venv, VenvLockMarker), []byte(strings.Repeat("0", 64)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			venv := filepath.Join(t.TempDir(), "venv")
			c.setup(t, venv)
			if stderr, err := buildVenv(t, venv, lockFile); err != nil {
				t.Fatalf("build_venv: %v\n%s", err, stderr)
			}
			complete(t, venv)
		})
	}

	t.Run("a built venv is kept", func(t *testing.T) {
		t.Parallel()
		venv := filepath.Join(t.TempDir(), "venv")
		if stderr, err := buildVenv(t, venv, lockFile); err != nil {
			t.Fatalf("build_venv: %v\n%s", err, stderr)
		}
		sentinel := filepath.Join(venv, "sentinel")
		if err := os.WriteFile(sentinel, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		stderr, err := buildVenv(t, venv, tampered) // a rebuild would fetch, and refuse, this lock
		if err != nil || !strings.Contains(stderr, "already holds the lock") {
			t.Fatalf("second build_venv: %v\n%s", err, stderr)
		}
		if _, err := os.Stat(sentinel); err != nil {
			t.Errorf("the built venv was rebuilt")
		}
		complete(t, venv)
	})

	t.Run("a lock with another SHA-256 is refused", func(t *testing.T) {
		t.Parallel()
		venv := filepath.Join(t.TempDir(), "venv")
		stderr, err := buildVenv(t, venv, tampered)
		if err == nil || !strings.Contains(stderr, "does not have SHA-256 "+lockSHA+": refusing it") {
			t.Fatalf("build_venv with a tampered lock: err %v\n%s", err, stderr)
		}
		if _, err := os.Stat(filepath.Join(venv, "lib", "python3.11", "site-packages", "demo")); err == nil {
			t.Errorf("the tampered lock's package was installed")
		}
		if _, err := os.Stat(filepath.Join(venv, VenvLockMarker)); err == nil {
			t.Errorf("a venv without the lock's packages holds the marker")
		}
	})

}
