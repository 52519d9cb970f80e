package userdata

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

// devLikeParams resembles the dev stack: proxied artifacts, workers sized at boot, port 5000, a
// spool volume and gc after 30 days.
func devLikeParams() Params {
	return Params{
		MLflowVersion:         "3.17.2",
		Region:                "us-east-1",
		BackendStoreHost:      "mlflow-aws-dev.abc123xyz.us-east-1.rds.amazonaws.com",
		BackendStorePort:      5432,
		DatabaseName:          "mlflow_data",
		DatabaseUser:          "mlflow",
		PasswordParameterName: "/mlflow-aws/dev/db-password",
		ArtifactAccess:        ArtifactAccessProxied,
		ArtifactsURI:          "s3://mlflow-aws-dev-artifacts-1a2b3c/artifacts",
		AllowedHosts:          []string{"localhost:5000", "127.0.0.1:5000"},
		Workers:               0,
		Port:                  5000,
		SpoolVolume:           true,
		GCOlderThan:           "30d",
	}
}

// everyOptionChangedParams changes every field from devLikeParams: direct artifact access,
// explicit workers, another region, port, version, several allowed hosts (IPv4 and DNS), no
// spool volume (direct access moves no artifact through the server) and no gc.
func everyOptionChangedParams() Params {
	return Params{
		MLflowVersion:         "3.5.0",
		Region:                "eu-west-1",
		BackendStoreHost:      "prod-db.cluster-xyz.eu-west-1.rds.amazonaws.com",
		BackendStorePort:      6543,
		DatabaseName:          "tracking",
		DatabaseUser:          "mlflow_admin",
		PasswordParameterName: "/team-a/prod/backend-store/password",
		ArtifactAccess:        ArtifactAccessDirect,
		ArtifactsURI:          "s3://team-a.prod-artifacts/mlflow/runs",
		AllowedHosts:          []string{"203.0.113.10:8080", "mlflow.example.com", "mlflow.example.com:8080", "localhost:8080"},
		Workers:               3,
		Port:                  8080,
		Monitoring:            &MonitoringParams{LogGroupName: "/team-a/prod/tracking-server", MetricsNamespace: "team-a/prod", SpoolPath: "/var/spool/mlflow"},
	}
}

// document is one cloud-config to check: rendered from fixture Params, or a golden file.
type document struct {
	name   string
	text   string
	params *Params // nil for golden files
}

// documents returns the rendered fixtures plus every userdata/testdata/*.cloud-config.yaml.
func documents(t *testing.T) []document {
	t.Helper()
	var docs []document
	for _, f := range []struct {
		name string
		p    Params
	}{{"dev-like", devLikeParams()}, {"every-option-changed", everyOptionChangedParams()}} {
		text, err := Render(f.p)
		if err != nil {
			t.Fatalf("Render(%s fixture): %v", f.name, err)
		}
		p := f.p
		docs = append(docs, document{name: f.name, text: text, params: &p})
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.cloud-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatalf("read golden %s: %v", g, err)
		}
		docs = append(docs, document{name: "golden " + filepath.Base(g), text: string(b)})
	}
	return docs
}

// writtenFile is one write_files entry as cloud-init reads it.
type writtenFile struct {
	Path        string `yaml:"path"`
	Owner       string `yaml:"owner"`
	Permissions string `yaml:"permissions"`
	Content     string `yaml:"content"`
}

// expectedTopLevelKeys are the only cloud-config keys the program relies on. cloud-init's schema
// check accepts unknown top-level keys, so this is asserted separately.
var expectedTopLevelKeys = []string{"runcmd", "write_files"}

