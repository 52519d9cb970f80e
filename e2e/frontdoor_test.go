package e2e

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// frontDoorDomain is the domainName of the front-door launch under test.
const frontDoorDomain = "mlflow.example.com"

// TestRealMLflowBehindFrontDoor (C7 behind a load balancer): the dev stack's launch as a stack
// with domainName renders it (its allowed hosts are components.LaunchAllowedHosts with the
// front door, which the mocked-graph TestFrontDoor checks against the launch template's user
// data), started by the real launcher with the real `mlflow server` (auth basic) against
// PostgreSQL with TLS and moto with the instance role, then:
//   - what the Application Load Balancer forwards after TLS (Host mlflow.example.com, with or
//     without :443, X-Forwarded-Proto https) answers 200, and a POST with the browser's Origin
//     https://mlflow.example.com succeeds; Origin https://evil.example is refused (403);
//   - the health check as the load balancer sends it (Host the server's private IP and port,
//     from IMDS, no credentials) gets 200 on /health;
//   - Host evil.example and the Elastic IP that a front-door server does not have get 403;
//   - the real MLflow client, through a loopback reverse proxy that does what the load balancer
//     does (Host mlflow.example.com, X-Forwarded-Proto https), logs a run with a metric and an
//     artifact and reads them back.
//
// Everything listens on 127.0.0.1 and is stopped by the test, also on failure.
func TestRealMLflowBehindFrontDoor(t *testing.T) {
	_, _, params := devDocuments(t, oldestRelease)
	params.AllowedHosts = components.LaunchAllowedHosts(&components.TrackingServerArgs{
		FrontDoor: &components.FrontDoorArgs{DomainName: frontDoorDomain}}, "", "")
	auth := userdata.AuthParams{AdminUsername: "mlflow-admin", DefaultPermission: "READ", ProductionAlias: "production",
		StagingAlias: "staging", ParameterPath: "/mlflow-aws/dev/auth", SecretKeyParameterName: "/mlflow-aws/dev/flask-secret-key"}
	if params.Auth != nil {
		auth = *params.Auth
	}
	params.Auth = &auth
	doc := render(t, params)
	if got := doc.env(t)[userdata.EnvAllowedHosts]; !strings.Contains(","+got+",", ","+frontDoorDomain+",") ||
		!strings.Contains(got, frontDoorDomain+":443") || strings.Contains(got, "203.0.113.10") {
		t.Fatalf("front-door launch allows %q; want the domain bare and with :443 and no Elastic IP", got)
	}

	const privateIP = "172.31.16.10"
	tb := startTestbed(t, params, privateIP)
	cloud := tb.cloud
	secrets := cloud.putAuthSecrets(t, &auth)
	lk, keys := cloud.putBootstrapObjects(t, params.MLflowVersion)
	role := cloud.instanceRole(t, keys)
	venv, _, _ := bootstrap(t, doc, cloud, role, lk, tb.caURL, tb.curlCA, tb.caDest)
	s := launch(t, doc, cloud, role, venv, tb.overrides)

	// do sends one request as the load balancer forwards it (after TLS, to the target).
	do := func(method, path, host, origin, body string, creds bool) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Host = host
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Port", "443")
		req.Header.Set("X-Forwarded-For", "203.0.113.50")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if creds {
			req.SetBasicAuth(auth.AdminUsername, secrets.admin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s with Host %s: %v", method, path, host, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const get = "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
	for _, host := range []string{frontDoorDomain, frontDoorDomain + ":443"} {
		if code := do(http.MethodGet, get, host, "", "", true); code != http.StatusOK {
			t.Errorf("C7: Host %q (the load balancer's forward) got %d, want 200", host, code)
		}
	}
	for _, host := range []string{"evil.example", "203.0.113.10", "203.0.113.10:5000"} {
		if code := do(http.MethodGet, get, host, "", "", true); code != http.StatusForbidden {
			t.Errorf("Host %q got %d, want 403", host, code)
		}
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(s.url, "http://"), ":")
	// The health check: the target's private address and port (the launcher allows them from
	// IMDS; on the instance the port is 5000), no credentials.
	for _, host := range []string{privateIP + ":" + port, privateIP} {
		if code := do(http.MethodGet, components.HealthCheckPath, host, "", "", false); code != http.StatusOK {
			t.Errorf("health check with Host %q got %d, want 200", host, code)
		}
	}
	create := func(name string) string { return `{"name":"` + name + `"}` }
	stamp := time.Now().Format("150405.000")
	if code := do(http.MethodPost, "/api/2.0/mlflow/experiments/create", frontDoorDomain, "https://"+frontDoorDomain, create("front-door-"+stamp), true); code != http.StatusOK {
		t.Errorf("POST with Origin https://%s got %d, want 200", frontDoorDomain, code)
	}
	if code := do(http.MethodPost, "/api/2.0/mlflow/experiments/create", frontDoorDomain, "https://evil.example", create("front-door-evil-"+stamp), true); code != http.StatusForbidden {
		t.Errorf("POST with Origin https://evil.example got %d, want 403", code)
	}

	// The load balancer reuses idle connections to a target for up to its idle timeout: the
	// server must keep them open longer (the unit's UVICORN_TIMEOUT_KEEP_ALIVE), or a reused
	// connection meets a close (502). uvicorn's default, 5 s, fails this.
	requireKeepAlive(t, s, frontDoorDomain, 8*time.Second)

	// The real client through what the load balancer does to a request.
	target, _ := url.Parse(s.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	direct := proxy.Director
	proxy.Director = func(r *http.Request) {
		direct(r)
		r.Host = frontDoorDomain
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Port", "443")
	}
	door := httptest.NewServer(proxy)
	t.Cleanup(door.Close)
	script := `
import filecmp, os, sys, tempfile
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_experiment("front-door-client")
src = os.path.join(tempfile.mkdtemp(), "note.txt")
with open(src, "w") as f:
    f.write("through the front door\n" * 1000)
with mlflow.start_run() as run:
    mlflow.log_param("door", "alb")
    mlflow.log_metric("m", 1.5)
    mlflow.log_artifact(src)
c = MlflowClient()
r = c.get_run(run.info.run_id)
assert r.data.params["door"] == "alb" and r.data.metrics["m"] == 1.5, r.data
dst = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="note.txt", dst_path=tempfile.mkdtemp())
assert filecmp.cmp(src, dst, shallow=False)
print("run", run.info.run_id, "ok")
`
	env := clientEnv(t, &server{url: door.URL}, "MLFLOW_TRACKING_USERNAME="+auth.AdminUsername, "MLFLOW_TRACKING_PASSWORD="+secrets.admin)
	stdout, stderr, err := testenv.Run(t, 5*time.Minute, env, "", filepath.Join(venv, "bin", "python"), "-c", script)
	if err != nil {
		t.Fatalf("the client through the front door failed: %v\n%s%s\nserver log (tail):\n%s", err, stdout, stderr, s.logs.Tail(6000))
	}
	t.Logf("client through the front door (Host %s): %s", frontDoorDomain, strings.TrimSpace(stdout))
	if out, err := exec.Command(filepath.Join(venv, "bin", "mlflow"), "--version").CombinedOutput(); err != nil {
		t.Fatalf("mlflow --version: %v %s", err, out)
	} else {
		t.Logf("%s, port %s", strings.TrimSpace(string(out)), strconv.Quote(port))
	}
}

// requireKeepAlive sends /health twice on one connection, idle for idle in between, and fails
// unless both get 200: the server keeps an idle keep-alive connection open at least that long.
func requireKeepAlive(t *testing.T, s *server, host string, idle time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	for i := range 2 {
		if i == 1 {
			time.Sleep(idle)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write([]byte("GET /health HTTP/1.1\r\nHost: " + host + "\r\nConnection: keep-alive\r\n\r\n")); err != nil {
			t.Fatalf("request %d on one connection: %v", i+1, err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("request %d on one connection (idle %v before it): %v; the server closed an idle connection a load balancer would reuse", i+1, idle, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d on one connection: %d", i+1, resp.StatusCode)
		}
	}
}
