package config

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// problems parses cfg for stack "dev" and returns its problems (nil when valid).
func problems(t *testing.T, cfg map[string]string) []Problem {
	t.Helper()
	_, err := parseDev(cfg)
	if err == nil {
		return nil
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	return cerr.Problems
}

func keysOf(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Key)
	}
	return out
}

// resourceNamePattern: letters, digits and single hyphens, starting with a letter, no trailing
// hyphen: the rule the strictest derived name (an RDS DB parameter group) follows.
var resourceNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$`)

// TestResourceNameIsLegalForEveryStack: every stack name Pulumi allows (letters, digits, '-',
// '_', '.') gives a base name RDS accepts in a parameter or subnet group name; stack names that
// already follow the rule keep their names, so no deployed stack is renamed.
func TestResourceNameIsLegalForEveryStack(t *testing.T) {
	for _, stack := range []string{"dev_1", "my.stack", "a--b", "x-", "_", "-", "..", "9lives", "Dev", "prod", "team_a.eu-1", strings.Repeat("s_", 16)} {
		name := ResourceName(stack)
		if !resourceNamePattern.MatchString(name) {
			t.Errorf("ResourceName(%q) = %q breaks the RDS naming rule", stack, name)
		}
	}
	for _, stack := range []string{"dev", "prod", "Dev", "eu-1", "team-a-prod"} {
		if got := ResourceName(stack); got != "mlflow-"+stack {
			t.Errorf("ResourceName(%q) = %q, want mlflow-%s unchanged", stack, got, stack)
		}
	}
	c, err := Parse("mlflow-aws", "dev_1", func(k string) (string, bool) { v, ok := valid()[k]; return v, ok })
	if err != nil || c.Name != "mlflow-dev-1" || c.DBInstanceIdentifier != "mlflow-aws-dev-1" {
		t.Errorf("stack dev_1: %v, name %q", err, c.Name)
	}
}

// TestProjectNamesGiveLegalParameterNames: the password parameter name derived from the project
// is checked at config time: SSM refuses names beginning with "aws" or "ssm".
func TestProjectNamesGiveLegalParameterNames(t *testing.T) {
	for _, project := range []string{"aws-mlflow", "SSM_tools", "awsome"} {
		cfg := map[string]string{}
		for k, v := range valid() {
			cfg[strings.Replace(k, "mlflow-aws:", project+":", 1)] = v
		}
		_, err := Parse(project, "dev", func(k string) (string, bool) { v, ok := cfg[k]; return v, ok })
		if err == nil || !strings.Contains(err.Error(), "project name") {
			t.Errorf("project %q: want a problem naming the project name, got %v", project, err)
		}
	}
}

// hostNames returns n distinct pseudo-random DNS names of exactly length characters.
func hostNames(n, length int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, seed))
	var out []string
	for i := 0; i < n; i++ {
		var labels []string
		remaining := length
		for remaining > 0 {
			l := min(remaining, 63)
			if remaining-l == 1 { // a label needs at least one character after the dot
				l--
			}
			b := make([]byte, l)
			for j := range b {
				b[j] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
			}
			labels = append(labels, string(b))
			remaining -= l + 1
		}
		out = append(out, strings.Join(labels, "."))
	}
	return out
}

func jsonList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
}

// TestUserDataLimitIsCheckedAtConfigTime: hosts that would push the gzipped user data over
// EC2's 16 KiB are refused at config time, in one problem naming allowedHosts; lists that fit
// pass. The check renders the real templates with worst-case placeholders.
func TestUserDataLimitIsCheckedAtConfigTime(t *testing.T) {
	for _, c := range []struct {
		name  string
		hosts []string
		fits  bool
	}{
		{"55 hosts of 253 characters", hostNames(55, 253, 1), false},
		{"400 hosts of 60 characters", hostNames(400, 60, 2), false},
		{"120 hosts of 253 characters with ports", func() []string {
			var out []string
			for _, h := range hostNames(120, 247, 3) {
				out = append(out, h+":443")
			}
			return out
		}(), false},
		{"no hosts", nil, true},
		{"10 hosts of 60 characters", hostNames(10, 60, 4), true},
		{"20 hosts of 253 characters", hostNames(20, 253, 5), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid()
			cfg["mlflow-aws:allowedHosts"] = jsonList(c.hosts)
			ps := problems(t, cfg)
			if c.fits {
				if ps != nil {
					t.Fatalf("refused: %v", ps)
				}
				return
			}
			if len(ps) != 1 || ps[0].Key != "mlflow-aws:allowedHosts" || !strings.Contains(ps[0].Message, "16384") {
				t.Fatalf("want one problem naming mlflow-aws:allowedHosts and the limit, got %v", ps)
			}
		})
	}
}

// TestUserDataLimitIsReportedWithOtherProblems: the size check does not wait for unrelated keys.
func TestUserDataLimitIsReportedWithOtherProblems(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:allowedHosts"] = jsonList(hostNames(55, 253, 1))
	cfg["mlflow-aws:dbInstanceClass"] = "huge"
	cfg["mlflow-aws:vpcId"] = "vpc-1"
	got := keysOf(problems(t, cfg))
	for _, k := range []string{"mlflow-aws:allowedHosts", "mlflow-aws:dbInstanceClass", "mlflow-aws:vpcId"} {
		if !slices.Contains(got, k) {
			t.Errorf("%s not reported; got %v", k, got)
		}
	}
}

// TestWorstCaseUserDataBoundsTheReal: the placeholders are at least as long as what AWS assigns,
// so the configuration's estimate is never below the real user data's size.
func TestWorstCaseUserDataBoundsTheReal(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:allowedHosts"] = jsonList(hostNames(15, 200, 9))
	c, err := parseDev(cfg)
	if err != nil {
		t.Fatal(err)
	}
	worst := WorstCaseUserDataParams(c)
	real := worst
	real.BackendStoreHost = c.DBInstanceIdentifier + ".c0abcdefghij.us-east-1.rds.amazonaws.com"
	real.AllowedHosts = append([]string{"localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "3.4.5.6", "3.4.5.6:5000",
		"ec2-3-4-5-6.compute-1.amazonaws.com", "ec2-3-4-5-6.compute-1.amazonaws.com:5000"}, c.AllowedHosts...)
	real.BackendStorePort = 5432
	size := func(p userdata.Params) int {
		doc, err := userdata.Render(p)
		if err != nil {
			t.Fatal(err)
		}
		n, err := userdata.EncodedSize(doc)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if w, r := size(worst), size(real); w < r {
		t.Errorf("worst case %d bytes < a real launch's %d bytes", w, r)
	}
}

// TestRegionPartition: each supported region maps to its partition.
func TestRegionPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "eu-central-2": "aws", "ap-southeast-5": "aws", "il-central-1": "aws", "mx-central-1": "aws",
		"cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn", "us-gov-west-1": "aws-us-gov", "us-gov-east-1": "aws-us-gov",
	} {
		cfg := valid()
		cfg["aws:region"] = region
		c, err := parseDev(cfg)
		if err != nil || c.Partition != want {
			t.Errorf("region %s: partition %v (%v), want %s", region, c, err, want)
		}
	}
}

// oneBadValue has, for each key, one value that is wrong on its own (no other key involved).
var oneBadValue = map[string]string{
	"aws:region": "useast1", "mlflow-aws:mlflowVersion": "latest", "mlflow-aws:instanceType": "huge",
	"mlflow-aws:amiId": "ami-1", "mlflow-aws:allowedCidrs": `["10.0.0.1"]`, "mlflow-aws:allowedHosts": `["*.x"]`,
	"mlflow-aws:allowPublicAccess": "yes", "mlflow-aws:sshKeyName": "bad\nname", "mlflow-aws:vpcId": "vpc-1",
	"mlflow-aws:dbInstanceClass": "t3.micro", "mlflow-aws:dbEngineVersion": "12", "mlflow-aws:dbAllocatedStorageGb": "10",
	"mlflow-aws:dbMaxAllocatedStorageGb": "-1", "mlflow-aws:dbMultiAz": "on", "mlflow-aws:dbBackupRetentionDays": "0",
	"mlflow-aws:dbInstanceIdentifier": "mlflow_db", "mlflow-aws:artifactBucketName": "Bad_Bucket",
	"mlflow-aws:artifactAccess": "s3", "mlflow-aws:workers": "-1", "mlflow-aws:protectData": "maybe",
}

// dependsOn: a value of the first key is wrong only given a valid value of the second (0 days of
// backups is wrong only when protectData is true), so those two are not independent.
var dependsOn = map[string]string{"mlflow-aws:dbBackupRetentionDays": "mlflow-aws:protectData"}

// TestEveryProblemAtOnce: any two independent mistakes are both reported, each on its key,
// including prod's dbAllocatedStorageGb 10 with dbBackupRetentionDays 0.
func TestEveryProblemAtOnce(t *testing.T) {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range oneBadValue {
			if !yield(k) {
				return
			}
		}
	})
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if dependsOn[a] == b || dependsOn[b] == a {
				continue
			}
			cfg := valid() // protectData: true, as in prod
			cfg[a], cfg[b] = oneBadValue[a], oneBadValue[b]
			got := keysOf(problems(t, cfg))
			if !slices.Contains(got, a) || !slices.Contains(got, b) {
				t.Errorf("%s=%q and %s=%q: reported %v, want both keys", a, oneBadValue[a], b, oneBadValue[b], got)
			}
		}
	}
}

var rangePattern = regexp.MustCompile(`(-?\d+) to (-?\d+)`)

// TestMessagesStateRangesThatCanBeMet: no message offers an empty range "A to B" with A > B,
// over every allocated size and ceiling around the boundaries, and a ceiling that cannot fit
// says what can.
func TestMessagesStateRangesThatCanBeMet(t *testing.T) {
	sizes := []int{-1, 0, 19, 20, 21, 100, 1000, MaxAllocatedForAutoscalingGiB() - 1, MaxAllocatedForAutoscalingGiB(),
		MaxAllocatedForAutoscalingGiB() + 1, 65535, 65536, 65537}
	for _, alloc := range sizes {
		for _, ceiling := range append(slices.Clone(sizes), 22, 110, 1100) {
			cfg := valid()
			cfg["mlflow-aws:dbAllocatedStorageGb"] = strconv.Itoa(alloc)
			cfg["mlflow-aws:dbMaxAllocatedStorageGb"] = strconv.Itoa(ceiling)
			for _, p := range problems(t, cfg) {
				for _, m := range rangePattern.FindAllStringSubmatch(p.Message, -1) {
					lo, _ := strconv.Atoi(m[1])
					hi, _ := strconv.Atoi(m[2])
					if lo > hi {
						t.Errorf("allocated %d, ceiling %d: %s offers the empty range %s: %s", alloc, ceiling, p.Key, m[0], p.Message)
					}
				}
			}
		}
	}
	// Allocated 65536 with any ceiling: the only way out is 0 or a smaller allocation.
	cfg := valid()
	cfg["mlflow-aws:dbAllocatedStorageGb"] = "65536"
	cfg["mlflow-aws:dbMaxAllocatedStorageGb"] = "65536"
	ps := problems(t, cfg)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "allowed: 0") || !strings.Contains(ps[0].Message, fmt.Sprint(MaxAllocatedForAutoscalingGiB())) {
		t.Errorf("want one problem offering 0 or a smaller allocation, got %v", ps)
	}
	if MinAutoscalingCeilingGiB(MaxAllocatedForAutoscalingGiB()) > MaxAllocatedStorageGiB ||
		MinAutoscalingCeilingGiB(MaxAllocatedForAutoscalingGiB()+1) <= MaxAllocatedStorageGiB {
		t.Errorf("MaxAllocatedForAutoscalingGiB %d is not the boundary", MaxAllocatedForAutoscalingGiB())
	}
}

// TestKeysUnderAnotherNamespace: after a project rename, keys left under the old namespace are
// reported once per key, each with a hint naming the namespace the program reads.
func TestKeysUnderAnotherNamespace(t *testing.T) {
	for _, c := range []struct{ project, old string }{{"mlflow-aws", "mlflow"}, {"ml-platform", "mlflow-aws"}} {
		// The engine passes Pulumi.yaml's defaults under the project's namespace only for keys
		// it declares; here the stack file holds every key under the old name.
		cfg := map[string]string{}
		var present []string
		for k, v := range valid() {
			k = strings.Replace(k, "mlflow-aws:", c.old+":", 1)
			cfg[k] = v
			present = append(present, k)
		}
		_, err := parse(c.project, "dev", func(k string) (string, bool) { v, ok := cfg[k]; return v, ok }, present)
		var cerr *Error
		if !errors.As(err, &cerr) {
			t.Fatalf("%+v: want *Error, got %v", c, err)
		}
		if len(cerr.Problems) != len(Keys) {
			t.Errorf("%+v: %d problems, want one per key (%d):\n%v", c, len(cerr.Problems), len(Keys), err)
		}
		seen := map[string]bool{}
		for _, p := range cerr.Problems {
			if seen[p.Key] {
				t.Errorf("%+v: %s reported twice", c, p.Key)
			}
			seen[p.Key] = true
			if !strings.Contains(p.Message, c.project+":") || !strings.Contains(p.Message, c.old+":") {
				t.Errorf("%+v: %s: message lacks the namespace hint: %s", c, p.Key, p.Message)
			}
		}
		// Both spellings set: the stale one is named, once.
		both := append(slices.Clone(present), c.project+":workers")
		if got := UnknownKeys(c.project, both); len(got) != 1 || got[0].Key != c.old+":workers" || !strings.Contains(got[0].Message, c.project+":") {
			t.Errorf("%+v: stale key not reported once with a hint: %v", c, got)
		}
	}
}

// TestEngineVersionMajorMinor: a MAJOR.MINOR target is kept as given (RDS upgrades to exactly
// it), and the parameter group family follows the major version.
func TestEngineVersionMajorMinor(t *testing.T) {
	for v, family := range map[string]string{"17": "postgres17", "17.6": "postgres17", "16.13": "postgres16", "14.0": "postgres14", "18.1": "postgres18"} {
		cfg := valid()
		cfg["mlflow-aws:dbEngineVersion"] = v
		c, err := parseDev(cfg)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if c.DBEngineVersion != v || c.ParameterGroupFamily() != family {
			t.Errorf("%s: engine %q family %q, want %q %q", v, c.DBEngineVersion, c.ParameterGroupFamily(), v, family)
		}
	}
}
