package config

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
)

// valid is a complete, valid raw configuration (what the CLI passes for the dev stack).
func valid() map[string]string {
	return map[string]string{
		"aws:region":                         "us-east-1",
		"mlflow-aws:mlflowVersion":           "3.17.2",
		"mlflow-aws:instanceType":            "t3.micro",
		"mlflow-aws:amiId":                   "",
		"mlflow-aws:allowedCidrs":            "[]",
		"mlflow-aws:allowedHosts":            "[]",
		"mlflow-aws:allowPublicAccess":       "false",
		"mlflow-aws:sshKeyName":              "",
		"mlflow-aws:sshCidrs":                "[]",
		"mlflow-aws:vpcId":                   "",
		"mlflow-aws:subnetIds":               "[]",
		"mlflow-aws:dbInstanceClass":         "db.t3.micro",
		"mlflow-aws:dbEngineVersion":         "17",
		"mlflow-aws:dbAllocatedStorageGb":    "20",
		"mlflow-aws:dbMaxAllocatedStorageGb": "100",
		"mlflow-aws:dbMultiAz":               "false",
		"mlflow-aws:dbBackupRetentionDays":   "7",
		"mlflow-aws:dbInstanceIdentifier":    "",
		"mlflow-aws:artifactBucketName":      "",
		"mlflow-aws:artifactAccess":          "proxied",
		"mlflow-aws:workers":                 "0",
		"mlflow-aws:protectData":             "true",
		"mlflow-aws:auth":                    "basic",
		"mlflow-aws:adminUsername":           "mlflow-admin",
		"mlflow-aws:defaultPermission":       "READ",
		"mlflow-aws:users":                   "[]",
		"mlflow-aws:promoters":               "[]",
		"mlflow-aws:productionAlias":         "production",
		"mlflow-aws:stagingAlias":            "staging",
		"mlflow-aws:domainName":              "",
		"mlflow-aws:hostedZoneId":            "",
		"mlflow-aws:albAccessLogs":           "false",
		"mlflow-aws:serverCount":             "0",
		"mlflow-aws:serverMaxCount":          "0",
		"mlflow-aws:logRetentionDays":        "365",
		"mlflow-aws:alarmEmail":              "",
		"mlflow-aws:detailedMonitoring":      "true",
		"mlflow-aws:artifactSpoolGb":         "20",
		"mlflow-aws:gcOlderThan":             "30d",
	}
}

func parseDev(cfg map[string]string) (*Config, error) {
	return Parse("mlflow-aws", "dev", func(k string) (string, bool) { v, ok := cfg[k]; return v, ok })
}

func TestValidConfigParses(t *testing.T) {
	c, err := parseDev(valid())
	if err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	if c.DBInstanceIdentifier != "mlflow-aws-dev" || c.BucketPrefix != "mlflow-aws-dev-" || c.PasswordParameterName() != "/mlflow-aws/dev/db-password" {
		t.Errorf("derived names: %q %q %q", c.DBInstanceIdentifier, c.BucketPrefix, c.PasswordParameterName())
	}
	if c.ParameterGroupFamily() != "postgres17" {
		t.Errorf("family %q", c.ParameterGroupFamily())
	}
}

