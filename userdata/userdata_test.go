package userdata

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// TestBackendStoreURIHasNoPasswordAndVerifiesTLS: the password never meets a URI (so no
// escaping can go wrong), and the TLS contract holds: sslmode=verify-full against the RDS CA bundle at RDSCABundlePath
// (BackendStoreURI) or at the given file (BackendStoreURIWithRootCert).
func TestBackendStoreURIHasNoPasswordAndVerifiesTLS(t *testing.T) {
	for _, p := range []Params{devLikeParams(), everyOptionChangedParams()} {
		for _, rootCert := range []string{RDSCABundlePath, "/tmp/Test CA/ca&x=1?.pem"} {
			s := BackendStoreURIWithRootCert(p, rootCert)
			if rootCert == RDSCABundlePath && s != BackendStoreURI(p) {
				t.Errorf("BackendStoreURI = %q, want BackendStoreURIWithRootCert(p, RDSCABundlePath) = %q", BackendStoreURI(p), s)
			}
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("BackendStoreURI = %q does not parse: %v", s, err)
			}
			if _, has := u.User.Password(); has {
				t.Errorf("BackendStoreURI = %q carries a password", s)
			}
			if strings.Count(s, "@") != 1 || strings.Count(s, ":") != 2 {
				t.Errorf("BackendStoreURI = %q: want exactly one user@ and the scheme and port colons only", s)
			}
			if q := u.Query(); q.Get("sslmode") != "verify-full" || q.Get("sslrootcert") != rootCert || len(q) != 2 || len(q["sslrootcert"]) != 1 {
				t.Errorf("BackendStoreURI = %q: query %v, want only sslmode=verify-full and sslrootcert=%s", s, q, rootCert)
			}
			if u.Scheme != BackendStoreScheme || u.User.Username() != p.DatabaseUser || u.Hostname() != p.BackendStoreHost ||
				u.Port() != fmt.Sprint(p.BackendStorePort) || u.Path != "/"+p.DatabaseName {
				t.Errorf("BackendStoreURI = %q does not round-trip user/host/port/database of %+v", s, p)
			}
		}
		want := fmt.Sprintf("postgresql+psycopg2://%s@%s:%d/%s?sslmode=verify-full&sslrootcert=/etc/mlflow/rds-ca-bundle.pem", p.DatabaseUser, p.BackendStoreHost, p.BackendStorePort, p.DatabaseName)
		if s := BackendStoreURI(p); s != want {
			t.Errorf("BackendStoreURI = %q, want %q", s, want)
		}
	}
}

// TestRDSCABundleURL: the documented global bundle of each partition, the default Render uses
// when Params.RDSCABundleURL is empty, and an explicit URL reaching the bootstrap unchanged.
func TestRDSCABundleURL(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":      "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
		"eu-west-1":      "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
		"us-gov-west-1":  "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem",
		"us-gov-east-1":  "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem",
		"cn-north-1":     "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem",
		"cn-northwest-1": "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem",
	} {
		if got := RDSCABundleURL(region); got != want {
			t.Errorf("RDSCABundleURL(%q) = %q, want %q", region, got, want)
		}
		p := devLikeParams()
		p.Region = region
		if err := Validate(Params{RDSCABundleURL: want}); err != nil && strings.Contains(err.Error(), "RDSCABundleURL") {
			t.Errorf("Validate rejects the default bundle URL of %s: %v", region, err)
		}
		doc, err := Render(p)
		if err != nil {
			t.Fatalf("Render(region %s): %v", region, err)
		}
		if !strings.Contains(doc, `ca_bundle_url="${MLFLOW_RDS_CA_BUNDLE_URL:-`+want+"}\"\n") {
			t.Errorf("Render(region %s) with an empty RDSCABundleURL does not download %s", region, want)
		}
	}
	p := devLikeParams()
	p.RDSCABundleURL = "https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem"
	doc, err := Render(p)
	if err != nil || !strings.Contains(doc, `ca_bundle_url="${MLFLOW_RDS_CA_BUNDLE_URL:-`+p.RDSCABundleURL+"}\"\n") || strings.Contains(doc, "global-bundle") {
		t.Errorf("Render with RDSCABundleURL %s: err %v; the bootstrap does not download exactly it", p.RDSCABundleURL, err)
	}
}

