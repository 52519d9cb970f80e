package userdata

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// bashFunction returns the definition of the bash function name in script ("name() {" up to the
// first line that is exactly "}"), or fails.
func bashFunction(t *testing.T, script, name string) string {
	t.Helper()
	start := strings.Index(script, "\n"+name+"() {\n")
	if start < 0 {
		t.Fatalf("script defines no function %s", name)
	}
	end := strings.Index(script[start:], "\n}\n")
	if end < 0 {
		t.Fatalf("function %s does not end with a line }", name)
	}
	return script[start+1 : start+end+3]
}

// TestBootstrapFetchesRDSCABundle runs the bootstrap's real fetch_ca_bundle (with its log) against
// an HTTPS server on 127.0.0.1 (curl trusts it through CURL_CA_BUNDLE; nothing leaves loopback):
// a PEM with a certificate is installed at the destination with mode 0644 even under umask 077;
// a download that fails (404), holds no certificate, or is not https (--proto =https) exits
// non-zero with one mlflow-bootstrap line naming the URL, leaves an existing bundle unchanged
// and no temporary file behind.
func TestBootstrapFetchesRDSCABundle(t *testing.T) {
	t.Parallel()
	requireTool(t, "curl", "curl")
	d := documents(t)[0]
	files, _ := parseDocument(t, d)
	boot := mustFile(t, d, files, BootstrapPath)
	funcs := bashFunction(t, boot, "log") + bashFunction(t, boot, "fetch_ca_bundle")
	for _, other := range documents(t)[1:] {
		f, _ := parseDocument(t, other)
		if b := mustFile(t, other, f, BootstrapPath); bashFunction(t, b, "fetch_ca_bundle") != bashFunction(t, boot, "fetch_ca_bundle") {
			t.Errorf("%s: fetch_ca_bundle differs from %s's", other.name, d.name)
		}
	}

	var requests atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/global/global-bundle.pem":
			w.Write([]byte(testBundle))
		case "/global/not-a-bundle.pem":
			w.Write([]byte("<html><body>Access Denied</body></html>\n"))
		default:
			http.NotFound(w, r)
		}
	})
	tlsSrv := httptest.NewTLSServer(handler)
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(handler)
	t.Cleanup(plainSrv.Close)
	dir := t.TempDir()
	serverCA := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	fetch := func(t *testing.T, url, dest string) (string, string, error) {
		t.Helper()
		env := []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + t.TempDir(), "CURL_CA_BUNDLE=" + serverCA}
		return run(t, time.Minute, env, "", "/bin/bash", "-c", "set -euo pipefail; umask 077\n"+funcs+`fetch_ca_bundle "$1" "$2"`, "bash", url, dest)
	}

	t.Run("installs a bundle", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "rds-ca-bundle.pem")
		stdout, stderr, err := fetch(t, tlsSrv.URL+"/global/global-bundle.pem", dest)
		if err != nil || stdout != "" || stderr != "" {
			t.Fatalf("fetch_ca_bundle: err=%v stdout=%q stderr=%q", err, stdout, stderr)
		}
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
	})

	for _, c := range []struct{ name, url string }{
		{"404", tlsSrv.URL + "/global/missing.pem"},
		{"no certificate in it", tlsSrv.URL + "/global/not-a-bundle.pem"},
		{"plain http", plainSrv.URL + "/global/global-bundle.pem"},
	} {
		t.Run("fails on "+c.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "rds-ca-bundle.pem")
			const old = "previous bundle\n"
			if err := os.WriteFile(dest, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			before := requests.Load()
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
			if c.name == "plain http" && requests.Load() != before {
				t.Errorf("curl sent a plain http request despite --proto =https")
			}
		})
	}
}

// testBundle stands in for the RDS bundle: fetch_ca_bundle only checks for a certificate block.
const testBundle = "-----BEGIN CERTIFICATE-----\nTUlJQ2Zha2U=\n-----END CERTIFICATE-----\n"