// TestBadValuesNameTheirKey: every key's bad values give exactly one problem, naming that key.
func TestBadValuesNameTheirKey(t *testing.T) {
	cases := []struct {
		key    string
		values []string
		extra  map[string]string // other keys set for the case
		want   string            // part of the message
	}{
		{"aws:region", []string{"", "US East 1", "useast1"}, nil, "region"},
		// Regions of partitions whose RDS CA bundle and ARNs the program does not know.
		{"aws:region", []string{"eusc-de-east-1", "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1", "xx-east-1"}, nil, "partition"},
		{"mlflow-aws:mlflowVersion", []string{"", "latest", "3.17", "3.17.0rc1", "v3.17.0", "3.17.0 ", "03.1.0", "99999999999999999999.0.0", "3.17.12345", "3.17.0", "3.6.0"}, nil, "release"},
		{"mlflow-aws:mlflowVersion", []string{"2.22.0", "3.4.9"}, nil, "3.5.0"},
		{"mlflow-aws:instanceType", []string{"", "t3", "T3.MICRO", "t3.micro;rm", "db.t3.micro.x", "t3 .micro"}, nil, "instance type"},
		{"mlflow-aws:amiId", []string{"ami-123", "AMI-0123456789abcdef0", "ami-0123456789abcdefg", "resolve:ssm:/x"}, nil, "AMI id"},
		{"mlflow-aws:allowedCidrs", []string{`["10.0.0.1"]`, `["300.0.0.0/8"]`, `["10.0.0.0/33"]`, `"10.0.0.0/8"`, `[1]`, `["10.0.0.0/8","10.0.0.0/8"]`, `["10.0.0.1/8"]`}, nil, ""},
		{"mlflow-aws:allowedCidrs", []string{`["0.0.0.0/0"]`, `["0.0.0.0/1"]`, `["128.0.0.0/1","10.0.0.0/8"]`, `["64.0.0.0/2"]`}, nil, "allowPublicAccess"},
		{"mlflow-aws:allowedCidrs", []string{`["::/0"]`, `["2001:db8::/48"]`}, nil, "IPv6"},
		{"mlflow-aws:allowedCidrs", []string{manyCidrs(51)}, nil, "at most 50"},
		{"mlflow-aws:allowedHosts", []string{`["*.example.com"]`, `["https://mlflow.example.com"]`, `["host:99999"]`, `["[::1]:5000"]`, `["a b"]`}, nil, "DNS name"},
		{"mlflow-aws:allowedHosts", []string{`"mlflow.example.com"`, `{}`}, nil, "list of strings"},
		{"mlflow-aws:allowedHosts", []string{`["a.example.com","a.example.com"]`}, nil, "twice"},
		{"mlflow-aws:allowPublicAccess", []string{"yes", "1", ""}, nil, "boolean"},
		{"mlflow-aws:sshCidrs", []string{`["198.51.100.0/24"]`}, nil, "sshKeyName"},
		{"mlflow-aws:sshCidrs", []string{`["not-a-cidr"]`}, map[string]string{"mlflow-aws:sshKeyName": "k"}, "CIDR"},
		{"mlflow-aws:sshKeyName", []string{"bad\nname", strings.Repeat("k", 256)}, nil, "key pair"},
		{"mlflow-aws:vpcId", []string{"vpc-123", "vpc-XYZ45678", "my-vpc"}, nil, "VPC id"},
		{"mlflow-aws:subnetIds", []string{`["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]`}, nil, "vpcId"},
		{"mlflow-aws:subnetIds", []string{`["subnet-0123456789abcdef0"]`}, map[string]string{"mlflow-aws:vpcId": "vpc-0123456789abcdef0"}, "at least 2"},
		{"mlflow-aws:subnetIds", []string{`["subnet-0123456789abcdef0","subnet-1"]`}, map[string]string{"mlflow-aws:vpcId": "vpc-0123456789abcdef0"}, "subnet id"},
		{"mlflow-aws:subnetIds", []string{`{"a":1}`}, nil, "list"},
		{"mlflow-aws:dbInstanceClass", []string{"", "t3.micro", "db.t3", "db..micro", "DB.T3.MICRO"}, nil, "DB instance class"},
		{"mlflow-aws:dbEngineVersion", []string{"", "12", "13", "19", "19.1", "13.4", "17.", "17.x", "17.6.1", "017", "latest", "9.6"}, nil, "14, 15, 16, 17, 18"},
		{"mlflow-aws:dbAllocatedStorageGb", []string{"19", "0", "-5", "65537"}, map[string]string{"mlflow-aws:dbMaxAllocatedStorageGb": "65536"}, "allowed: 20 to 65536"},
		{"mlflow-aws:dbAllocatedStorageGb", []string{"twenty", "20.5", ""}, nil, "not an integer"},
		{"mlflow-aws:dbMaxAllocatedStorageGb", []string{"-1", "70000"}, nil, "allowed: 0 to 65536"},
		{"mlflow-aws:dbMaxAllocatedStorageGb", []string{"19", "21"}, nil, "allowed: 0 (no storage autoscaling) or 22 to 65536"},
		{"mlflow-aws:dbMaxAllocatedStorageGb", []string{"50", "54"}, map[string]string{"mlflow-aws:dbAllocatedStorageGb": "50"}, "at least 10%"},
		{"mlflow-aws:dbMultiAz", []string{"True ", "on", "2"}, nil, "boolean"},
		{"mlflow-aws:dbBackupRetentionDays", []string{"-1", "36", "a week"}, nil, "0 to 35"},
		{"mlflow-aws:dbBackupRetentionDays", []string{"0", "6"}, nil, "allowed: 7 to 35"},
		{"mlflow-aws:dbInstanceIdentifier", []string{"mlflow_db", "1mlflow", "ml--flow", "mlflow-", strings.Repeat("a", 64), "ml flow", "my.db"}, nil, ""},
		{"mlflow-aws:artifactBucketName", []string{"My-Bucket", "ab", "bucket_name", "-bucket", "bucket-", "a.b.c", "192.168.1.1", "xn--bucket", "sthree-bucket", "bucket-s3alias", strings.Repeat("b", 64)}, nil, ""},
		{"mlflow-aws:artifactAccess", []string{"", "proxy", "s3", "PROXIED"}, nil, `allowed: "proxied"`},
		{"mlflow-aws:workers", []string{"-1", "65", "auto", "1.5"}, nil, "0 to 64"},
		{"mlflow-aws:protectData", []string{"maybe", "TRUE!", ""}, nil, "boolean"},
		{"mlflow-aws:auth", []string{"", "Basic", "oidc", "true"}, nil, `allowed: "basic"`},
		{"mlflow-aws:adminUsername", []string{"", "1admin", "ad min", "a:b", strings.Repeat("a", 65)}, nil, "allowed: a letter"},
		{"mlflow-aws:adminUsername", []string{"admin"}, nil, "built-in admin"},
		{"mlflow-aws:defaultPermission", []string{"", "read", "ADMIN", "WRITE"}, nil, "allowed: READ, EDIT, MANAGE, NO_PERMISSIONS"},
		{"mlflow-aws:users", []string{`["alice","bob:x"]`, `["9lives"]`, `[""]`}, nil, "allowed: a letter"},
		{"mlflow-aws:users", []string{`["admin"]`}, nil, "built-in admin"},
		{"mlflow-aws:users", []string{`["alice","alice"]`}, nil, "twice"},
		{"mlflow-aws:users", []string{`["mlflow-admin"]`}, nil, "the admin"},
		{"mlflow-aws:users", []string{manyUsers(MaxUsers + 1)}, nil, "at most 50"},
		{"mlflow-aws:users", []string{`"alice"`, `{}`}, nil, "list of strings"},
		{"mlflow-aws:promoters", []string{`["carol"]`}, map[string]string{"mlflow-aws:users": `["alice","bob"]`}, "is not in mlflow-aws:users"},
		{"mlflow-aws:promoters", []string{`["alice","alice"]`}, map[string]string{"mlflow-aws:users": `["alice"]`}, "twice"},
		{"mlflow-aws:promoters", []string{`["mlflow-admin"]`}, nil, "the admin"},
		{"mlflow-aws:productionAlias", []string{"", "latest", "Latest", "v1", "V2", "prod.1", "prod uction", strings.Repeat("p", 256)}, nil, "allowed: letters, digits"},
		{"mlflow-aws:stagingAlias", []string{"", "LATEST", "v10", "stag/ing"}, nil, "not latest or v<digits>"},
		{"mlflow-aws:stagingAlias", []string{"production"}, nil, "two different aliases"},
		{"mlflow-aws:logRetentionDays", []string{"0", "2", "366", "-1", "forever", "", " 30 ", "+30", "030"}, nil, "allowed: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 days"},
		{"mlflow-aws:alarmEmail", []string{"ops", "ops@", "Ops <ops@example.com>", "ops@example.com ", "a@b@c", strings.Repeat("a", 250) + "@x.io",
			"ops@localhost", "ops@[10.0.0.1]", "ops@example.com."}, nil, "is not an email address"},
		{"mlflow-aws:detailedMonitoring", []string{"yes", "1", ""}, nil, "boolean"},
	}
	for _, c := range cases {
		for _, v := range c.values {
			t.Run(fmt.Sprintf("%s=%q", c.key, v), func(t *testing.T) {
				cfg := valid()
				for k, x := range c.extra {
					cfg[k] = x
				}
				cfg[c.key] = v
				_, err := parseDev(cfg)
				var cerr *Error
				if !errors.As(err, &cerr) {
					t.Fatalf("want *config.Error, got %v", err)
				}
				if len(cerr.Problems) != 1 || cerr.Problems[0].Key != c.key {
					t.Fatalf("want one problem naming %s, got %v", c.key, cerr)
				}
				if msg := cerr.Problems[0].Message; c.want != "" && !strings.Contains(msg, c.want) && !strings.Contains(msg, strings.ToLower(c.want)) {
					t.Errorf("message %q does not say %q", msg, c.want)
				}
				if !strings.Contains(err.Error(), c.key) {
					t.Errorf("error text %q does not name the key", err)
				}
			})
		}
	}
}

