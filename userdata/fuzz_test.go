package userdata

import (
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"

	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fuzzing reports whether this run is `go test -fuzz` (random inputs) rather than the seed
// corpus run of a plain `go test`; the slow external checks run on the seeds only.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// FuzzRender: whatever the Params, Render never panics; a document it accepts is YAML that
// cloud-init can read, every value reaches the env file unchanged through YAML and the
// KEY=value escaping, the MLflow pin reaches the bootstrap, and (seed corpus) both scripts pass
// `bash -n`. Seeds: the fixtures plus hostile strings; more under testdata/fuzz/FuzzRender.
func FuzzRender(f *testing.F) {
	for _, p := range []Params{devLikeParams(), everyOptionChangedParams()} {
		f.Add(p.MLflowVersion, p.Region, p.BackendStoreHost, p.BackendStorePort, p.PasswordParameterName,
			p.ArtifactAccess, p.ArtifactsURI, strings.Join(p.AllowedHosts, ","), p.Workers, p.Port)
	}
	f.Add("3.17.0'; rm -rf /", "us-east-1\nX=1", "host\"name", 5432, "/a b/c", "proxied", "s3://b/$(id)", "a:5000,#", 0, 5000)
	f.Add("3.17.2", "eu-west-1", "db.example.com", 65535, "/x/y", "direct", "s3://bucket-1/p/q", "h:1,h", 64, 65535)
	f.Add("3.5.0", "us-east-1", "db", 5432, "/p", "proxied", "s3://b/a", "", 0, 5000)
	f.Fuzz(func(t *testing.T, version, region, host string, dbPort int, param, access, artifacts, hosts string, workers, port int) {
		p := Params{
			MLflowVersion: version, Region: region, BackendStoreHost: host, BackendStorePort: dbPort,
			DatabaseName: "mlflow_data", DatabaseUser: "mlflow", PasswordParameterName: param,
			ArtifactAccess: access, ArtifactsURI: artifacts, AllowedHosts: strings.Split(hosts, ","),
			Workers: workers, Port: port,
		}
		doc, err := Render(p)
		if err != nil {
			if Validate(p) == nil {
				t.Fatalf("Render failed on params Validate accepts: %v", err)
			}
			return
		}
		if !strings.HasPrefix(doc, CloudConfigHeader) {
			t.Fatalf("document does not start with %q", CloudConfigHeader)
		}
		var parsed struct {
			WriteFiles []struct {
				Path    string `yaml:"path"`
				Content string `yaml:"content"`
			} `yaml:"write_files"`
			Runcmd [][]string `yaml:"runcmd"`
		}
		if err := yaml.Unmarshal([]byte(doc), &parsed); err != nil {
			t.Fatalf("rendered document is not YAML: %v", err)
		}
		files := map[string]string{}
		for _, wf := range parsed.WriteFiles {
			files[wf.Path] = wf.Content
		}
		env := map[string]string{}
		for _, line := range strings.Split(files[EnvFilePath], "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				env[k] = unquoteEnvValue(v)
			}
		}
		want := map[string]string{
			EnvBackendStoreURI:     BackendStoreURI(p),
			EnvDBPasswordParameter: param,
			EnvArtifactAccess:      access,
			EnvArtifactsURI:        artifacts,
			EnvAllowedHosts:        hosts,
			EnvWorkers:             strconv.Itoa(workers),
			EnvPort:                strconv.Itoa(port),
			EnvAWSDefaultRegion:    region,
			EnvAWSRegion:           region,
		}
		for k, v := range want {
			if env[k] != v {
				t.Fatalf("%s does not round-trip: rendered %q, want %q", k, env[k], v)
			}
		}
		if lk, err := lock.For(version); err != nil || !strings.Contains(files[BootstrapPath], "readonly lock_sha256='"+lk.SHA256+"'\n") {
			t.Fatalf("bootstrap does not install the lock of MLflow %s (%v)", version, err)
		}
		if !strings.Contains(files[BootstrapPath], `ca_bundle_url="${MLFLOW_RDS_CA_BUNDLE_URL:-`+RDSCABundleURL(region)+"}\"\n") {
			t.Fatalf("bootstrap does not download the RDS CA bundle %s of region %q", RDSCABundleURL(region), region)
		}
		if fuzzing() {
			return
		}
		dir := t.TempDir()
		for _, path := range []string{LauncherPath, BootstrapPath} {
			script := filepath.Join(dir, filepath.Base(path))
			if err := os.WriteFile(script, []byte(files[path]), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
				t.Fatalf("bash -n %s: %v\n%s", path, err, out)
			}
		}
	})
}

// FuzzBackendStoreURI: for any user, host, port and database Validate accepts, the URI parses
// back to exactly those parts, carries sslmode=verify-full and sslrootcert=RDSCABundlePath and
// never a password.
func FuzzBackendStoreURI(f *testing.F) {
	f.Add("mlflow", "db.example.com", 5432, "mlflow_data")
	f.Add("mlflow_admin", "10.0.0.5", 6543, "tracking")
	f.Add("a@b", "[::1]", 1, "d/b?x")
	f.Fuzz(func(t *testing.T, user, host string, port int, db string) {
		p := devLikeParams()
		p.DatabaseUser, p.BackendStoreHost, p.BackendStorePort, p.DatabaseName = user, host, port, db
		if Validate(p) != nil {
			return
		}
		raw := BackendStoreURI(p)
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%q does not parse: %v", raw, err)
		}
		if _, has := u.User.Password(); has {
			t.Fatalf("%q carries a password", raw)
		}
		if u.Scheme != BackendStoreScheme || u.User.Username() != user || u.Hostname() != host ||
			u.Port() != strconv.Itoa(port) || strings.TrimPrefix(u.Path, "/") != db || u.Query().Get("sslmode") != "verify-full" ||
			u.Query().Get("sslrootcert") != RDSCABundlePath || len(u.Query()) != 2 {
			t.Fatalf("%q does not round-trip user %q host %q port %d db %q", raw, user, host, port, db)
		}
	})
}
