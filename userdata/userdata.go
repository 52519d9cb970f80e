package userdata

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/server"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("userdata").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// CloudConfigHeader is the first line of every document Render returns; cloud-init only treats
// user data starting with it as cloud-config.
const CloudConfigHeader = "#cloud-config\n"

// MaxUserDataBytes is the EC2 limit on user data before base64 encoding (16 KiB); EncodeForEC2
// enforces it on the gzipped document.
const MaxUserDataBytes = 16 * 1024

// Environment keys written to EnvFilePath, in file order. The launcher reads exactly these.
const (
	EnvBackendStoreURI     = "MLFLOW_BACKEND_STORE_URI"
	EnvDBPasswordParameter = "MLFLOW_DB_PASSWORD_PARAMETER"
	EnvArtifactAccess      = "MLFLOW_ARTIFACT_ACCESS"
	EnvArtifactsURI        = "MLFLOW_ARTIFACTS_URI"
	EnvAllowedHosts        = "MLFLOW_ALLOWED_HOSTS"
	EnvWorkers             = "MLFLOW_WORKERS"
	EnvHost                = "MLFLOW_HOST"
	EnvPort                = "MLFLOW_PORT"
	EnvAWSDefaultRegion    = "AWS_DEFAULT_REGION"
	EnvAWSRegion           = "AWS_REGION"
	minPort, maxPort       = 1024, 65535
	minDBPort              = 1
)

// EnvKeys lists every key EnvFile writes, in file order.
var EnvKeys = []string{EnvBackendStoreURI, EnvDBPasswordParameter, EnvArtifactAccess, EnvArtifactsURI, EnvAllowedHosts,
	EnvWorkers, EnvHost, EnvPort, EnvAWSDefaultRegion, EnvAWSRegion,
	EnvAuth, EnvAuthAdminUsername, EnvAuthDefaultPermission, EnvAuthUsers, EnvAuthPromoters, EnvAuthProductionAlias,
	EnvAuthStagingAlias, EnvAuthParameterPath, EnvFlaskSecretKeyParameter}

