package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// benchWindow is how long each log_batch load level runs, warmup the discarded warm-up before
// them; every loop is bounded by these.
const (
	benchWindow = 15 * time.Second
	warmup      = 10 * time.Second
)

// BenchmarkLaunchVsSeed compares, in one run on this machine, our launch of the dev stack (the
// rendered launcher: proxied artifacts, sized workers, verify-full TLS, SSM password) with the
// seed's plain one (`mlflow server -h 127.0.0.1 -p PORT --backend-store-uri
// postgresql+psycopg2://user:pass@host/db --default-artifact-root s3://...`, MLflow's defaults
// otherwise),
// same MLflow, same PostgreSQL, same moto:
//
//   - log_batch requests/s and p50/p99 latency at 1, 4 and 16 concurrent clients (Go clients
//     over loopback, benchWindow each, 10 metrics per request);
//   - time from process start to /health 200;
//   - RSS per uvicorn worker (after the load);
//   - proxied artifact upload and download MB/s (MLflow client through our server) against a
//     direct S3 put and get of the same file to moto (boto3).
//
// It runs once whatever b.N is (make bench passes -benchtime 1x) and ends with one summary line
// starting "bench:". Results are kept in docs/performance.md.
func BenchmarkLaunchVsSeed(b *testing.B) {
	_, _, params := devDocuments(b, oldestRelease)
	// The seed has no authentication; ours runs without it too, so the comparison is the launch.
	params.Auth = nil
	dev := render(b, params)
	tb := startTestbed(b, params, "172.31.16.10")
	pg, pw, cloud := tb.pg, tb.password, tb.cloud
	pg.SQL(b, "postgres", "CREATE DATABASE seed_data OWNER "+params.DatabaseUser+";\n")
	bucket := cloud.bucket
	lk, keys := cloud.putBootstrapObjects(b, params.MLflowVersion)
	role := cloud.instanceRole(b, keys)
	venv, _, _ := bootstrap(b, dev, cloud, role, lk, tb.caURL, tb.curlCA, tb.caDest)

	started := time.Now()
	ours := launch(b, dev, cloud, role, venv, tb.overrides)
	oursStart := time.Since(started)
	started = time.Now()
	// The seed's URI with its password, but with the driver named: a bare postgresql:// means
	// psycopg 3 to SQLAlchemy 2.1, which the lock does not install (see BackendStoreScheme).
	seed := launchSeed(b, cloud, role, venv, fmt.Sprintf(userdata.BackendStoreScheme+"://%s:%s@127.0.0.1:%d/seed_data",
		params.DatabaseUser, url.QueryEscape(pw), pg.Port), "s3://"+bucket+"/seed")
	seedStart := time.Since(started)
	b.Logf("start to /health 200: ours %.1f s (SSM read, database check, workers %s), seed %.1f s",
		oursStart.Seconds(), strconv.Itoa(len(workerRSSMiB(b, ours.cmd.Process.Pid))), seedStart.Seconds())

	// Every worker's first requests pay MLflow's lazy imports; warm both up before measuring.
	logBatchLoad(b, ours.url, 16, warmup)
	logBatchLoad(b, seed.url, 16, warmup)
	var ratio16 float64
	for _, clients := range []int{1, 4, 16} {
		o := logBatchLoad(b, ours.url, clients, benchWindow)
		s := logBatchLoad(b, seed.url, clients, benchWindow)
		b.Logf("log_batch at %2d clients: ours %6.1f req/s p50 %5.1f ms p99 %6.1f ms | seed %6.1f req/s p50 %5.1f ms p99 %6.1f ms",
			clients, o.rps, o.p50, o.p99, s.rps, s.p50, s.p99)
		if clients == 16 {
			ratio16 = o.rps / s.rps
		}
	}
	oursRSS, seedRSS := workerRSSMiB(b, ours.cmd.Process.Pid), workerRSSMiB(b, seed.cmd.Process.Pid)
	b.Logf("RSS per worker: ours %v MiB, seed %v MiB; whole server (every process): ours %.0f MiB, seed %.0f MiB",
		oursRSS, seedRSS, groupRSSMiB(ours.cmd.Process.Pid), groupRSSMiB(seed.cmd.Process.Pid))

	up, down := artifactThroughput(b, venv, ours, cloud)
	b.Logf("artifacts, 100 MiB: proxied upload %.1f MB/s, download %.1f MB/s; direct S3 put %.1f MB/s, get %.1f MB/s",
		up.proxied, down.proxied, up.direct, down.direct)
	fmt.Printf("bench: log_batch ours/seed %.2f at 16 clients; start-to-health %.1f s; RSS/worker %.0f MiB; proxied/direct upload %.2f\n",
		ratio16, oursStart.Seconds(), mean(oursRSS), up.proxied/up.direct)
}

// launchSeed starts the seed's plain server: the password in the URI, an s3:// default artifact
// root, MLflow's default workers and hosts; bound to 127.0.0.1 (loopback only, unlike the seed's
// 0.0.0.0). It is stopped in t.Cleanup.
func launchSeed(t testing.TB, c *cloud, role []string, venv, backendURI, artifactRoot string) *server {
	t.Helper()
	port := testenv.FreePort(t)
	cmd := exec.Command(filepath.Join(venv, "bin", "mlflow"), "server", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"--backend-store-uri", backendURI, "--default-artifact-root", artifactRoot)
	cmd.Env = c.env(t.TempDir(), role)
	return startServer(t, cmd, port, "the seed server")
}