// TestValidateNamesEveryBadFieldAtOnce: one Render call reports every problem, each line
// starting with the Params field it is about.
func TestValidateNamesEveryBadFieldAtOnce(t *testing.T) {
	bad := Params{
		MLflowVersion:         "latest",
		Region:                "eu west",
		BackendStoreHost:      "https://db:5432",
		BackendStorePort:      70000,
		DatabaseName:          "mlflow-data",
		DatabaseUser:          "1user",
		PasswordParameterName: "aws/x",
		ArtifactAccess:        "public",
		ArtifactsURI:          "https://bucket/x",
		AllowedHosts:          []string{"good.example.com:5000", "*.example.com"},
		Workers:               -1,
		Port:                  80,
	}
	_, err := Render(bad)
	if err == nil {
		t.Fatal("Render accepted params where every field is invalid")
	}
	msg := err.Error()
	lines := strings.Split(msg, "\n")
	wantFields := []string{"MLflowVersion", "Region", "BackendStoreHost", "BackendStorePort", "DatabaseName", "DatabaseUser",
		"PasswordParameterName", "ArtifactAccess", "ArtifactsURI", "AllowedHosts[1]", "Workers", "Port"}
	if len(lines) != len(wantFields) {
		t.Errorf("got %d problems, want %d (one per bad field):\n%s", len(lines), len(wantFields), msg)
	}
	for _, f := range wantFields {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, f+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem line starts with field %s:\n%s", f, msg)
		}
	}
	if !strings.Contains(msg, `Region "eu west" is not a region name like eu-west-1`) {
		t.Errorf("Region message is not the documented one:\n%s", msg)
	}
	if strings.Contains(msg, "AllowedHosts[0]") {
		t.Errorf("a valid allowed host was reported:\n%s", msg)
	}
	if _, err := Render(Params{}); err == nil || !strings.Contains(err.Error(), "AllowedHosts is empty") {
		t.Errorf("Render(Params{}) = %v, want an AllowedHosts is empty problem among others", err)
	}
}

// TestValidateRejectsEachBadValue checks each field alone: a single bad value yields exactly one
// problem that names that field.
func TestValidateRejectsEachBadValue(t *testing.T) {
	cases := []struct {
		field  string
		mutate func(*Params)
	}{
		{"MLflowVersion", func(p *Params) { p.MLflowVersion = "3.17.0; rm -rf /" }},
		{"MLflowVersion", func(p *Params) { p.MLflowVersion = ">=3" }},
		{"Region", func(p *Params) { p.Region = "EU-WEST-1" }},
		{"Region", func(p *Params) { p.Region = "us-east-1$x" }},
		{"BackendStoreHost", func(p *Params) { p.BackendStoreHost = "db.example.com:5432" }},
		{"BackendStoreHost", func(p *Params) { p.BackendStoreHost = "999.1.1.1" }},
		{"BackendStoreHost", func(p *Params) { p.BackendStoreHost = "" }},
		{"BackendStorePort", func(p *Params) { p.BackendStorePort = 0 }},
		{"DatabaseName", func(p *Params) { p.DatabaseName = "a b" }},
		{"DatabaseUser", func(p *Params) { p.DatabaseUser = "user@x" }},
		{"PasswordParameterName", func(p *Params) { p.PasswordParameterName = "/ssm/x" }},
		{"PasswordParameterName", func(p *Params) { p.PasswordParameterName = "/a//b" }},
		{"PasswordParameterName", func(p *Params) { p.PasswordParameterName = "/a/`id`" }},
		{"ArtifactAccess", func(p *Params) { p.ArtifactAccess = "Proxied" }},
		{"ArtifactsURI", func(p *Params) { p.ArtifactsURI = "s3://Bad_Bucket/x" }},
		{"ArtifactsURI", func(p *Params) { p.ArtifactsURI = "s3://bucket/a b" }},
		{"ArtifactsURI", func(p *Params) { p.ArtifactsURI = "s3://bucket/x?versionId=1" }},
		{"AllowedHosts[0]", func(p *Params) { p.AllowedHosts = []string{"http://host:5000"} }},
		{"AllowedHosts[0]", func(p *Params) { p.AllowedHosts = []string{"[::1]:5000"} }},
		{"AllowedHosts[1]", func(p *Params) { p.AllowedHosts = []string{"a", "b:0"} }},
		{"AllowedHosts", func(p *Params) { p.AllowedHosts = nil }},
		{"Workers", func(p *Params) { p.Workers = 1000 }},
		{"Port", func(p *Params) { p.Port = 443 }},
	}
	for _, u := range []string{
		"http://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
		"https://truststore.pki.rds.amazonaws.com.evil.example/global/global-bundle.pem",
		"https://amazonaws.com.evil.example/x.pem",
		"https://evil-amazonaws.com/x.pem",
		"https://truststore.pki.rds.amazonaws.com/global/global-bundle.crt",
		"https://truststore.pki.rds.amazonaws.com:8443/global/global-bundle.pem",
		"https://user@truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
		"https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem?x=1",
		"https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem#x",
		"https://truststore.pki.rds.amazonaws.com/a/../global-bundle.pem",
		"https://truststore.pki.rds.amazonaws.com/it's.pem",
		"https://truststore.pki.rds.amazonaws.com/a%20b.pem",
		"https://truststore.pki.rds.amazonaws.com/$(id).pem",
		"HTTPS://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
		" https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
		"https://52.0.0.1/global-bundle.pem",
	} {
		cases = append(cases, struct {
			field  string
			mutate func(*Params)
		}{"RDSCABundleURL", func(p *Params) { p.RDSCABundleURL = u }})
	}
	for _, c := range cases {
		p := devLikeParams()
		c.mutate(&p)
		_, err := Render(p)
		if err == nil {
			t.Errorf("%s: Render accepted %+v", c.field, p)
			continue
		}
		if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], c.field+" ") {
			t.Errorf("%s: want one problem naming the field, got:\n%v", c.field, err)
		}
	}
}