func manyUsers(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("user%d", i))
	}
	return "[" + strings.Join(names, ",") + "]"
}

func manyCidrs(n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"198.51.100.%d/32"`, i)
	}
	return b.String() + "]"
}

// TestLegitimateValuesAccepted: values a user may rightly set are not rejected.
func TestLegitimateValuesAccepted(t *testing.T) {
	for key, values := range map[string][]string{
		"mlflow-aws:instanceType": {"t4g.small", "m7i-flex.large", "u-6tb1.metal", "c7gn.16xlarge", "m7i.metal-24xl",
			"m7i.metal-48xl", "r7iz.metal-16xl", "x8g.metal-24xl", "i7ie.metal-48xl", "c6in.metal", "u7i-12tb.224xlarge",
			"u-6tb1.112xlarge", "mac2-m2pro.metal"},
		"aws:region":                         {"eu-west-1", "us-gov-west-1", "ap-southeast-5", "cn-north-1", "il-central-1", "mx-central-1", "af-south-1"},
		"mlflow-aws:dbEngineVersion":         {"14", "18", "17.6", "16.13", "14.0"},
		"mlflow-aws:dbMaxAllocatedStorageGb": {"0", "22", "65536"},
		"mlflow-aws:allowedCidrs":            {`["10.0.0.0/8","203.0.113.7/32"]`, manyCidrs(50)},
		"mlflow-aws:mlflowVersion":           {"3.5.0", "3.17.2"},
		"mlflow-aws:logRetentionDays":        {"1", "30", "365", "1096", "3653"},
		"mlflow-aws:alarmEmail":              {"", "ops@example.com", "ml-team+alerts@sub.example.co.uk"},
		"mlflow-aws:detailedMonitoring":      {"true", "false"},
	} {
		for _, v := range values {
			cfg := valid()
			cfg[key] = v
			if _, err := parseDev(cfg); err != nil {
				t.Errorf("%s=%s rejected: %v", key, v, err)
			}
		}
	}
	cfg := valid()
	cfg["mlflow-aws:protectData"] = "false"
	cfg["mlflow-aws:dbBackupRetentionDays"] = "0"
	if _, err := parseDev(cfg); err != nil {
		t.Errorf("no backups in an unprotected stack rejected: %v", err)
	}
}

// TestStackNameLength: a stack name too long for the IAM role name is refused up front.
func TestStackNameLength(t *testing.T) {
	get := func(k string) (string, bool) { v, ok := valid()[k]; return v, ok }
	if _, err := Parse("mlflow-aws", strings.Repeat("s", MaxStackNameLen), get); err != nil {
		t.Errorf("stack name of %d characters rejected: %v", MaxStackNameLen, err)
	}
	_, err := Parse("mlflow-aws", strings.Repeat("s", MaxStackNameLen+1), get)
	if err == nil || !strings.Contains(err.Error(), "stack name") {
		t.Errorf("stack name of %d characters: want an error naming the stack name, got %v", MaxStackNameLen+1, err)
	}
}

// TestUnknownKeysAreNamedWithASuggestion: typos in this program's namespace are problems.
func TestUnknownKeysAreNamedWithASuggestion(t *testing.T) {
	got := UnknownKeys("mlflow-aws", []string{"mlflow-aws:dbMultiAZ", "mlflow-aws:instancetype", "mlflow-aws:dbBackupRetentionDay",
		"mlflow-aws:totallyNew", "aws:region", "aws:whatever", "mlflow-aws:workers"})
	want := map[string]string{
		"mlflow-aws:dbBackupRetentionDay": "did you mean mlflow-aws:dbBackupRetentionDays?",
		"mlflow-aws:dbMultiAZ":            "did you mean mlflow-aws:dbMultiAz?",
		"mlflow-aws:instancetype":         "did you mean mlflow-aws:instanceType?",
		"mlflow-aws:totallyNew":           "known keys: mlflowVersion",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d: %v", len(got), len(want), got)
	}
	for _, p := range got {
		if !strings.Contains(p.Message, want[p.Key]) {
			t.Errorf("%s: message %q does not say %q", p.Key, p.Message, want[p.Key])
		}
	}
}

// TestPublicCidrNeedsAcknowledgementOnlyWhenProtected: 0.0.0.0/0 is fine in an unprotected
// stack, and in a protected one with allowPublicAccess.
func TestPublicCidrNeedsAcknowledgementOnlyWhenProtected(t *testing.T) {
	for _, over := range []map[string]string{
		{"mlflow-aws:protectData": "false"},
		{"mlflow-aws:allowPublicAccess": "true"},
	} {
		cfg := valid()
		cfg["mlflow-aws:allowedCidrs"] = `["0.0.0.0/0","0.0.0.0/1"]`
		for k, v := range over {
			cfg[k] = v
		}
		if _, err := parseDev(cfg); err != nil {
			t.Errorf("%v: %v", over, err)
		}
	}
}

// TestAllProblemsAtOnce: several bad keys are all reported in one error.
func TestAllProblemsAtOnce(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:instanceType"] = "huge"
	cfg["mlflow-aws:workers"] = "-3"
	cfg["mlflow-aws:artifactAccess"] = "ftp"
	delete(cfg, "mlflow-aws:dbMultiAz")
	delete(cfg, "aws:region")
	_, err := parseDev(cfg)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	keys := map[string]bool{}
	for _, p := range cerr.Problems {
		keys[p.Key] = true
	}
	for _, k := range []string{"mlflow-aws:instanceType", "mlflow-aws:workers", "mlflow-aws:artifactAccess", "mlflow-aws:dbMultiAz", "aws:region"} {
		if !keys[k] {
			t.Errorf("problem for %s not reported; got %v", k, cerr)
		}
	}
	if len(cerr.Problems) != 5 {
		t.Errorf("want 5 problems, got %d: %v", len(cerr.Problems), cerr)
	}
}

// TestDerivedNamesAreAlwaysLegal: whatever the project and stack names, the derived
// RDS identifier, its final snapshot identifier and every bucket name generated from the prefix
// follow the AWS rules.
func TestDerivedNamesAreAlwaysLegal(t *testing.T) {
	names := []string{"dev", "prod", "mlflow_db", "My_Stack.1", "9lives", "--", "_", "", "a", "ünïcode-stack",
		strings.Repeat("x", 200), strings.Repeat("ab-", 40), "xn--punycode", "sthree-x", "amzn-s3-demo-bucket", "Org/Team"}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "abcXYZ019-_.@ /:"
	for i := 0; i < 500; i++ {
		b := make([]byte, r.IntN(80))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		names = append(names, string(b))
	}
	for _, project := range []string{"mlflow-aws", "mlflow_aws", "X"} {
		for _, stack := range names {
			id := DeriveDBInstanceIdentifier(project, stack)
			if err := CheckDBInstanceIdentifier(id); err != nil {
				t.Fatalf("DeriveDBInstanceIdentifier(%q, %q) = %q: %v", project, stack, id, err)
			}
			if err := CheckDBInstanceIdentifier(awsnames.FinalSnapshotIdentifier(id, "0a1b2c3d")); err != nil {
				t.Fatalf("final snapshot of %q: %v", id, err)
			}
			prefix := DeriveBucketPrefix(project, stack)
			if len(prefix) > MaxBucketPrefixLen {
				t.Fatalf("prefix %q longer than %d", prefix, MaxBucketPrefixLen)
			}
			// The provider appends a 26-character unique suffix (digits).
			generated := prefix + "20261130103300000000000001"
			if err := CheckBucketName(generated); err != nil {
				t.Fatalf("bucket generated from DeriveBucketPrefix(%q, %q): %v", project, stack, err)
			}
		}
	}
}

func TestNameRulesRejectTheIllegal(t *testing.T) {
	for _, id := range []string{"mlflow_db", "", "1abc", "a--b", "abc-", strings.Repeat("a", 64), "a b"} {
		if CheckDBInstanceIdentifier(id) == nil {
			t.Errorf("CheckDBInstanceIdentifier accepted %q", id)
		}
	}
	for _, id := range []string{"mlflow-db", "A", strings.Repeat("a", 63), "Team-MLflow-1"} {
		if err := CheckDBInstanceIdentifier(id); err != nil {
			t.Errorf("CheckDBInstanceIdentifier rejected %q: %v", id, err)
		}
	}
	for _, b := range []string{"my-bucket-1", "abc", strings.Repeat("a", 63)} {
		if err := CheckBucketName(b); err != nil {
			t.Errorf("CheckBucketName rejected %q: %v", b, err)
		}
	}
}
