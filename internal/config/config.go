// Package config turns the Pulumi stack configuration into one validated Config value.
//
// Defaults live only in Pulumi.yaml (its typed `config:` block, Pulumi CLI >= 3.44), so
// `pulumi config` users see them; the CLI hands the program every key with its default
// filled in. Parse reports every problem at once, each naming its fully qualified key
// ("mlflow-aws:instanceType") and what is allowed, before any resource is registered.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// Namespace is the project name in Pulumi.yaml and so the config namespace of this program's
// keys. Pulumi puts a project's own config keys under its name, so a renamed project reads its
// keys under the new name (Load passes ctx.Project() to Parse).
const Namespace = "mlflow-aws"

// Config keys (without namespace), as declared in Pulumi.yaml.
const (
	KeyMLflowVersion           = "mlflowVersion"
	KeyInstanceType            = "instanceType"
	KeyAmiID                   = "amiId"
	KeyAllowedCidrs            = "allowedCidrs"
	KeyAllowedHosts            = "allowedHosts"
	KeyAllowPublicAccess       = "allowPublicAccess"
	KeySSHKeyName              = "sshKeyName"
	KeySSHCidrs                = "sshCidrs"
	KeyVpcID                   = "vpcId"
	KeySubnetIDs               = "subnetIds"
	KeyDBInstanceClass         = "dbInstanceClass"
	KeyDBEngineVersion         = "dbEngineVersion"
	KeyDBAllocatedStorageGb    = "dbAllocatedStorageGb"
	KeyDBMaxAllocatedStorageGb = "dbMaxAllocatedStorageGb"
	KeyDBMultiAz               = "dbMultiAz"
	KeyDBBackupRetentionDays   = "dbBackupRetentionDays"
	KeyDBInstanceIdentifier    = "dbInstanceIdentifier"
	KeyArtifactBucketName      = "artifactBucketName"
	KeyArtifactAccess          = "artifactAccess"
	KeyWorkers                 = "workers"
	KeyProtectData             = "protectData"
	KeyAuth                    = "auth"
	KeyAdminUsername           = "adminUsername"
	KeyDefaultPermission       = "defaultPermission"
	KeyUsers                   = "users"
	KeyPromoters               = "promoters"
	KeyProductionAlias         = "productionAlias"
	KeyStagingAlias            = "stagingAlias"
	KeyDomainName              = "domainName"
	KeyHostedZoneID            = "hostedZoneId"
	KeyALBAccessLogs           = "albAccessLogs"
	KeyServerCount             = "serverCount"
	KeyServerMaxCount          = "serverMaxCount"
	KeyLogRetentionDays        = "logRetentionDays"
	KeyAlarmEmail              = "alarmEmail"
	KeyDetailedMonitoring      = "detailedMonitoring"
	// KeyRegion is the AWS provider's region key (namespace "aws").
	KeyRegion = "aws:region"
)

// Keys lists every key of this program's namespace, in Pulumi.yaml order.
var Keys = []string{
	KeyMLflowVersion, KeyInstanceType, KeyAmiID, KeyAllowedCidrs, KeyAllowedHosts, KeyAllowPublicAccess, KeySSHKeyName,
	KeySSHCidrs, KeyVpcID, KeySubnetIDs, KeyDBInstanceClass, KeyDBEngineVersion,
	KeyDBAllocatedStorageGb, KeyDBMaxAllocatedStorageGb, KeyDBMultiAz, KeyDBBackupRetentionDays,
	KeyDBInstanceIdentifier, KeyArtifactBucketName, KeyArtifactAccess, KeyWorkers, KeyProtectData,
	KeyAuth, KeyAdminUsername, KeyDefaultPermission, KeyUsers, KeyPromoters, KeyProductionAlias, KeyStagingAlias,
	KeyDomainName, KeyHostedZoneID, KeyALBAccessLogs, KeyServerCount, KeyServerMaxCount,
	KeyLogRetentionDays, KeyAlarmEmail, KeyDetailedMonitoring,
	KeyArtifactSpoolGb, KeyGCOlderThan,
}