// TestRenderRejectsUnsafeEnvFileCharacters: every string that lands in the env file rejects every
// character outside the safe set, naming the field (the env file must mean the same to systemd
// and bash).
func TestRenderRejectsUnsafeEnvFileCharacters(t *testing.T) {
	unsafe := []string{" ", "\t", "\n", "\"", "'", "\\", "$", "`", ";", "&", "|", "<", ">", "(", ")", "*", "[", "~", "!", "#", "{", "é"}
	fields := map[string]func(*Params, string){
		"Region":                func(p *Params, c string) { p.Region = "eu-west-1" + c },
		"BackendStoreHost":      func(p *Params, c string) { p.BackendStoreHost = "db" + c + ".example.com" },
		"PasswordParameterName": func(p *Params, c string) { p.PasswordParameterName = "/mlflow/db" + c },
		"ArtifactsURI":          func(p *Params, c string) { p.ArtifactsURI = "s3://bucket/x" + c },
		"AllowedHosts[0]":       func(p *Params, c string) { p.AllowedHosts = []string{"host" + c} },
	}
	for field, set := range fields {
		for _, c := range unsafe {
			p := devLikeParams()
			set(&p, c)
			_, err := Render(p)
			if err == nil || !strings.HasPrefix(err.Error(), field+" ") {
				t.Errorf("%s containing %q: Render error = %v, want one naming %s", field, c, err, field)
			}
		}
	}
}

// TestCheckEnvValueAllowsExactlyTheSafeSet checks every single ASCII/Latin-1 character against
// the documented set.
func TestCheckEnvValueAllowsExactlyTheSafeSet(t *testing.T) {
	for r := rune(0); r < 0x100; r++ {
		safe := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(EnvValuePunctuation, r)
		if err := CheckEnvValue("a" + string(r) + "b"); (err == nil) != safe {
			t.Errorf("CheckEnvValue(%q) = %v, want safe=%v", "a"+string(r)+"b", err, safe)
		}
	}
	if _, err := EnvLine("mlflow_port", "5000"); err == nil {
		t.Error("EnvLine accepted a lower-case key")
	}
	if _, err := EnvLine("MLFLOW_PORT", "50 00"); err == nil || !strings.Contains(err.Error(), "MLFLOW_PORT") {
		t.Errorf("EnvLine error %v does not name the key", err)
	}
}