// parseDocument parses a cloud-config, fails unless its top-level keys are exactly
// expectedTopLevelKeys, and returns the written files by path and the runcmd entries.
func parseDocument(t *testing.T, d document) (map[string]writtenFile, []any) {
	t.Helper()
	if !strings.HasPrefix(d.text, CloudConfigHeader) {
		t.Fatalf("%s: does not start with %q", d.name, CloudConfigHeader)
	}
	var top map[string]any
	if err := yaml.Unmarshal([]byte(d.text), &top); err != nil {
		t.Fatalf("%s: YAML does not parse: %v", d.name, err)
	}
	var keys []string
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, expectedTopLevelKeys) {
		t.Fatalf("%s: top-level keys are %v, want exactly %v", d.name, keys, expectedTopLevelKeys)
	}
	var cfg struct {
		WriteFiles []writtenFile `yaml:"write_files"`
		RunCmd     []any         `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal([]byte(d.text), &cfg); err != nil {
		t.Fatalf("%s: write_files/runcmd do not parse: %v", d.name, err)
	}
	files := map[string]writtenFile{}
	for _, f := range cfg.WriteFiles {
		if _, dup := files[f.Path]; dup {
			t.Fatalf("%s: %s written twice", d.name, f.Path)
		}
		files[f.Path] = f
	}
	return files, cfg.RunCmd
}

// renderDocument renders p as the document name and parses its write_files (parseDocument).
func renderDocument(t *testing.T, name string, p Params) (document, map[string]writtenFile) {
	t.Helper()
	text, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	d := document{name: name, text: text, params: &p}
	files, _ := parseDocument(t, d)
	return d, files
}

// mustFile returns the content written to path or fails naming the document.
func mustFile(t *testing.T, d document, files map[string]writtenFile, path string) string {
	t.Helper()
	f, ok := files[path]
	if !ok {
		t.Fatalf("%s: write_files has no %s", d.name, path)
	}
	return f.Content
}

// parseEnvFile reads KEY=value lines the way systemd's EnvironmentFile= does for the values
// Render allows (no escapes; unquoted, or single-quoted when they contain '&'); comments and
// blank lines are skipped.
func parseEnvFile(t *testing.T, content string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env file line %q has no '='", line)
		}
		env[k] = unquoteEnvValue(v)
	}
	return env
}

// unquoteEnvValue strips the single quotes EnvLine puts around a value containing '&'
// (systemd.exec(5): a '-quoted value is taken verbatim).
func unquoteEnvValue(v string) string {
	if len(v) >= 2 && strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") {
		return v[1 : len(v)-1]
	}
	return v
}

// requireTool returns the path of an external tool or FAILS (never skips) naming the Debian
// package that provides it: these checks are part of the contract, and CI installs the tools.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	return testenv.RequireTool(t, name, "it comes from "+debianPackage+": "+testenv.InstallHint)
}

// requireSystemPython returns /usr/bin/python3 after checking it imports sqlalchemy and
// psycopg2 (the first python3 on PATH may be another interpreter without them).
func requireSystemPython(t *testing.T) string {
	t.Helper()
	py := requireTool(t, "/usr/bin/python3", "python3")
	if out, err := exec.Command(py, "-c", "import sqlalchemy, psycopg2").CombinedOutput(); err != nil {
		t.Fatalf("/usr/bin/python3 cannot import sqlalchemy and psycopg2: install the Debian packages python3-sqlalchemy python3-psycopg2: %v\n%s", err, out)
	}
	return py
}

// run is testenv.Run.
func run(t *testing.T, timeout time.Duration, env []string, stdin string, name string, args ...string) (string, string, error) {
	t.Helper()
	return testenv.Run(t, timeout, env, stdin, name, args...)
}

// sourced returns a bash line that sources the script at path of the first rendered document
// (written to a temporary file): the scripts run main only when executed, so sourcing defines
// their settings and functions for a test to call one of them.
func sourced(t *testing.T, path string) string {
	t.Helper()
	docs := documents(t)
	files, _ := parseDocument(t, docs[0])
	f := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := testenv.WriteExecutable(f, []byte(mustFile(t, docs[0], files, path))); err != nil {
		t.Fatal(err)
	}
	return "source '" + f + "'\n"
}