// Allowed values and ranges.
const (
	// MinAllocatedStorageGiB and MaxAllocatedStorageGiB bound gp3 storage for RDS for
	// PostgreSQL (Amazon RDS User Guide, "Amazon RDS DB instance storage").
	MinAllocatedStorageGiB = 20
	MaxAllocatedStorageGiB = 65536
	// MaxBackupRetentionDays is RDS's limit for automated backups.
	MaxBackupRetentionDays = 35
	// MinProtectedBackupDays is the least automated-backup retention of a protectData stack
	// (AWS Foundational Security Best Practices RDS.11 / checkov CKV_AWS_133 ask for 7).
	MinProtectedBackupDays = 7
	// MaxStackNameLen bounds the Pulumi stack name: the tracking server's IAM role is named
	// "mlflow-<stack>-server-role-<7 random>", and IAM role names have at most 64 characters.
	MaxStackNameLen = 32
	// MaxSubnets bounds subnetIds: a DB subnet group holds at most 20 subnets (Amazon RDS User
	// Guide, "Quotas in Amazon RDS").
	MaxSubnets = 20
)

// EngineMajorVersions are the RDS for PostgreSQL major versions accepted for dbEngineVersion.
var EngineMajorVersions = []string{"14", "15", "16", "17", "18"}

// engineVersionPattern: a major version, or MAJOR.MINOR (RDS for PostgreSQL 10 and later number
// releases MAJOR.MINOR, e.g. 16.13, 17.6; Amazon RDS User Guide, "Supported PostgreSQL major
// versions"). Group 1 is the major version.
var engineVersionPattern = regexp.MustCompile(`^([1-9][0-9]?)(\.(0|[1-9][0-9]{0,2}))?$`)

// Config is the validated configuration of one stack. Sizes are GiB (the keys ending in "Gb"
// hold GiB, as RDS counts storage), periods days.
type Config struct {
	Project   string // Pulumi project name
	Stack     string // Pulumi stack name
	Region    string // aws:region, e.g. "us-east-1"
	Partition string // the region's AWS partition, e.g. "aws" (awsnames.Partition)
	// Name is the base of every logical resource name: "mlflow-" plus the stack name in letters,
	// digits and single hyphens (ResourceName), so every name the provider derives from it is
	// legal for its AWS resource.
	Name string

	MLflowVersion string // PyPI release with a lock in userdata/lock, e.g. "3.17.2"
	InstanceType  string // EC2 instance type, e.g. "t3.micro"
	// AmiID pins the tracking server's AMI; "" = the latest Amazon Linux 2023 at each update.
	AmiID string
	// AllowedCidrs may reach port 5000 (canonical IPv4 prefixes); empty = none, use SSM.
	AllowedCidrs []string
	// AllowedHosts are extra Host header values MLflow accepts ("host" or "host:port"), e.g. a
	// DNS name or load balancer in front of the server; the tracking URI's hosts are always in.
	AllowedHosts []string
	// AllowPublicAccess acknowledges an internet-wide IPv4 block in allowedCidrs/sshCidrs when
	// ProtectData.
	AllowPublicAccess bool
	SSHKeyName        string   // EC2 key pair name; "" = none
	SSHCidrs          []string // may reach port 22 (only with SSHKeyName)
	VpcID             string   // "" = the region's default VPC
	SubnetIDs         []string // empty = every subnet of the VPC

	DBInstanceClass          string // e.g. "db.t3.micro"
	DBEngineVersion          string // PostgreSQL major version or MAJOR.MINOR, e.g. "17" or "17.6"
	DBAllocatedStorageGiB    int
	DBMaxAllocatedStorageGiB int
	DBMultiAZ                bool
	DBBackupRetentionDays    int
	// DBInstanceIdentifier is the RDS identifier: configured, or derived from project and stack.
	DBInstanceIdentifier string
	// ArtifactBucketName is the configured S3 bucket name; "" = generated from BucketPrefix.
	ArtifactBucketName string
	// BucketPrefix is the prefix of the generated bucket name when ArtifactBucketName is "".
	BucketPrefix string

	ArtifactAccess mlflowspec.ArtifactAccess
	Workers        int // uvicorn workers; 0 = sized from the instance's memory at boot
	// ProtectData turns on RDS deletion protection, a final snapshot, no bucket force-destroy and
	// Pulumi's protect on the database and bucket.
	ProtectData bool

	// Auth is whether the tracking server authenticates its clients.
	Auth mlflowspec.AuthMode
	// AuthParams are the launch's auth settings and the names of their SSM parameters; nil when
	// Auth is none.
	AuthParams *userdata.AuthParams

	// FrontDoor is the HTTPS load balancer in front of an Auto Scaling group of servers; nil
	// (no domainName) runs one server behind its Elastic IP.
	FrontDoor *FrontDoor
	// LogRetentionDays is how long the stack's CloudWatch Logs group keeps the server's logs
	// (one of LogRetentionValues).
	LogRetentionDays int
	// AlarmEmail is subscribed to the alarm topic; "" = no subscription.
	AlarmEmail string
	// DetailedMonitoring turns on EC2 detailed monitoring (1-minute metrics) of the server.
	DetailedMonitoring bool
	// ArtifactSpoolGiB is the configured spool volume size in GiB (0 = none); SpoolVolumeGiB is
	// what the server gets.
	ArtifactSpoolGiB int
	// GCOlderThan is the `mlflow gc --older-than` period of the daily gc, e.g. "30d"; "" = off.
	GCOlderThan string
}