// FuzzEnvLine: whatever EnvLine accepts, bash (`set -a; . file`) reads back unchanged, and the
// line splits at its first '=' into the same key and value (what systemd's EnvironmentFile does
// for unquoted, escape-free values). Seeds run under plain go test.
func FuzzEnvLine(f *testing.F) {
	for _, s := range []string{"postgresql+psycopg2://mlflow@db.example.com:5432/mlflow_data?sslmode=verify-full&sslrootcert=/etc/mlflow/rds-ca-bundle.pem", "a,b:1,c", "&", "a&&b", "&x=1&", "=x=", "?", "%41", "+-_.", "", "a b", "$HOME", "~", "x:~/y"} {
		f.Add(s)
	}
	bash := "/bin/bash"
	f.Fuzz(func(t *testing.T, value string) {
		line, err := EnvLine("FUZZ_VALUE", value)
		if err != nil {
			return
		}
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if strings.Contains(value, "&") {
			// systemd.exec(5): a '-quoted value is taken verbatim (the value holds no quote).
			if !strings.HasPrefix(v, "'") || !strings.HasSuffix(v, "'") || len(v) < 2 || strings.Count(v, "'") != 2 {
				t.Fatalf("line %q: a value with '&' is not single-quoted", line)
			}
			v = v[1 : len(v)-1]
		}
		if k != "FUZZ_VALUE" || v != value {
			t.Fatalf("line %q splits into %q=%q", line, k, v)
		}
		file := filepath.Join(t.TempDir(), "env")
		if err := os.WriteFile(file, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := run(t, 10*time.Second, []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}, "", bash, "-c", `set -euo pipefail; set -a; . "$1"; printf '%s' "$FUZZ_VALUE"`, "bash", file)
		if err != nil || out != value || stderr != "" {
			t.Fatalf("bash reads %q as %q (stderr %q, err %v), want %q", line, out, stderr, err, value)
		}
	})
}

// TestEnvFileMeansWhatParamsSay: AWS_DEFAULT_REGION is the stack region (else presigned URLs
// name the wrong one), the allowed hosts are exactly the configured ones, and bash reads the
// same values systemd does.
func TestEnvFileMeansWhatParamsSay(t *testing.T) {
	for _, d := range documents(t) {
		files, _ := parseDocument(t, d)
		content := mustFile(t, d, files, EnvFilePath)
		env := parseEnvFile(t, content)
		wantKeys := []string{EnvBackendStoreURI, EnvDBPasswordParameter, EnvArtifactAccess, EnvArtifactsURI, EnvAllowedHosts,
			EnvWorkers, EnvHost, EnvPort, EnvAWSDefaultRegion, EnvAWSRegion, EnvAuth, EnvAuthAdminUsername, EnvAuthDefaultPermission,
			EnvAuthUsers, EnvAuthPromoters, EnvAuthProductionAlias, EnvAuthStagingAlias, EnvAuthParameterPath, EnvFlaskSecretKeyParameter}
		var keys []string
		for k := range env {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		slices.Sort(wantKeys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("%s: env file keys %v, want %v", d.name, keys, wantKeys)
		}
		for k, v := range env {
			if err := CheckEnvValue(v); err != nil {
				t.Errorf("%s: %s=%q is not env-safe: %v", d.name, k, v, err)
			}
		}
		if env[EnvAWSDefaultRegion] == "" || env[EnvAWSDefaultRegion] != env[EnvAWSRegion] || !awsnames.IsRegion(env[EnvAWSDefaultRegion]) {
			t.Errorf("%s: AWS_DEFAULT_REGION=%q AWS_REGION=%q, want the same region name", d.name, env[EnvAWSDefaultRegion], env[EnvAWSRegion])
		}
		if u, err := url.Parse(env[EnvBackendStoreURI]); err != nil || u.Query().Get("sslmode") != "verify-full" || u.Query().Get("sslrootcert") != RDSCABundlePath {
			t.Errorf("%s: %s=%q lacks sslmode=verify-full&sslrootcert=%s", d.name, EnvBackendStoreURI, env[EnvBackendStoreURI], RDSCABundlePath)
		} else if _, has := u.User.Password(); has {
			t.Errorf("%s: %s carries a password", d.name, EnvBackendStoreURI)
		}
		if p := d.params; p != nil {
			if env[EnvAWSDefaultRegion] != p.Region {
				t.Errorf("%s: AWS_DEFAULT_REGION=%q, want %q (presigned URLs are signed for it)", d.name, env[EnvAWSDefaultRegion], p.Region)
			}
			if got := strings.Split(env[EnvAllowedHosts], ","); !slices.Equal(got, p.AllowedHosts) {
				t.Errorf("%s: allowed hosts %q, want %q", d.name, got, p.AllowedHosts)
			}
			want := map[string]string{EnvBackendStoreURI: BackendStoreURI(*p), EnvDBPasswordParameter: p.PasswordParameterName,
				EnvArtifactAccess: p.ArtifactAccess, EnvArtifactsURI: p.ArtifactsURI, EnvWorkers: fmt.Sprint(p.Workers), EnvPort: fmt.Sprint(p.Port)}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s: %s=%q, want %q", d.name, k, env[k], v)
				}
			}
		}
		// bash reading the file as assignments sees the same values.
		file := filepath.Join(t.TempDir(), "mlflow.env")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		for k, v := range env {
			out, stderr, err := run(t, 10*time.Second, []string{"PATH=/usr/bin:/bin"}, "", "/bin/bash", "-c", `set -euo pipefail; set -a; . "$1"; printf '%s' "${!2}"`, "bash", file, k)
			if err != nil || out != v || stderr != "" {
				t.Errorf("%s: bash reads %s as %q (stderr %q, err %v), want %q", d.name, k, out, stderr, err, v)
			}
		}
	}
}

