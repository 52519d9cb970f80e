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

	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// Namespace is the Pulumi project name and so the config namespace of this program's keys.
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
	// KeyRegion is the AWS provider's region key (namespace "aws").
	KeyRegion = "aws:region"
)

// Keys lists every key of this program's namespace, in Pulumi.yaml order.
var Keys = []string{
	KeyMLflowVersion, KeyInstanceType, KeyAmiID, KeyAllowedCidrs, KeyAllowedHosts, KeyAllowPublicAccess, KeySSHKeyName,
	KeySSHCidrs, KeyVpcID, KeySubnetIDs, KeyDBInstanceClass, KeyDBEngineVersion,
	KeyDBAllocatedStorageGb, KeyDBMaxAllocatedStorageGb, KeyDBMultiAz, KeyDBBackupRetentionDays,
	KeyDBInstanceIdentifier, KeyArtifactBucketName, KeyArtifactAccess, KeyWorkers, KeyProtectData,
}

// Allowed values and ranges.
const (
	ArtifactAccessProxied = "proxied"
	ArtifactAccessDirect  = "direct"

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
	// MaxWorkers bounds an explicit uvicorn worker count.
	MaxWorkers = 64
)

// EngineMajorVersions are the RDS for PostgreSQL major versions accepted for dbEngineVersion.
var EngineMajorVersions = []string{"14", "15", "16", "17", "18"}

// minMLflow is the oldest MLflow accepted: 3.5.0 added --allowed-hosts, which the launch uses.
var minMLflow = [3]int{3, 5, 0}

// Config is the validated configuration of one stack. Sizes are GiB, periods days.
type Config struct {
	Project string // Pulumi project name
	Stack   string // Pulumi stack name
	Region  string // aws:region, e.g. "us-east-1"

	MLflowVersion string // PyPI release with a lock in userdata/lock, e.g. "3.17.2"
	InstanceType  string // EC2 instance type, e.g. "t3.micro"
	// AmiID pins the tracking server's AMI; "" = the latest Amazon Linux 2023 at each update.
	AmiID string
	// AllowedCidrs may reach port 5000 (canonical IPv4/IPv6 prefixes); empty = none, use SSM.
	AllowedCidrs []string
	// AllowedHosts are extra Host header values MLflow accepts ("host" or "host:port"), e.g. a
	// DNS name or load balancer in front of the server; the tracking URI's hosts are always in.
	AllowedHosts []string
	// AllowPublicAccess acknowledges 0.0.0.0/0 or ::/0 in allowedCidrs/sshCidrs when ProtectData.
	AllowPublicAccess bool
	SSHKeyName        string   // EC2 key pair name; "" = none
	SSHCidrs          []string // may reach port 22 (only with SSHKeyName)
	VpcID             string   // "" = the region's default VPC
	SubnetIDs         []string // empty = every subnet of the VPC

	DBInstanceClass          string // e.g. "db.t3.micro"
	DBEngineVersion          string // PostgreSQL major version, e.g. "17"
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

	ArtifactAccess string // ArtifactAccessProxied or ArtifactAccessDirect
	Workers        int    // uvicorn workers; 0 = sized from the instance's memory at boot
	// ProtectData turns on RDS deletion protection, a final snapshot, no bucket force-destroy and
	// Pulumi's protect on the database and bucket.
	ProtectData bool
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
	c, err := Parse(ctx.Project(), ctx.Stack(), ctx.GetConfig)
	var keys map[string]json.RawMessage
	if raw := os.Getenv(pulumi.EnvConfig); raw != "" {
		if jerr := json.Unmarshal([]byte(raw), &keys); jerr != nil {
			return nil, fmt.Errorf("read %s: %w", pulumi.EnvConfig, jerr)
		}
	}
	unknown := UnknownKeys(slices.Collect(maps.Keys(keys)))
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

// UnknownKeys returns a Problem for every key of this program's namespace ("mlflow-aws:...")
// that Pulumi.yaml does not declare, suggesting the closest known key. Keys of other
// namespaces (aws:, pulumi:) are not this program's to judge.
func UnknownKeys(keys []string) []Problem {
	var out []Problem
	slices.Sort(keys)
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, Namespace+":")
		if !ok || slices.Contains(Keys, name) {
			continue
		}
		msg := "is not a configuration key of this program"
		if guess := closestKey(name); guess != "" {
			msg += fmt.Sprintf("; did you mean %s?", qualify(guess))
		} else {
			msg += "; known keys: " + strings.Join(Keys, ", ")
		}
		out = append(out, Problem{Key: k, Message: msg})
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
	get      Getter
	problems []Problem
}