// Problem is one invalid configuration value.
type Problem struct {
	Key     string // fully qualified key, e.g. "mlflow-aws:workers"
	Message string // what is wrong and what is allowed
}

// Error is every Problem found in one configuration, in key order.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid stack configuration (%d problem(s)):", len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s: %s", p.Key, p.Message)
	}
	return b.String()
}

// Getter returns the raw string value of a fully qualified key and whether it is set, as the
// Pulumi engine passes config to the program (arrays and objects as JSON text).
type Getter func(key string) (string, bool)

// Load reads and validates the configuration of the running stack, and rejects keys of this
// program's namespace it does not know (a typo such as "dbMultiAZ" would otherwise be ignored
// silently: the Pulumi CLI checks only declared keys). The key list comes from the engine's
// PULUMI_CONFIG environment variable (a JSON object). It fails with *Error.
func Load(ctx *pulumi.Context) (*Config, error) {
	var keys map[string]json.RawMessage
	if raw := os.Getenv(pulumi.EnvConfig); raw != "" {
		if jerr := json.Unmarshal([]byte(raw), &keys); jerr != nil {
			return nil, fmt.Errorf("read %s: %w", pulumi.EnvConfig, jerr)
		}
	}
	present := slices.Sorted(maps.Keys(keys))
	c, err := parse(ctx.Project(), ctx.Stack(), ctx.GetConfig, present)
	unknown := UnknownKeys(ctx.Project(), present)
	if len(unknown) == 0 {
		return c, err
	}
	cerr := &Error{}
	if err != nil && !errors.As(err, &cerr) {
		return nil, err
	}
	cerr.Problems = append(cerr.Problems, unknown...)
	return nil, cerr
}

// UnknownKeys returns a Problem for every key of namespace ns (the project name) that
// Pulumi.yaml does not declare, suggesting the closest known key, and for every known key
// written under another namespace whose key ns:key is also set (it is ignored; parse reports
// the ones whose ns:key is missing, with the same hint). Keys of the provider namespaces (aws:,
// pulumi:, random:) are not this program's to judge.
func UnknownKeys(ns string, keys []string) []Problem {
	var out []Problem
	keys = slices.Sorted(slices.Values(keys))
	for _, k := range keys {
		space, name, ok := strings.Cut(k, ":")
		if !ok {
			continue
		}
		if space != ns {
			if !slices.Contains(providerNamespaces, space) && slices.Contains(Keys, name) && slices.Contains(keys, ns+":"+name) {
				out = append(out, Problem{Key: k, Message: fmt.Sprintf("is ignored: %s", namespaceHint(ns))})
			}
			continue
		}
		if slices.Contains(Keys, name) {
			continue
		}
		msg := "is not a configuration key of this program"
		if guess := closestKey(name); guess != "" {
			msg += fmt.Sprintf("; did you mean %s:%s?", ns, guess)
		} else {
			msg += "; known keys: " + strings.Join(Keys, ", ")
		}
		out = append(out, Problem{Key: k, Message: msg})
	}
	return out
}

// providerNamespaces are config namespaces of the providers and the engine, never this program's.
var providerNamespaces = []string{"aws", "pulumi", "random"}

func namespaceHint(ns string) string {
	return fmt.Sprintf("this program reads its keys under %s: (the project name in Pulumi.yaml); after renaming the project, move the keys of every stack file to %s:", ns, ns)
}