// TestRenderWritesExpectedFiles fixes the document shape: only write_files and runcmd, the eight
// files (eleven with monitoring) with root ownership and quoted modes, runcmd in list form enabling and starting the
// bootstrap unit without blocking, no `#cloud-config` header missing, and the EC2 size limit.
func TestRenderWritesExpectedFiles(t *testing.T) {
	want := map[string]string{EnvFilePath: "0644", LauncherPath: "0755", DBStateHelperPath: "0755", UnitPath: "0644", BootstrapPath: "0700",
		BootstrapUnitPath: "0644", PasswordWatchServicePath: "0644", PasswordWatchTimerPath: "0644"}
	for _, d := range documents(t) {
		files, runcmd := parseDocument(t, d)
		want := maps.Clone(want)
		// With Params.Monitoring (the program always sets it): the agent's files.
		if d.params == nil || d.params.Monitoring != nil {
			want[AgentConfigPath], want[LogExportUnitPath], want[LogrotatePath] = "0644", "0644", "0644"
		}
		// The spool drop-in and the gc files, exactly when configured (spoolgc_test.go).
		for path, mode := range optionalFiles(d) {
			want[path] = mode
		}
		if len(files) != len(want) {
			t.Errorf("%s: writes %d files, want %d", d.name, len(files), len(want))
		}
		for path, mode := range want {
			f, ok := files[path]
			if !ok {
				t.Errorf("%s: does not write %s", d.name, path)
				continue
			}
			if f.Permissions != mode || f.Owner != "root:root" {
				t.Errorf("%s: %s is %s %s, want root:root %s", d.name, path, f.Owner, f.Permissions, mode)
			}
			if !strings.Contains(d.text, "permissions: '"+mode+"'") {
				t.Errorf("%s: permissions %s is not a quoted string", d.name, mode)
			}
		}
		wantRuncmd := []any{"systemctl", "enable", "--now", "--no-block", BootstrapUnitName}
		if len(runcmd) != 1 || fmt.Sprintf("%q", runcmd[0]) != fmt.Sprintf("%q", wantRuncmd) {
			t.Errorf("%s: runcmd = %q, want [%q] (list form, no shell string)", d.name, runcmd, wantRuncmd)
		}
		// Gzipped for EC2, with a quarter of the limit to spare for long names and many allowed
		// hosts (4 KiB gzipped, dozens of long host names); the configuration refuses, naming the
		// key, whatever would not fit (internal/config's user data size check).
		if enc, err := EncodeForEC2(d.text); err != nil {
			t.Errorf("%s: %v", d.name, err)
		} else if n := base64.StdEncoding.DecodedLen(len(enc)); n > MaxUserDataBytes*3/4 {
			t.Errorf("%s: %d bytes gzipped, want under three quarters of the EC2 limit %d", d.name, n, MaxUserDataBytes)
		}
		if strings.Contains(d.text, "PGPASSWORD=") && !strings.Contains(d.text, `PGPASSWORD="$(aws ssm get-parameter`) {
			t.Errorf("%s: assigns PGPASSWORD from something other than SSM", d.name)
		}
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(d.text), &node); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
	}
	// Bootstrap pins (all documents from fixtures).
	for _, d := range documents(t)[:2] {
		files, _ := parseDocument(t, d)
		boot := mustFile(t, d, files, BootstrapPath)
		lk, err := lock.For(d.params.MLflowVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, pin := range []string{"readonly lock_uri='" + LockURI(*d.params, lk) + "'\n", "readonly lock_sha256='" + lk.SHA256 + "'\n",
			"--require-hashes --no-deps -r \"$venv/requirements.txt\"", "dnf install -y python3.11 python3.11-pip awscli-2",
			`python="${MLFLOW_PYTHON:-` + Python + `}"`, "useradd --system", "systemctl daemon-reload",
			`systemctl enable "$service"`, `systemctl start --no-block "$service"`, `systemctl restart --no-block "$service"`,
			`ca_bundle="${MLFLOW_RDS_CA_BUNDLE:-` + RDSCABundlePath + `}"` + "\n",
			`ca_bundle_url="${MLFLOW_RDS_CA_BUNDLE_URL:-` + RDSCABundleURL(d.params.Region) + `}"` + "\n",
			"curl -fsS --proto =https --retry 5 --retry-all-errors --retry-connrefused --connect-timeout 5 -o \"$dest.tmp\" \"$url\""} {
			if !strings.Contains(boot, pin) {
				t.Errorf("%s: bootstrap lacks %q", d.name, pin)
			}
		}
	}
	// Every document: the bootstrap installs the RDS CA bundle (or exits) before it starts the
	// service, never waits for a start (it runs inside the bootstrap unit), and creates the done
	// marker the unit's ConditionPathExists= names as its very last command; the launcher checks
	// the real bundle path unless a test overrides it.
	for _, d := range documents(t) {
		files, _ := parseDocument(t, d)
		boot := mustFile(t, d, files, BootstrapPath)
		fetch := strings.Index(boot, "\n  fetch_ca_bundle \"$ca_bundle_url\" \"$ca_bundle\"\n")
		if start := strings.Index(boot, "\n  start_service \"$unit\"\n"); fetch < 0 || start < 0 || fetch > start {
			t.Errorf("%s: the bootstrap's main does not run `fetch_ca_bundle \"$ca_bundle_url\" \"$ca_bundle\"` (set -e stops it on failure) before `start_service \"$unit\"`", d.name)
		}
		for _, l := range strings.Split(boot, "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "systemctl" && (f[1] == "start" || f[1] == "restart") && (len(f) < 3 || f[2] != "--no-block") {
				t.Errorf("%s: the bootstrap waits for a start: %q", d.name, strings.TrimSpace(l))
			}
			if strings.Contains(l, "enable --now") {
				t.Errorf("%s: the bootstrap waits for a start: %q", d.name, strings.TrimSpace(l))
			}
		}
		if !strings.Contains(boot, "\ndone_marker=\"${MLFLOW_BOOTSTRAP_DONE_MARKER:-"+BootstrapDoneMarker+"}\"\n") {
			t.Errorf("%s: the bootstrap's done_marker is not %s", d.name, BootstrapDoneMarker)
		}
		if last := lastCommand(functionBody(t, boot, "main")); last != `touch "$done_marker"` {
			t.Errorf("%s: the bootstrap main's last command is %q, want touch \"$done_marker\"", d.name, last)
		}
		if !strings.HasSuffix(boot, "\nif [[ \"${BASH_SOURCE[0]}\" == \"$0\" ]]; then\n  main \"$@\"\nfi\n") {
			t.Errorf("%s: the bootstrap does not end by running main when executed", d.name)
		}
		if unit := mustFile(t, d, files, BootstrapUnitPath); !strings.Contains(unit, "\nConditionPathExists=!"+BootstrapDoneMarker+"\n") {
			t.Errorf("%s: %s does not skip itself once %s exists", d.name, BootstrapUnitName, BootstrapDoneMarker)
		}
		// pip builds in TMPDIR: every pip install spools to the disk-backed /var/tmp, not the
		// RAM-capped tmpfs /tmp of AL2023.
		const pipViaVarTmp = `retry 5 env TMPDIR=/var/tmp "$venv/bin/python" -m pip install `
		if n := strings.Count(boot, "pip install"); n == 0 || strings.Count(boot, pipViaVarTmp) != n {
			t.Errorf("%s: the bootstrap runs pip install %d time(s), not all as %q", d.name, n, pipViaVarTmp)
		}
		launcher := mustFile(t, d, files, LauncherPath)
		for _, want := range []string{"readonly default_rds_ca_bundle='" + RDSCABundlePath + "'\n", `rds_ca_bundle="${MLFLOW_RDS_CA_BUNDLE:-$default_rds_ca_bundle}"`} {
			if !strings.Contains(launcher, want) {
				t.Errorf("%s: launcher lacks %q", d.name, want)
			}
		}
	}
}