// loadResult is one load level's outcome: requests per second and latency percentiles (ms).
type loadResult struct{ rps, p50, p99 float64 }

// logBatchLoad creates a run on the server, then runs clients goroutines that each POST
// /api/2.0/mlflow/runs/log-batch (10 metrics per request) back to back for window.
func logBatchLoad(t testing.TB, base string, clients int, window time.Duration) loadResult {
	t.Helper()
	post := func(path string, body any) []byte {
		b, _ := json.Marshal(body)
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out.String())
		}
		return out.Bytes()
	}
	var exp struct {
		ExperimentID string `json:"experiment_id"`
	}
	json.Unmarshal(post("/api/2.0/mlflow/experiments/create", map[string]string{"name": fmt.Sprintf("bench-%d-%d", clients, time.Now().UnixNano())}), &exp)
	var run struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	json.Unmarshal(post("/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": exp.ExperimentID}), &run)
	runID := run.Run.Info.RunID

	var mu sync.Mutex
	var latencies []float64
	var failures int
	deadline := time.Now().Add(window)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for step := 0; time.Now().Before(deadline); step++ {
				metrics := make([]map[string]any, 10)
				for i := range metrics {
					metrics[i] = map[string]any{"key": fmt.Sprintf("m%d", i), "value": float64(step), "timestamp": time.Now().UnixMilli(), "step": c*1_000_000 + step}
				}
				body, _ := json.Marshal(map[string]any{"run_id": runID, "metrics": metrics})
				t0 := time.Now()
				resp, err := client.Post(base+"/api/2.0/mlflow/runs/log-batch", "application/json", bytes.NewReader(body))
				ms := float64(time.Since(t0).Microseconds()) / 1000
				ok := err == nil && resp.StatusCode == http.StatusOK
				if resp != nil {
					resp.Body.Close()
				}
				mu.Lock()
				if ok {
					latencies = append(latencies, ms)
				} else {
					failures++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failures > 0 || len(latencies) == 0 {
		t.Fatalf("log_batch at %d clients against %s: %d failures, %d successes", clients, base, failures, len(latencies))
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 { return latencies[int(p*float64(len(latencies)-1))] }
	return loadResult{rps: float64(len(latencies)) / window.Seconds(), p50: pct(0.50), p99: pct(0.99)}
}

// groupPIDs returns the processes of the process group pgid with their command lines.
func groupPIDs(pgid int) map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err != nil || g != pgid {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[pid] = strings.ReplaceAll(string(cmdline), "\x00", " ")
	}
	return out
}

// workerRSSMiB returns the resident set size (VmRSS, whole MiB) of each uvicorn worker of the
// server whose process group is pgid, smallest first.
func workerRSSMiB(t testing.TB, pgid int) []float64 {
	t.Helper()
	procs := groupPIDs(pgid)
	var rss []float64
	for pid := range procs {
		status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		if err != nil {
			continue
		}
		var ppid, kib int
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				ppid, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kib, _ = strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			}
		}
		// uvicorn starts its workers with multiprocessing's spawn (python -c "from
		// multiprocessing.spawn import spawn_main; ..."), as children of its parent process.
		if _, parentInGroup := procs[ppid]; parentInGroup && strings.Contains(procs[pid], "spawn_main") {
			rss = append(rss, float64(kib)/1024)
		}
	}
	if len(rss) == 0 {
		t.Fatalf("no worker processes in group %d: %v", pgid, procs)
	}
	slices.Sort(rss)
	for i := range rss {
		rss[i] = float64(int(rss[i]))
	}
	return rss
}

// groupRSSMiB is the summed VmRSS (MiB) of every process in the process group pgid.
func groupRSSMiB(pgid int) float64 {
	var kib int
	for pid := range groupPIDs(pgid) {
		status, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				kib += n
			}
		}
	}
	return float64(kib) / 1024
}

func mean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// throughput is MB/s (10^6 bytes per second) through the server and directly to S3.
type throughput struct{ proxied, direct float64 }

// artifactThroughput runs testdata/bench_artifacts.py with the venv's python: a 100 MiB artifact
// logged and downloaded through the server, and put and got directly with boto3 at moto.
func artifactThroughput(t testing.TB, venv string, s *server, c *cloud) (up, down throughput) {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("testdata", "bench_artifacts.py"))
	env := clientEnv(t, s, "BENCH_S3_ENDPOINT_URL="+c.endpoint, "BENCH_BUCKET="+c.bucket, "AWS_DEFAULT_REGION="+c.region)
	env = append(env, c.admin...)
	stdout, stderr, err := testenv.Run(t, 20*time.Minute, env, "", filepath.Join(venv, "bin", "python"), script)
	if err != nil {
		t.Fatalf("bench_artifacts.py: %v\n%s%s", err, stdout, stderr)
	}
	var r struct{ ProxiedUp, ProxiedDown, DirectUp, DirectDown float64 }
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("bench_artifacts.py printed %q: %v", stdout, err)
	}
	return throughput{r.ProxiedUp, r.DirectUp}, throughput{r.ProxiedDown, r.DirectDown}
}