// elsewhere maps each known key written under a foreign namespace to that qualified key, e.g.
// "workers" -> "old-name:workers", from the keys the engine passed.
func elsewhere(ns string, present []string) map[string]string {
	out := map[string]string{}
	for _, k := range present {
		space, name, ok := strings.Cut(k, ":")
		if ok && space != ns && !slices.Contains(providerNamespaces, space) && slices.Contains(Keys, name) {
			out[name] = k
		}
	}
	return out
}

// closestKey returns the known key within edit distance 3 of name (case-insensitive), or "".
func closestKey(name string) string {
	best, bestDist := "", 4
	for _, k := range Keys {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

type parser struct {
	ns        string // the namespace of this program's keys: the project name
	get       Getter
	problems  []Problem
	bad       map[string]bool   // keys with a problem
	elsewhere map[string]string // known key -> the same key under a foreign namespace
}

// fail records a problem of key. A key that is not set has that one problem only: the checks of
// its (empty) value add nothing.
func (p *parser) fail(key, format string, args ...any) {
	if p.bad[key+" (not set)"] {
		return
	}
	p.bad[key] = true
	p.problems = append(p.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// valid reports whether none of keys has a problem yet: cross-key rules run only on valid
// values, so each mistake is reported once, on its own key, and independent mistakes are all
// reported.
func (p *parser) valid(keys ...string) bool {
	for _, k := range keys {
		// Pseudo-keys ("project name", "stack name") are recorded as they are.
		if p.bad[k] || p.bad[p.qualify(k)] {
			return false
		}
	}
	return true
}

// qualify returns key under this program's namespace ("workers" -> "mlflow-aws:workers");
// keys already qualified ("aws:region") are returned as they are.
func (p *parser) qualify(key string) string {
	if strings.Contains(key, ":") {
		return key
	}
	return p.ns + ":" + key
}

func (p *parser) raw(key string) (string, bool) {
	v, ok := p.get(p.qualify(key))
	if !ok {
		defer func() { p.bad[p.qualify(key)+" (not set)"] = true }()
		if other, found := p.elsewhere[key]; found {
			p.fail(p.qualify(key), "is not set, but %s is: %s", other, namespaceHint(p.ns))
		} else {
			p.fail(p.qualify(key), "is not set; Pulumi.yaml declares its default (Pulumi CLI >= 3.44 applies it)")
		}
	}
	return v, ok
}

func (p *parser) str(key string) string {
	v, _ := p.raw(key)
	return v
}

func (p *parser) integer(key string, min, max int) int {
	v, ok := p.raw(key)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		p.fail(p.qualify(key), "%q is not an integer; allowed: %d to %d", v, min, max)
		return 0
	}
	if n < min || n > max {
		p.fail(p.qualify(key), "%d is out of range; allowed: %d to %d", n, min, max)
	}
	return n
}

func (p *parser) boolean(key string) bool {
	v, ok := p.raw(key)
	if !ok {
		return false
	}
	switch strings.TrimSpace(v) {
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(p.qualify(key), "%q is not a boolean; allowed: true or false", v)
	return false
}

func (p *parser) list(key string) []string {
	v, ok := p.raw(key)
	if !ok {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		p.fail(p.qualify(key), "%q is not a list of strings (YAML sequence, e.g. [\"a\", \"b\"])", v)
		return nil
	}
	return out
}

var (
	dbClassPattern     = regexp.MustCompile(`^db\.[a-z][a-z0-9]*\.[a-z0-9]+$`)
	amiIDPattern       = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	vpcIDPattern       = regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetIDPattern    = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
	keyPairNamePattern = regexp.MustCompile(`^[\x20-\x7e]{1,255}$`)
)

// Parse validates the raw configuration of stack `stack` of project `project`; the program's
// keys live under the project's namespace ("<project>:key", as Pulumi.yaml declares them). It
// returns every problem at once as *Error.
func Parse(project, stack string, get Getter) (*Config, error) {
	return parse(project, stack, get, nil)
}

// parse is Parse with the list of every key the engine passed (PULUMI_CONFIG), used to recognise
// this program's keys written under another namespace.
func parse(project, stack string, get Getter, present []string) (*Config, error) {
	p := &parser{ns: project, get: get, bad: map[string]bool{}, elsewhere: elsewhere(project, present)}
	c := &Config{Project: project, Stack: stack}
	p.names(c)
	p.server(c)
	p.access(c)
	p.network(c)
	p.database(c)
	p.storage(c)
	p.auth(c)
	p.frontDoor(c)
	p.monitoring(c)
	p.day2(c)
	p.userDataFits(c)
	if len(p.problems) > 0 {
		return nil, &Error{Problems: p.problems}
	}
	return c, nil
}

// names: the region and what is derived from project and stack.
func (p *parser) names(c *Config) {
	if len(c.Stack) > MaxStackNameLen {
		p.fail("stack name", "%q has %d characters; at most %d, so the IAM role name derived from it fits IAM's 64", c.Stack, len(c.Stack), MaxStackNameLen)
	}
	c.Name = ResourceName(c.Stack)
	if err := awsnames.CheckSSMParameterName(c.PasswordParameterName()); err != nil {
		p.fail("project name", "%q gives the password parameter name %q, which SSM refuses: %v", c.Project, c.PasswordParameterName(), err)
	}
	region, _ := p.get(KeyRegion)
	c.Region = region
	if region == "" {
		p.fail(KeyRegion, "is not set; set it with `pulumi config set aws:region <region>`, e.g. us-east-1")
	} else if partition, err := awsnames.Partition(region); err != nil {
		p.fail(KeyRegion, "%v", err)
	} else {
		c.Partition = partition
	}
}

// server: what runs on the tracking server.
func (p *parser) server(c *Config) {
	c.MLflowVersion = p.str(KeyMLflowVersion)
	if err := mlflowspec.CheckRelease(c.MLflowVersion); err != nil {
		p.fail(p.qualify(KeyMLflowVersion), "%v", err)
	} else if _, err := lock.For(c.MLflowVersion); err != nil {
		p.fail(p.qualify(KeyMLflowVersion), "%q has no hashed dependency lock; allowed: %s (add a release with `make lock MLFLOW_VERSION=%s` and commit userdata/lock/mlflow-%s.txt)",
			c.MLflowVersion, strings.Join(lock.Versions(), ", "), c.MLflowVersion, c.MLflowVersion)
	}
	c.InstanceType = p.str(KeyInstanceType)
	if !awsnames.IsInstanceType(c.InstanceType) {
		p.fail(p.qualify(KeyInstanceType), "%q is not an EC2 instance type like t3.micro, m7g.large or m7i.metal-24xl", c.InstanceType)
	}
	c.AmiID = p.str(KeyAmiID)
	if c.AmiID != "" && !amiIDPattern.MatchString(c.AmiID) {
		p.fail(p.qualify(KeyAmiID), "%q is not an AMI id like ami-0123456789abcdef0 (or \"\" for the latest Amazon Linux 2023)", c.AmiID)
	}
	access := p.str(KeyArtifactAccess)
	c.ArtifactAccess = mlflowspec.ArtifactAccess(access)
	if !c.ArtifactAccess.Valid() {
		p.fail(p.qualify(KeyArtifactAccess), "%q is not allowed; allowed: %q (clients need no AWS credentials) or %q (clients use S3 with their own)",
			access, mlflowspec.ArtifactAccessProxied, mlflowspec.ArtifactAccessDirect)
	}
	c.Workers = p.integer(KeyWorkers, 0, mlflowspec.MaxWorkers)
	c.AllowedHosts = p.list(KeyAllowedHosts)
	seen := map[string]bool{}
	for _, h := range c.AllowedHosts {
		if err := awsnames.CheckHostPort(h); err != nil {
			p.fail(p.qualify(KeyAllowedHosts), "%v; allowed: a DNS name or IPv4 address, optionally with :port, e.g. mlflow.example.com:443", err)
		} else if seen[h] {
			p.fail(p.qualify(KeyAllowedHosts), "%q is listed twice", h)
		}
		seen[h] = true
	}
}

// access: who may reach the tracking server.
func (p *parser) access(c *Config) {
	c.ProtectData = p.boolean(KeyProtectData)
	c.AllowPublicAccess = p.boolean(KeyAllowPublicAccess)
	c.AllowedCidrs = p.cidrs(KeyAllowedCidrs, c.ProtectData, c.AllowPublicAccess)
	c.SSHKeyName = p.str(KeySSHKeyName)
	if c.SSHKeyName != "" && !keyPairNamePattern.MatchString(c.SSHKeyName) {
		p.fail(p.qualify(KeySSHKeyName), "%q is not an EC2 key pair name (1-255 printable ASCII characters)", c.SSHKeyName)
	}
	c.SSHCidrs = p.cidrs(KeySSHCidrs, c.ProtectData, c.AllowPublicAccess)
	if n := len(c.AllowedCidrs) + len(c.SSHCidrs); n > MaxIngressCidrs {
		p.fail(p.qualify(KeyAllowedCidrs), "with %s lists %d CIDR blocks; at most %d fit the security group (aggregate them)", p.qualify(KeySSHCidrs), n, MaxIngressCidrs)
	}
	if len(c.SSHCidrs) > 0 && c.SSHKeyName == "" && !p.bad[p.qualify(KeySSHKeyName)] {
		p.fail(p.qualify(KeySSHCidrs), "is set but %s is empty; SSH is opened only with a key pair (or leave sshCidrs empty and use SSM Session Manager)", p.qualify(KeySSHKeyName))
	}
}

// network: VPC and subnets.
func (p *parser) network(c *Config) {
	c.VpcID = p.str(KeyVpcID)
	if c.VpcID != "" && !vpcIDPattern.MatchString(c.VpcID) {
		p.fail(p.qualify(KeyVpcID), "%q is not a VPC id like vpc-0123456789abcdef0 (or \"\" for the default VPC)", c.VpcID)
	}
	c.SubnetIDs = p.list(KeySubnetIDs)
	p.subnets(c)
}

// database: the backend store's engine, class, identifier and backups.
func (p *parser) database(c *Config) {
	c.DBInstanceClass = p.str(KeyDBInstanceClass)
	if !dbClassPattern.MatchString(c.DBInstanceClass) {
		p.fail(p.qualify(KeyDBInstanceClass), "%q is not an RDS DB instance class like db.t3.micro or db.m7g.large", c.DBInstanceClass)
	}
	c.DBEngineVersion = p.str(KeyDBEngineVersion)
	if m := engineVersionPattern.FindStringSubmatch(c.DBEngineVersion); m == nil || !slices.Contains(EngineMajorVersions, m[1]) {
		p.fail(p.qualify(KeyDBEngineVersion), "%q is not a supported PostgreSQL version; allowed: a major version (%s) or MAJOR.MINOR of one, e.g. 17 or 17.6",
			c.DBEngineVersion, strings.Join(EngineMajorVersions, ", "))
	}
	c.DBMultiAZ = p.boolean(KeyDBMultiAz)
	c.DBBackupRetentionDays = p.integer(KeyDBBackupRetentionDays, 0, MaxBackupRetentionDays)
	if p.valid(KeyDBBackupRetentionDays, KeyProtectData) && c.ProtectData && c.DBBackupRetentionDays < MinProtectedBackupDays {
		p.fail(p.qualify(KeyDBBackupRetentionDays), "%d is too few for a stack with %s: true; allowed: %d to %d",
			c.DBBackupRetentionDays, p.qualify(KeyProtectData), MinProtectedBackupDays, MaxBackupRetentionDays)
	}
	c.DBInstanceIdentifier = p.str(KeyDBInstanceIdentifier)
	if c.DBInstanceIdentifier == "" {
		c.DBInstanceIdentifier = DeriveDBInstanceIdentifier(c.Project, c.Stack)
	} else if err := awsnames.CheckDBInstanceIdentifier(c.DBInstanceIdentifier); err != nil {
		p.fail(p.qualify(KeyDBInstanceIdentifier), "%v", err)
	}
	c.DBInstanceIdentifier = strings.ToLower(c.DBInstanceIdentifier)
}

// storage: the backend store's storage and the artifact bucket.
func (p *parser) storage(c *Config) {
	c.DBAllocatedStorageGiB = p.integer(KeyDBAllocatedStorageGb, MinAllocatedStorageGiB, MaxAllocatedStorageGiB)
	c.DBMaxAllocatedStorageGiB = p.integer(KeyDBMaxAllocatedStorageGb, 0, MaxAllocatedStorageGiB)
	// Compared only when both are valid, so one bad value gives one problem. RDS wants the
	// autoscaling ceiling at least 10 % above the allocated storage; 0 turns autoscaling off.
	if floor := MinAutoscalingCeilingGiB(c.DBAllocatedStorageGiB); p.valid(KeyDBAllocatedStorageGb, KeyDBMaxAllocatedStorageGb) &&
		c.DBMaxAllocatedStorageGiB != 0 && c.DBMaxAllocatedStorageGiB < floor {
		if floor > MaxAllocatedStorageGiB {
			p.fail(p.qualify(KeyDBMaxAllocatedStorageGb), "%d cannot be 10%% above %s %d within RDS's %d GiB; allowed: 0 (no storage autoscaling), or lower %s to at most %d",
				c.DBMaxAllocatedStorageGiB, p.qualify(KeyDBAllocatedStorageGb), c.DBAllocatedStorageGiB, MaxAllocatedStorageGiB,
				p.qualify(KeyDBAllocatedStorageGb), MaxAllocatedForAutoscalingGiB())
		} else {
			p.fail(p.qualify(KeyDBMaxAllocatedStorageGb), "%d is too low for %s %d; allowed: 0 (no storage autoscaling) or %d to %d (RDS needs the ceiling at least 10%% above the allocated storage)",
				c.DBMaxAllocatedStorageGiB, p.qualify(KeyDBAllocatedStorageGb), c.DBAllocatedStorageGiB, floor, MaxAllocatedStorageGiB)
		}
	}
	c.ArtifactBucketName = p.str(KeyArtifactBucketName)
	if c.ArtifactBucketName == "" {
		c.BucketPrefix = DeriveBucketPrefix(c.Project, c.Stack)
	} else if err := awsnames.CheckBucketName(c.ArtifactBucketName); err != nil {
		p.fail(p.qualify(KeyArtifactBucketName), "%v", err)
	}
}

// MaxIngressCidrs bounds allowedCidrs plus sshCidrs: one security group rule each, and a
// security group holds 60 inbound rules by default (Amazon VPC quotas).
const MaxIngressCidrs = 50

// internetWideBits: an IPv4 block shorter than /8 (more than 16.7 million addresses) counts as
// "the internet" for the acknowledgement rule, so 0.0.0.0/1 + 128.0.0.0/1 cannot slip by.
const internetWideBits = 8

// cidrs parses a list of canonical IPv4 CIDR blocks (the tracking server has no IPv6 address).
// An internet-wide block (shorter than /8, e.g. 0.0.0.0/0) in a stack with protectData needs
// allowPublicAccess: true.
func (p *parser) cidrs(key string, protect, allowPublic bool) []string {
	list := p.list(key)
	seen := map[netip.Prefix]bool{}
	for _, s := range list {
		prefix, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			p.fail(p.qualify(key), "%q is not a CIDR block like 203.0.113.0/24", s)
			continue
		case !prefix.Addr().Is4():
			p.fail(p.qualify(key), "%q is IPv6; the tracking server has only an IPv4 address, so use IPv4 blocks like 203.0.113.0/24", s)
			continue
		case prefix.Masked() != prefix:
			p.fail(p.qualify(key), "%q has host bits set; did you mean %s?", s, prefix.Masked())
			continue
		case seen[prefix]:
			p.fail(p.qualify(key), "%q is listed twice", s)
		}
		seen[prefix] = true
		if prefix.Bits() < internetWideBits && protect && !allowPublic {
			p.fail(p.qualify(key), "%q opens the port to the whole internet in a stack with %s: true; narrow it (at least /%d), or set %s: true to acknowledge",
				s, p.qualify(KeyProtectData), internetWideBits, p.qualify(KeyAllowPublicAccess))
		}
	}
	return list
}

// privateRanges are the RFC 1918 and RFC 6598 (shared address space) IPv4 ranges.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
}

// AllPrivate reports whether cidrs is non-empty and every block lies in a private range
// (RFC 1918, RFC 6598): clients from such networks reach the server by its private IP (VPN,
// peering, Direct Connect), not by its Elastic IP.
func AllPrivate(cidrs []string) bool {
	if len(cidrs) == 0 {
		return false
	}
	for _, s := range cidrs {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return false
		}
		inside := false
		for _, r := range privateRanges {
			if r.Bits() <= prefix.Bits() && r.Contains(prefix.Addr()) {
				inside = true
			}
		}
		if !inside {
			return false
		}
	}
	return true
}

func (p *parser) subnets(c *Config) {
	key := p.qualify(KeySubnetIDs)
	if len(c.SubnetIDs) == 0 {
		return
	}
	if c.VpcID == "" {
		p.fail(key, "is set but %s is empty; name the VPC the subnets belong to", p.qualify(KeyVpcID))
	}
	seen := map[string]bool{}
	for _, s := range c.SubnetIDs {
		if !subnetIDPattern.MatchString(s) {
			p.fail(key, "%q is not a subnet id like subnet-0123456789abcdef0", s)
		} else if seen[s] {
			p.fail(key, "%q is listed twice", s)
		}
		seen[s] = true
	}
	if len(seen) < 2 {
		p.fail(key, "has %d subnet(s); an RDS DB subnet group needs at least 2, in different Availability Zones", len(seen))
	} else if len(seen) > MaxSubnets {
		p.fail(key, "has %d subnets; an RDS DB subnet group holds at most %d", len(seen), MaxSubnets)
	}
}

// MinAutoscalingCeilingGiB is the lowest dbMaxAllocatedStorageGb RDS accepts for an allocated
// size: 10 % above it, rounded up.
func MinAutoscalingCeilingGiB(allocatedGiB int) int { return (allocatedGiB*11 + 9) / 10 }

// MaxAllocatedForAutoscalingGiB is the largest dbAllocatedStorageGb that still leaves room for
// an autoscaling ceiling within MaxAllocatedStorageGiB.
func MaxAllocatedForAutoscalingGiB() int {
	n := MaxAllocatedStorageGiB
	for MinAutoscalingCeilingGiB(n) > MaxAllocatedStorageGiB {
		n--
	}
	return n
}

// ResourceName is the base of the logical resource names of stack: "mlflow-" plus the stack
// name in letters, digits and single hyphens (awsnames.Normalize). The provider derives physical
// names from logical ones (e.g. the RDS DB parameter group "mlflow-dev-db-params-1a2b3c4"), and
// RDS refuses underscores, dots, "--" and a trailing hyphen in them; a stack name that follows
// the rule (dev, prod) keeps its names unchanged.
func ResourceName(stack string) string {
	if n := awsnames.Normalize(stack); n != "" {
		return "mlflow-" + n
	}
	return "mlflow"
}

// ParameterGroupFamily is the RDS DB parameter group family of the configured engine's major
// version, e.g. "postgres17" for "17" and "17.6".
func (c *Config) ParameterGroupFamily() string {
	major, _, _ := strings.Cut(c.DBEngineVersion, ".")
	return "postgres" + major
}

// PasswordParameterName is the SSM SecureString parameter holding the backend store's master
// password: "/<project>/<stack>/db-password".
func (c *Config) PasswordParameterName() string {
	return c.parameterPrefix() + "/db-password"
}

// parameterPrefix is the SSM path under which every parameter of the stack lives,
// "/<project>/<stack>" (the tracking server's permissions boundary allows /mlflow-aws/*).
func (c *Config) parameterPrefix() string {
	return "/" + c.Project + "/" + c.Stack
}

// LogGroupName is the CloudWatch Logs group of the stack's tracking server logs,
// "/<project>/<stack>/tracking-server" (the instance role may write only there).
func (c *Config) LogGroupName() string {
	return c.parameterPrefix() + "/tracking-server"
}

// MetricsNamespace is the CloudWatch namespace of the tracking server's agent metrics,
// "<project>/<stack>" (the instance role may put metrics only there).
func (c *Config) MetricsNamespace() string {
	return c.Project + "/" + c.Stack
}

// AuthParameterPath is the SSM path of the MLflow passwords, "/<project>/<stack>/auth": the
// admin's at AuthParameterPath + "/admin-password", each user's at
// AuthParameterPath + "/users/<name>". The tracking server reads the path recursively.
func (c *Config) AuthParameterPath() string {
	return c.parameterPrefix() + "/auth"
}

// FlaskSecretKeyParameterName is the SSM SecureString holding the Flask secret key
// (MLFLOW_FLASK_SERVER_SECRET_KEY), "/<project>/<stack>/flask-secret-key".
func (c *Config) FlaskSecretKeyParameterName() string {
	return c.parameterPrefix() + "/flask-secret-key"
}