// lastCommand returns the last line of a script that is neither blank nor a comment, trimmed.
// functionBody returns the lines between "name() {" and the next line that is exactly "}".
func functionBody(t *testing.T, script, name string) string {
	t.Helper()
	_, body, ok := strings.Cut(script, "\n"+name+"() {\n")
	if !ok {
		t.Fatalf("script defines no function %s", name)
	}
	body, _, ok = strings.Cut(body, "\n}\n")
	if !ok {
		t.Fatalf("function %s does not end with a line }", name)
	}
	return body
}

// lastCommand returns the last line of script that is neither blank nor a comment.
func lastCommand(script string) string {
	lines := strings.Split(script, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

// TestRenderIsDeterministic: the same Params give byte-identical user data (no spurious
// instance replacements in pulumi preview).
func TestRenderIsDeterministic(t *testing.T) {
	for _, p := range []Params{devLikeParams(), everyOptionChangedParams()} {
		a, err := Render(p)
		if err != nil || a == "" {
			t.Fatalf("Render(%+v): %v", p, err)
		}
		for range 5 {
			b, err := Render(p)
			if err != nil {
				t.Fatalf("Render failed on a later call: %v", err)
			}
			if a != b {
				t.Fatal("Render output differs between calls")
			}
		}
	}
}

// randomPassword draws n characters from the RDS-legal alphabet the program gives
// random.RandomPassword: letters, digits and PasswordSpecialCharacters.
func randomPassword(rng *rand.Rand, n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	alphabet := alnum + PasswordSpecialCharacters
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// everySpecialPassword contains every special character (and starts with '-', which a careless
// CLI would take for an option).
const everySpecialPassword = "-Aa0" + PasswordSpecialCharacters + "Zz9"

func TestPasswordSpecialCharactersAreRDSLegal(t *testing.T) {
	for _, c := range `/@" ` {
		if strings.ContainsRune(PasswordSpecialCharacters, c) {
			t.Errorf("PasswordSpecialCharacters contains %q, which RDS forbids", c)
		}
	}
}

// TestEncodeForEC2RoundTrips: the gzip+base64 user data decodes to the document, is the same
// for the same document (no timestamp), and is refused when over the EC2 limit.
func TestEncodeForEC2RoundTrips(t *testing.T) {
	doc, err := Render(devLikeParams())
	if err != nil {
		t.Fatal(err)
	}
	enc, err := EncodeForEC2(doc)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncodeForEC2(doc)
	if enc != again {
		t.Error("EncodeForEC2 is not deterministic")
	}
	back, err := DecodeFromEC2(enc)
	if err != nil || back != doc {
		t.Fatalf("round trip failed: %v", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(enc)
	if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
		t.Errorf("not gzip (cloud-init detects the 1f 8b magic)")
	}
	// Incompressible input over the limit is refused.
	rng := rand.New(rand.NewPCG(7, 7))
	noise := make([]byte, MaxUserDataBytes+1024)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	if _, err := EncodeForEC2(string(noise)); err == nil {
		t.Error("over-limit user data accepted")
	}
}