var (
	dbIdentRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,62}$`)
	s3PrefixRe = regexp.MustCompile(`^[A-Za-z0-9._/-]*$`)
	pemPathRe  = regexp.MustCompile(`^/[A-Za-z0-9._/-]*\.pem$`)
)

// BackendStoreScheme is the SQLAlchemy dialect+driver of the backend store URI: PostgreSQL
// through psycopg2, the driver the server's lock installs.
const BackendStoreScheme = "postgresql+psycopg2"

// BackendStoreURI returns the SQLAlchemy URI of the backend store,
//
//	postgresql+psycopg2://<DatabaseUser>@<BackendStoreHost>:<BackendStorePort>/<DatabaseName>?sslmode=verify-full&sslrootcert=/etc/mlflow/rds-ca-bundle.pem
//
// that is BackendStoreURIWithRootCert(p, RDSCABundlePath). The driver is named because the venv
// installs psycopg2 (psycopg2-binary), while SQLAlchemy 2.1 made psycopg (version 3) the default
// driver of a bare postgresql:// URI (SQLAlchemy 2.1 migration notes); with a bare URI the
// real server in TestRealMLflowEndToEnd fails with "No module named 'psycopg'". It carries no password: libpq reads
// it from PGPASSWORD, which the launcher sets from SSM. It does not validate p; Render does.
func BackendStoreURI(p Params) string {
	return BackendStoreURIWithRootCert(p, RDSCABundlePath)
}

// BackendStoreURIWithRootCert is BackendStoreURI with rootCert as the CA file libpq verifies the
// server certificate against; it exists so tests can point sslrootcert at a test CA, and the
// program always uses BackendStoreURI. The URI is built with net/url (user and database
// percent-encoded, rootCert query-escaped except '/'), no password. sslmode=verify-full (the RDS
// parameter rds.force_ssl=1 makes TLS mandatory) checks that the certificate chains to rootCert
// and names the host, so an active man-in-the-middle cannot read the password.
func BackendStoreURIWithRootCert(p Params, rootCert string) string {
	u := url.URL{
		Scheme: BackendStoreScheme,
		User:   url.User(p.DatabaseUser),
		Host:   net.JoinHostPort(p.BackendStoreHost, strconv.Itoa(p.BackendStorePort)),
		Path:   "/" + p.DatabaseName,
		// '/' is legal in a query (RFC 3986 3.4); keeping it readable also keeps '%' (which
		// MLflow's alembic config would have to escape) out of the URI.
		RawQuery: "sslmode=verify-full&sslrootcert=" + strings.ReplaceAll(url.QueryEscape(rootCert), "%2F", "/"),
	}
	return u.String()
}

// LockURI is the S3 URI the bootstrap downloads the venv's lock from:
// s3://<bucket of p.ArtifactsURI>/<lock.Lock.ObjectKey()>, e.g.
// s3://mlflow-aws-dev-artifacts-abc/bootstrap/mlflow-3.17.2-0123456789ab.txt. The program uploads
// the lock there; the tracking server's role may read that one key. It does not validate p.
func LockURI(p Params, l lock.Lock) string {
	return BootstrapObjectURI(p, l.ObjectKey())
}

// BootstrapObjectURI is the S3 URI of a program-owned object the bootstrap downloads (the lock,
// the plugin wheel): s3://<bucket of p.ArtifactsURI>/<key>. It does not validate p.
func BootstrapObjectURI(p Params, key string) string {
	bucket := strings.TrimPrefix(p.ArtifactsURI, "s3://")
	bucket, _, _ = strings.Cut(bucket, "/")
	return "s3://" + bucket + "/" + key
}

// The Amazon RDS global certificate bundles of the partitions the program supports (see
// awsnames.RDSCABundleURL).
const (
	RDSCABundleURLCommercial = awsnames.RDSCABundleURLCommercial
	RDSCABundleURLGovCloud   = awsnames.RDSCABundleURLGovCloud
	RDSCABundleURLChina      = awsnames.RDSCABundleURLChina
)

// RDSCABundleURL returns the Amazon RDS global certificate bundle of region's partition
// (awsnames.RDSCABundleURL), or "" for a region of a partition the program does not support
// (Validate then refuses the Region). Render uses it when Params.RDSCABundleURL is empty.
func RDSCABundleURL(region string) string {
	u, err := awsnames.RDSCABundleURL(region)
	if err != nil {
		return ""
	}
	return u
}

// Validate returns nil when p can be rendered, else every problem joined with errors.Join, one
// error per field, each starting with the Params field name.
func Validate(p Params) error {
	var errs []error
	add := func(field, value, problem string) {
		errs = append(errs, fmt.Errorf("%s %q %s", field, value, problem))
	}
	// check reports the field's own rule first (its message says what the value should look
	// like); a value passing it is still checked against the env file's safe set.
	check := func(field, value, problem string) {
		if problem != "" {
			add(field, value, problem)
		} else if err := CheckEnvValue(value); err != nil {
			add(field, value, "cannot be written to "+EnvFilePath+": "+err.Error())
		}
	}
	unless := func(ok bool, problem string) string {
		if ok {
			return ""
		}
		return problem
	}

	if err := mlflowspec.CheckRelease(p.MLflowVersion); err != nil {
		errs = append(errs, fmt.Errorf("MLflowVersion %w", err))
	} else if _, err := lock.For(p.MLflowVersion); err != nil {
		errs = append(errs, fmt.Errorf("MLflowVersion: %w", err))
	}
	regionProblem := ""
	if !awsnames.IsRegion(p.Region) {
		regionProblem = "is not a region name like eu-west-1"
	} else if _, err := awsnames.Partition(p.Region); err != nil {
		regionProblem = "is not in a supported partition: " + err.Error()
	}
	check("Region", p.Region, regionProblem)
	check("BackendStoreHost", p.BackendStoreHost, unless(awsnames.IsHostName(p.BackendStoreHost),
		"is not a DNS name or IPv4 address like mydb.abc123.eu-west-1.rds.amazonaws.com (no port, no scheme)"))
	if p.BackendStorePort < minDBPort || p.BackendStorePort > maxPort {
		add("BackendStorePort", strconv.Itoa(p.BackendStorePort), fmt.Sprintf("is not a TCP port in %d..%d", minDBPort, maxPort))
	}
	if !dbIdentRe.MatchString(p.DatabaseName) {
		add("DatabaseName", p.DatabaseName, "is not a PostgreSQL database name: a letter, then letters, digits or '_', at most 63")
	}
	if !dbIdentRe.MatchString(p.DatabaseUser) {
		add("DatabaseUser", p.DatabaseUser, "is not a PostgreSQL user name: a letter, then letters, digits or '_', at most 63")
	}
	check("PasswordParameterName", p.PasswordParameterName, ssmNameProblem(p.PasswordParameterName))
	if !mlflowspec.ArtifactAccess(p.ArtifactAccess).Valid() {
		add("ArtifactAccess", p.ArtifactAccess, fmt.Sprintf("is not %q or %q", ArtifactAccessProxied, ArtifactAccessDirect))
	}
	check("ArtifactsURI", p.ArtifactsURI, s3URIProblem(p.ArtifactsURI))
	if len(p.AllowedHosts) == 0 {
		errs = append(errs, errors.New("AllowedHosts is empty: list every host[:port] of the tracking URI (MLflow >= 3.5 answers 403 to other Host headers)"))
	}
	for i, h := range p.AllowedHosts {
		check(fmt.Sprintf("AllowedHosts[%d]", i), h, allowedHostProblem(h))
	}
	if p.Workers < 0 || p.Workers > mlflowspec.MaxWorkers {
		add("Workers", strconv.Itoa(p.Workers), fmt.Sprintf("is not in 0..%d (0 sizes workers from the instance's memory at boot)", mlflowspec.MaxWorkers))
	}
	if p.Port < minPort || p.Port > maxPort {
		add("Port", strconv.Itoa(p.Port), fmt.Sprintf("is not a TCP port in %d..%d (the unprivileged %s user cannot bind lower ports)", minPort, maxPort, ServiceUser))
	}
	if p.RDSCABundleURL != "" { // empty: Render uses RDSCABundleURL(p.Region)
		if problem := caBundleURLProblem(p.RDSCABundleURL); problem != "" {
			add("RDSCABundleURL", p.RDSCABundleURL, problem)
		}
	}
	errs = append(errs, authProblems(p.Auth)...)
	errs = append(errs, monitoringProblems(p.Monitoring)...)
	errs = append(errs, spoolGCProblems(p)...)
	return errors.Join(errs...)
}

// caBundleURLProblem accepts https://<host>/<path>.pem, host a DNS name ending in .amazonaws.com
// or .amazonaws.com.cn, path letters, digits and . _ - / (no "..", "//", port, user, query or
// fragment): the bootstrap puts it in single quotes and hands it to curl.
func caBundleURLProblem(s string) string {
	const want = "is not an https URL of an Amazon RDS certificate bundle like " + RDSCABundleURLCommercial
	u, err := url.Parse(s)
	if err != nil || len(s) > 1024 || u.Scheme != "https" || s != "https://"+u.Host+u.Path {
		return want
	}
	if h := strings.ToLower(u.Host); !awsnames.IsHostName(u.Host) || net.ParseIP(u.Host) != nil ||
		!(strings.HasSuffix(h, ".amazonaws.com") || strings.HasSuffix(h, ".amazonaws.com.cn")) {
		return want + " (host must end in .amazonaws.com or .amazonaws.com.cn)"
	}
	if !pemPathRe.MatchString(u.Path) || strings.Contains(u.Path, "//") || strings.Contains(u.Path, "..") {
		return want + " (path must be letters, digits and . _ - / segments ending in .pem)"
	}
	return ""
}

func ssmNameProblem(n string) string {
	if err := awsnames.CheckSSMParameterName(n); err != nil {
		return "is not an SSM parameter name: " + err.Error()
	}
	return ""
}

func s3URIProblem(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "is not an S3 URI like s3://bucket/prefix"
	}
	if err := awsnames.CheckS3BucketName(u.Host); err != nil {
		return "does not name a valid S3 bucket: " + err.Error()
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	if !s3PrefixRe.MatchString(prefix) || strings.Contains(prefix, "//") || strings.Contains(prefix, "..") {
		return "has a prefix that is not letters, digits and . _ - / segments"
	}
	return ""
}

// CheckAllowedHost returns nil when h can be one of MLflow's --allowed-hosts entries as Render
// writes them (awsnames.CheckHostPort): "host" or "host:port", host a DNS name or IPv4 address,
// port 1 to 65535; no scheme, path, wildcard or IPv6.
func CheckAllowedHost(h string) error { return awsnames.CheckHostPort(h) }

func allowedHostProblem(h string) string {
	if err := awsnames.CheckHostPort(h); err != nil {
		return strings.TrimPrefix(err.Error(), fmt.Sprintf("%q ", h))
	}
	return ""
}

// writeFile is one cloud-init write_files entry
// (https://cloudinit.readthedocs.io/en/latest/reference/modules.html#write-files).
type writeFile struct {
	Path        string      `yaml:"path"`
	Owner       string      `yaml:"owner"`
	Permissions quotedOctal `yaml:"permissions"`
	Content     string      `yaml:"content"`
}

// quotedOctal marshals as a single-quoted YAML string ('0644'): cloud-init 22.4 requires a string.
type quotedOctal string

func (q quotedOctal) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.SingleQuotedStyle, Value: string(q)}, nil
}

// cloudConfig is the whole document: only write_files and runcmd.
type cloudConfig struct {
	WriteFiles []writeFile `yaml:"write_files"`
	RunCmd     [][]string  `yaml:"runcmd"`
}

// templateData is what the templates under templates/ see.
type templateData struct {
	VenvDir, Python, VenvLockMarker, EnvFilePath, LauncherPath, DBStateHelperPath, BootstrapPath string
	BootstrapUnitName, BootstrapUnitPath, BootstrapDoneMarker                                    string
	UnitName, UnitPath, StateDir, ServiceUser, SwapFilePath                                      string
	MLflowVersion, LockURI, LockSHA256, Region                                                   string
	PluginURI, PluginSHA256, PluginFileName, PluginDistribution, PluginApp, PluginCommand        string
	AuthDatabaseName                                                                             string
	RDSCABundlePath, RDSCABundleURL                                                              string
	// Monitoring: the CloudWatch agent's files and the bootstrap's start_log_shipping.
	Monitoring                                                                              bool
	AgentConfigPath, AgentCtl, AgentUnitName, LogDir, JournalLogPath                        string
	LogExportUnitName, LogExportUnitPath, LogExportCursorPath, LogrotatePath, LogExportArgs string
	// Spool volume and gc (spoolgc.go); SpoolDevice and GCTimer are "" when not configured.
	SpoolDevice, SpoolDir, SpoolLabel, SpoolDropInPath, GCTimer, GCUnitName, GCPath, GCOlderThan, EnvGCOlderThan string
	PasswordWatchServiceName, PasswordWatchServicePath, PasswordWatchTimerName, PasswordWatchTimerPath           string
}

// EnvFile returns the content of EnvFilePath for p (validated with Validate first): one
// KEY=value line per Env* key, values unquoted and checked with EnvLine.
func EnvFile(p Params) (string, error) {
	if err := Validate(p); err != nil {
		return "", err
	}
	return envFile(p)
}

func envFile(p Params) (string, error) {
	vars := []struct{ field, key, value string }{
		{"BackendStoreHost", EnvBackendStoreURI, BackendStoreURI(p)},
		{"PasswordParameterName", EnvDBPasswordParameter, p.PasswordParameterName},
		{"ArtifactAccess", EnvArtifactAccess, p.ArtifactAccess},
		{"ArtifactsURI", EnvArtifactsURI, p.ArtifactsURI},
		{"AllowedHosts", EnvAllowedHosts, strings.Join(p.AllowedHosts, ",")},
		{"Workers", EnvWorkers, strconv.Itoa(p.Workers)},
		{"Port", EnvHost, ListenHost},
		{"Port", EnvPort, strconv.Itoa(p.Port)},
		{"Region", EnvAWSDefaultRegion, p.Region},
		{"Region", EnvAWSRegion, p.Region},
	}
	for _, kv := range authEnv(p.Auth) {
		vars = append(vars, struct{ field, key, value string }{"Auth", kv[0], kv[1]})
	}
	var b strings.Builder
	b.WriteString("# " + EnvFilePath + ": environment of " + UnitName + " (EnvironmentFile=). Rendered by\n")
	b.WriteString("# github.com/mlflow-aws/mlflow-aws/userdata; no secrets: the password is read from SSM at start.\n")
	var errs []error
	for _, v := range vars {
		line, err := EnvLine(v.key, v.value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.field, err))
			continue
		}
		b.WriteString(line)
	}
	return b.String(), errors.Join(errs...)
}

func execTemplate(name string, data templateData) (string, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return buf.String(), nil
}

// Render validates p and returns the EC2 user data: a cloud-init document starting with
// CloudConfigHeader whose only top-level keys are write_files (EnvFilePath 0644, LauncherPath
// 0755, DBStateHelperPath 0755, UnitPath 0644, BootstrapPath 0700, BootstrapUnitPath 0644,
// PasswordWatchServicePath 0644, PasswordWatchTimerPath 0644, and
// with p.Monitoring AgentConfigPath, LogExportUnitPath and LogrotatePath 0644, all root:root)
// and runcmd (the single list-form command `systemctl enable --now --no-block
// BootstrapUnitName`: the unit runs BootstrapPath at every boot until it succeeds once). On
// invalid p it returns every problem at once (see Validate). An empty p.RDSCABundleURL becomes
// RDSCABundleURL(p.Region). The document contains no secret.
func Render(p Params) (string, error) {
	if p.RDSCABundleURL == "" {
		p.RDSCABundleURL = RDSCABundleURL(p.Region)
	}
	if err := Validate(p); err != nil {
		return "", err
	}
	env, err := envFile(p)
	if err != nil {
		return "", err
	}
	lk, err := lock.For(p.MLflowVersion)
	if err != nil {
		return "", fmt.Errorf("MLflowVersion: %w", err)
	}
	wheel, err := pluginWheel()
	if err != nil {
		return "", err
	}
	data := templateData{
		PluginURI: BootstrapObjectURI(p, wheel.ObjectKey()), PluginSHA256: wheel.SHA256, PluginFileName: wheel.FileName,
		PluginDistribution: "mlflow-aws-auth", PluginApp: server.AppName, PluginCommand: server.BootstrapCommand,
		AuthDatabaseName: AuthDatabaseName,
		VenvDir:          VenvDir, Python: Python, VenvLockMarker: VenvLockMarker, EnvFilePath: EnvFilePath, LauncherPath: LauncherPath,
		DBStateHelperPath: DBStateHelperPath, BootstrapPath: BootstrapPath, UnitName: UnitName,
		BootstrapUnitName: BootstrapUnitName, BootstrapUnitPath: BootstrapUnitPath, BootstrapDoneMarker: BootstrapDoneMarker,
		UnitPath: UnitPath, StateDir: StateDir, ServiceUser: ServiceUser, SwapFilePath: SwapFilePath,
		MLflowVersion: p.MLflowVersion, LockURI: LockURI(p, lk), LockSHA256: lk.SHA256, Region: p.Region,
		RDSCABundlePath: RDSCABundlePath, RDSCABundleURL: p.RDSCABundleURL,
		Monitoring: p.Monitoring != nil, AgentConfigPath: AgentConfigPath, AgentCtl: AgentCtl, AgentUnitName: AgentUnitName,
		LogDir: LogDir, JournalLogPath: JournalLogPath, LogExportUnitName: LogExportUnitName, LogExportUnitPath: LogExportUnitPath,
		LogExportCursorPath: LogExportCursorPath, LogrotatePath: LogrotatePath, LogExportArgs: strings.Join(LogExportArgs, " "),
		SpoolDir: SpoolDir, SpoolLabel: SpoolLabel, SpoolDropInPath: SpoolDropInPath, GCUnitName: GCUnitName, GCPath: GCPath,
		GCOlderThan: p.GCOlderThan, EnvGCOlderThan: EnvGCOlderThan,
		PasswordWatchServiceName: PasswordWatchServiceName, PasswordWatchServicePath: PasswordWatchServicePath,
		PasswordWatchTimerName: PasswordWatchTimerName, PasswordWatchTimerPath: PasswordWatchTimerPath,
	}
	if p.SpoolVolume {
		data.SpoolDevice = SpoolDeviceName
	}
	if p.GCOlderThan != "" {
		data.GCTimer = GCTimerName
	}
	files := []struct {
		path, mode, tmpl string
	}{
		{EnvFilePath, "0644", ""},
		{LauncherPath, "0755", "mlflow-launch.sh.tmpl"},
		{DBStateHelperPath, "0755", "mlflow-db-state.py.tmpl"},
		{UnitPath, "0644", "mlflow.service.tmpl"},
		{BootstrapPath, "0700", "mlflow-bootstrap.sh.tmpl"},
		{BootstrapUnitPath, "0644", "mlflow-bootstrap.service.tmpl"},
		{PasswordWatchServicePath, "0644", "mlflow-db-password-watch.service.tmpl"},
		{PasswordWatchTimerPath, "0644", "mlflow-db-password-watch.timer.tmpl"},
	}
	agent := ""
	if p.Monitoring != nil {
		if agent, err = AgentConfig(*p.Monitoring); err != nil {
			return "", err
		}
		files = append(files, []struct{ path, mode, tmpl string }{
			{AgentConfigPath, "0644", ""},
			{LogExportUnitPath, "0644", "mlflow-log-export.service.tmpl"},
			{LogrotatePath, "0644", "mlflow-logrotate.tmpl"},
		}...)
	}
	files = append(files, spoolGCFiles(p)...)
	// --no-block: cloud-init runs runcmd from cloud-final.service; waiting there for a unit
	// ordered after network-online.target (and wanted by multi-user.target) risks an ordering
	// deadlock, and the bootstrap takes minutes.
	cfg := cloudConfig{RunCmd: [][]string{{"systemctl", "enable", "--now", "--no-block", BootstrapUnitName}}}
	for _, f := range files {
		content := env
		if f.path == AgentConfigPath {
			content = agent
		}
		if f.tmpl != "" {
			if content, err = execTemplate(f.tmpl, data); err != nil {
				return "", err
			}
			content = stripCommentLines(content)
		}
		cfg.WriteFiles = append(cfg.WriteFiles, writeFile{Path: f.path, Owner: "root:root", Permissions: quotedOctal(f.mode), Content: content})
	}
	var buf bytes.Buffer
	buf.WriteString(CloudConfigHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return "", fmt.Errorf("marshal cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("marshal cloud-config: %w", err)
	}
	return buf.String(), nil
}

// stripCommentLines drops the whole-line comments ("#" after optional blanks) of a rendered
// shell script, Python helper or systemd unit, keeping the "#!" line and shellcheck
// directives: the templates under templates/ carry the explanations, and EC2 counts the user
// data against MaxUserDataBytes (the comments were about 40 % of it gzipped). No template
// holds a here-document or multi-line string whose lines start with "#" (TestStripCommentLines).
func stripCommentLines(content string) string {
	lines := strings.SplitAfter(content, "\n")
	out := lines[:0]
	for i, l := range lines {
		t := strings.TrimLeft(l, " \t")
		if strings.HasPrefix(t, "#") && !(i == 0 && strings.HasPrefix(t, "#!")) && !strings.Contains(t, "shellcheck") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// EncodeForEC2 gzips a rendered document and base64-encodes it, for the EC2 instance's
// userDataBase64. cloud-init recognises gzip-compressed user data and decompresses it (cloud-init
// docs, "User data formats"); compression keeps the document well under EC2's 16 KiB limit,
// which applies to the bytes before base64 encoding. The output is deterministic (no gzip
// timestamp), so an unchanged document never shows as a user data change. It fails when the
// compressed document is over MaxUserDataBytes.
func EncodeForEC2(doc string) (string, error) {
	raw, err := gzipDocument(doc)
	if err != nil {
		return "", err
	}
	if len(raw) > MaxUserDataBytes {
		return "", fmt.Errorf("user data is %d bytes gzipped, over the EC2 limit of %d", len(raw), MaxUserDataBytes)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// EncodedSize is the size in bytes of doc as EC2 counts it against MaxUserDataBytes: gzipped,
// before base64.
func EncodedSize(doc string) (int, error) {
	raw, err := gzipDocument(doc)
	return len(raw), err
}

func gzipDocument(doc string) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write([]byte(doc)); err != nil {
		return nil, fmt.Errorf("gzip user data: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip user data: %w", err)
	}
	return buf.Bytes(), nil
}

// DigestLen is the number of hex digits Digest returns.
const DigestLen = 12

// Digest is a short fingerprint of a rendered document: the first DigestLen hex digits of its
// SHA-256. The tracking server's instance carries it as a tag, so a preview shows a launch
// change as "user-data-sha256: 1a2b… => 3c4d…" next to the opaque userDataBase64, and a reviewer
// matches it with `sha256sum userdata/testdata/<stack>.cloud-config.yaml`. Render is
// deterministic, so an unchanged launch keeps its digest.
func Digest(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])[:DigestLen]
}

// DecodeFromEC2 reverses EncodeForEC2: base64, then gunzip. It is how to read the document back
// from an instance's userDataBase64 (e.g. in a preview or `aws ec2 describe-instance-attribute`).
func DecodeFromEC2(b64 string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("user data is not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("user data is not gzip: %w", err)
	}
	doc, err := io.ReadAll(zr)
	if err != nil {
		return "", fmt.Errorf("gunzip user data: %w", err)
	}
	return string(doc), nil
}