func (p *parser) fail(key, format string, args ...any) {
	p.problems = append(p.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func qualify(key string) string {
	if strings.Contains(key, ":") {
		return key
	}
	return Namespace + ":" + key
}

func (p *parser) raw(key string) (string, bool) {
	v, ok := p.get(qualify(key))
	if !ok {
		p.fail(qualify(key), "is not set; Pulumi.yaml declares its default (Pulumi CLI >= 3.44 applies it)")
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
		p.fail(qualify(key), "%q is not an integer; allowed: %d to %d", v, min, max)
		return 0
	}
	if n < min || n > max {
		p.fail(qualify(key), "%d is out of range; allowed: %d to %d", n, min, max)
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
	p.fail(qualify(key), "%q is not a boolean; allowed: true or false", v)
	return false
}

func (p *parser) list(key string) []string {
	v, ok := p.raw(key)
	if !ok {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		p.fail(qualify(key), "%q is not a list of strings (YAML sequence, e.g. [\"a\", \"b\"])", v)
		return nil
	}
	return out
}

var (
	releasePattern      = regexp.MustCompile(`^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$`)
	instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)?\.[a-z0-9]+$`)
	dbClassPattern      = regexp.MustCompile(`^db\.[a-z][a-z0-9]*\.[a-z0-9]+$`)
	amiIDPattern        = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	vpcIDPattern        = regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetIDPattern     = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
	keyPairNamePattern  = regexp.MustCompile(`^[\x20-\x7e]{1,255}$`)
)

// Parse validates the raw configuration of stack `stack` of project `project`. It returns every
// problem at once as *Error.
func Parse(project, stack string, get Getter) (*Config, error) {
	p := &parser{get: get}
	c := &Config{Project: project, Stack: stack}

	if len(stack) > MaxStackNameLen {
		p.fail("stack name", "%q has %d characters; at most %d, so the IAM role name derived from it fits IAM's 64", stack, len(stack), MaxStackNameLen)
	}
	c.Region, _ = p.get(KeyRegion)
	if c.Region == "" {
		p.fail(KeyRegion, "is not set; set it with `pulumi config set aws:region <region>`, e.g. us-east-1")
	} else if !userdata.IsRegion(c.Region) {
		p.fail(KeyRegion, "%q is not an AWS region name like us-east-1", c.Region)
	}

	c.MLflowVersion = p.str(KeyMLflowVersion)
	{
		v := c.MLflowVersion
		if m := releasePattern.FindStringSubmatch(v); m == nil {
			p.fail(qualify(KeyMLflowVersion), "%q is not an MLflow release like 3.17.2 (MAJOR.MINOR.PATCH, no pre-releases)", v)
		} else if versionLess(m[1:], minMLflow) {
			p.fail(qualify(KeyMLflowVersion), "%q is older than 3.5.0, the first release with --allowed-hosts, which the launch needs", v)
		} else if _, err := lock.For(v); err != nil {
			p.fail(qualify(KeyMLflowVersion), "%q has no hashed dependency lock; allowed: %s (add a release with `make lock MLFLOW_VERSION=%s` and commit userdata/lock/mlflow-%s.txt)",
				v, strings.Join(lock.Versions(), ", "), v, v)
		}
	}

	c.InstanceType = p.str(KeyInstanceType)
	if !instanceTypePattern.MatchString(c.InstanceType) {
		p.fail(qualify(KeyInstanceType), "%q is not an EC2 instance type like t3.micro or m7g.large", c.InstanceType)
	}

	c.AmiID = p.str(KeyAmiID)
	if c.AmiID != "" && !amiIDPattern.MatchString(c.AmiID) {
		p.fail(qualify(KeyAmiID), "%q is not an AMI id like ami-0123456789abcdef0 (or \"\" for the latest Amazon Linux 2023)", c.AmiID)
	}

	c.ProtectData = p.boolean(KeyProtectData)
	c.AllowPublicAccess = p.boolean(KeyAllowPublicAccess)
	c.AllowedCidrs = p.cidrs(KeyAllowedCidrs, c.ProtectData, c.AllowPublicAccess)
	c.AllowedHosts = p.list(KeyAllowedHosts)
	for _, h := range c.AllowedHosts {
		if err := userdata.CheckAllowedHost(h); err != nil {
			p.fail(qualify(KeyAllowedHosts), "%v; allowed: a DNS name or IPv4 address, optionally with :port, e.g. mlflow.example.com:443", err)
		}
	}
	c.SSHKeyName = p.str(KeySSHKeyName)
	if c.SSHKeyName != "" && !keyPairNamePattern.MatchString(c.SSHKeyName) {
		p.fail(qualify(KeySSHKeyName), "%q is not an EC2 key pair name (1-255 printable ASCII characters)", c.SSHKeyName)
	}
	c.SSHCidrs = p.cidrs(KeySSHCidrs, c.ProtectData, c.AllowPublicAccess)
	if n := len(c.AllowedCidrs) + len(c.SSHCidrs); n > MaxIngressCidrs {
		p.fail(qualify(KeyAllowedCidrs), "with %s lists %d CIDR blocks; at most %d fit the security group (aggregate them)", qualify(KeySSHCidrs), n, MaxIngressCidrs)
	}
	if len(c.SSHCidrs) > 0 && c.SSHKeyName == "" {
		p.fail(qualify(KeySSHCidrs), "is set but %s is empty; SSH is opened only with a key pair (or leave sshCidrs empty and use SSM Session Manager)", qualify(KeySSHKeyName))
	}

	c.VpcID = p.str(KeyVpcID)
	if c.VpcID != "" && !vpcIDPattern.MatchString(c.VpcID) {
		p.fail(qualify(KeyVpcID), "%q is not a VPC id like vpc-0123456789abcdef0 (or \"\" for the default VPC)", c.VpcID)
	}
	c.SubnetIDs = p.list(KeySubnetIDs)
	p.subnets(c)

	c.DBInstanceClass = p.str(KeyDBInstanceClass)
	if !dbClassPattern.MatchString(c.DBInstanceClass) {
		p.fail(qualify(KeyDBInstanceClass), "%q is not an RDS DB instance class like db.t3.micro or db.m7g.large", c.DBInstanceClass)
	}
	c.DBEngineVersion = p.str(KeyDBEngineVersion)
	if !slices.Contains(EngineMajorVersions, c.DBEngineVersion) {
		p.fail(qualify(KeyDBEngineVersion), "%q is not a supported PostgreSQL major version; allowed: %s", c.DBEngineVersion, strings.Join(EngineMajorVersions, ", "))
	}
	before := len(p.problems)
	c.DBAllocatedStorageGiB = p.integer(KeyDBAllocatedStorageGb, MinAllocatedStorageGiB, MaxAllocatedStorageGiB)
	c.DBMaxAllocatedStorageGiB = p.integer(KeyDBMaxAllocatedStorageGb, 0, MaxAllocatedStorageGiB)
	// Compared only when both are valid, so one bad value gives one problem. RDS wants the
	// autoscaling ceiling at least 10 % above the allocated storage; 0 turns autoscaling off.
	if floor := MinAutoscalingCeilingGiB(c.DBAllocatedStorageGiB); len(p.problems) == before &&
		c.DBMaxAllocatedStorageGiB != 0 && c.DBMaxAllocatedStorageGiB < floor {
		p.fail(qualify(KeyDBMaxAllocatedStorageGb), "%d is too low for %s %d; allowed: 0 (no storage autoscaling) or %d to %d (RDS needs the ceiling at least 10%% above the allocated storage)",
			c.DBMaxAllocatedStorageGiB, qualify(KeyDBAllocatedStorageGb), c.DBAllocatedStorageGiB, floor, MaxAllocatedStorageGiB)
	}
	c.DBMultiAZ = p.boolean(KeyDBMultiAz)
	c.DBBackupRetentionDays = p.integer(KeyDBBackupRetentionDays, 0, MaxBackupRetentionDays)
	if c.ProtectData && c.DBBackupRetentionDays < MinProtectedBackupDays && len(p.problems) == before {
		p.fail(qualify(KeyDBBackupRetentionDays), "%d is too few for a stack with %s: true; allowed: %d to %d",
			c.DBBackupRetentionDays, qualify(KeyProtectData), MinProtectedBackupDays, MaxBackupRetentionDays)
	}

	c.DBInstanceIdentifier = p.str(KeyDBInstanceIdentifier)
	if c.DBInstanceIdentifier == "" {
		c.DBInstanceIdentifier = DeriveDBInstanceIdentifier(project, stack)
	} else if err := CheckDBInstanceIdentifier(c.DBInstanceIdentifier); err != nil {
		p.fail(qualify(KeyDBInstanceIdentifier), "%v", err)
	} else if max := MaxDBInstanceIdentifierLen - len(finalSnapshotSuffix); len(c.DBInstanceIdentifier) > max {
		p.fail(qualify(KeyDBInstanceIdentifier), "%q is %d characters; at most %d, so the final snapshot identifier %q fits RDS's 63",
			c.DBInstanceIdentifier, len(c.DBInstanceIdentifier), max, FinalSnapshotIdentifier(c.DBInstanceIdentifier))
	}
	c.DBInstanceIdentifier = strings.ToLower(c.DBInstanceIdentifier)

	c.ArtifactBucketName = p.str(KeyArtifactBucketName)
	if c.ArtifactBucketName == "" {
		c.BucketPrefix = DeriveBucketPrefix(project, stack)
	} else if err := CheckBucketName(c.ArtifactBucketName); err != nil {
		p.fail(qualify(KeyArtifactBucketName), "%v", err)
	}

	c.ArtifactAccess = p.str(KeyArtifactAccess)
	if c.ArtifactAccess != ArtifactAccessProxied && c.ArtifactAccess != ArtifactAccessDirect {
		p.fail(qualify(KeyArtifactAccess), "%q is not allowed; allowed: %q (clients need no AWS credentials) or %q (clients use S3 with their own)",
			c.ArtifactAccess, ArtifactAccessProxied, ArtifactAccessDirect)
	}
	c.Workers = p.integer(KeyWorkers, 0, MaxWorkers)

	if len(p.problems) > 0 {
		return nil, &Error{Problems: p.problems}
	}
	return c, nil
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
			p.fail(qualify(key), "%q is not a CIDR block like 203.0.113.0/24", s)
			continue
		case !prefix.Addr().Is4():
			p.fail(qualify(key), "%q is IPv6; the tracking server has only an IPv4 address, so use IPv4 blocks like 203.0.113.0/24", s)
			continue
		case prefix.Masked() != prefix:
			p.fail(qualify(key), "%q has host bits set; did you mean %s?", s, prefix.Masked())
			continue
		case seen[prefix]:
			p.fail(qualify(key), "%q is listed twice", s)
		}
		seen[prefix] = true
		if prefix.Bits() < internetWideBits && protect && !allowPublic {
			p.fail(qualify(key), "%q opens the port to the whole internet in a stack with %s: true; narrow it (at least /%d), or set %s: true to acknowledge",
				s, qualify(KeyProtectData), internetWideBits, qualify(KeyAllowPublicAccess))
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
	key := qualify(KeySubnetIDs)
	if len(c.SubnetIDs) == 0 {
		return
	}
	if c.VpcID == "" {
		p.fail(key, "is set but %s is empty; name the VPC the subnets belong to", qualify(KeyVpcID))
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
	}
}

func versionLess(parts []string, min [3]int) bool {
	for i := 0; i < 3; i++ {
		n, _ := strconv.Atoi(parts[i])
		if n != min[i] {
			return n < min[i]
		}
	}
	return false
}

// MinAutoscalingCeilingGiB is the lowest dbMaxAllocatedStorageGb RDS accepts for an allocated
// size: 10 % above it, rounded up.
func MinAutoscalingCeilingGiB(allocatedGiB int) int { return (allocatedGiB*11 + 9) / 10 }

// ParameterGroupFamily is the RDS DB parameter group family of the configured engine, e.g.
// "postgres17".
func (c *Config) ParameterGroupFamily() string { return "postgres" + c.DBEngineVersion }

// PasswordParameterName is the SSM SecureString parameter holding the backend store's master
// password: "/<project>/<stack>/db-password".
func (c *Config) PasswordParameterName() string {
	return "/" + c.Project + "/" + c.Stack + "/db-password"
}
