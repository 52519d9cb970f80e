package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// Name rules of the resources the provider names from a logical name plus "-" and 7 random
// characters (Pulumi auto-naming), from the AWS docs of each resource.
var (
	iamNamePattern = regexp.MustCompile(`^[\w+=,.@-]+$`) // IAM User Guide, "IAM object quotas"
	// EC2 security group names: a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*, not "sg-...".
	sgNamePattern = regexp.MustCompile(`^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$`)
	// RDS DB subnet group names: lowercase letters, digits, periods, underscores, spaces, hyphens.
	subnetGroupPattern = regexp.MustCompile(`^[a-z0-9._ -]{1,255}$`)
)

// autoName is the physical name the provider gives a resource named from its logical name.
func autoName(r recorded) string { return r.Name + "-1a2b3c4" }

// nameProblems returns every derived physical name in g that breaks its AWS rule.
func nameProblems(g *graph) []string {
	var out []string
	bad := func(r recorded, name string, err error) {
		if err != nil {
			out = append(out, fmt.Sprintf("%s %s: %q: %v", r.Type, r.Name, name, err))
		}
	}
	for _, r := range g.resources {
		switch r.Type {
		case typeRole:
			n := autoName(r)
			if len(n) > 64 || !iamNamePattern.MatchString(n) {
				bad(r, n, fmt.Errorf("not an IAM role name (at most 64 of [\\w+=,.@-])"))
			}
		case typeRolePolicy, typeProfile:
			n := autoName(r)
			if len(n) > 128 || !iamNamePattern.MatchString(n) {
				bad(r, n, fmt.Errorf("not an IAM name (at most 128 of [\\w+=,.@-])"))
			}
		case typeSG:
			if n := autoName(r); !sgNamePattern.MatchString(n) || strings.HasPrefix(n, "sg-") {
				bad(r, n, fmt.Errorf("not a security group name"))
			}
		case typeParamGroup:
			// The provider lowercases auto-named RDS group names.
			n := strings.ToLower(autoName(r))
			bad(r, n, awsnames.CheckRDSName("DB parameter group name", n, 255))
		case typeSubnetGroup:
			if n := strings.ToLower(autoName(r)); !subnetGroupPattern.MatchString(n) {
				bad(r, n, fmt.Errorf("not a DB subnet group name"))
			}
		case typeDB:
			bad(r, r.str("identifier"), awsnames.CheckDBInstanceIdentifier(r.str("identifier")))
			if s := r.str("finalSnapshotIdentifier"); s != "" {
				bad(r, s, awsnames.CheckRDSName("DB snapshot identifier", s, awsnames.MaxDBInstanceIdentifierLen))
			}
		case typeBucket:
			n := r.str("bucket")
			if n == "" {
				n = r.str("bucketPrefix") + strings.Repeat("9", awsnames.BucketNameSuffixLen)
			}
			bad(r, n, awsnames.CheckBucketName(n))
		case typeParameter:
			bad(r, r.str("name"), awsnames.CheckSSMParameterName(r.str("name")))
		}
	}
	return out
}

// TestDerivedNamesAreLegalForEveryStackName: whatever the stack is called (Pulumi allows
// letters, digits, '-', '_' and '.'), every name derived from it is legal for its AWS resource,
// or the stack is refused before anything is registered.
func TestDerivedNamesAreLegalForEveryStackName(t *testing.T) {
	for _, stack := range []string{"dev_1", "my.stack", "a--b", "x-", "Dev", "_x_", "9", strings.Repeat("s_", 16), "team.ml-prod_eu"} {
		for _, protect := range []string{"false", "true"} {
			t.Run(stack+"/protectData="+protect, func(t *testing.T) {
				cfg := stackConfig(t, "dev")
				cfg["mlflow-aws:protectData"] = protect
				cfg["mlflow-aws:dbBackupRetentionDays"] = "7"
				g := runStack(t, stack, cfg)
				if g.err != nil {
					t.Fatalf("stack %q refused: %v", stack, g.err)
				}
				for _, p := range nameProblems(g) {
					t.Error(p)
				}
			})
		}
	}
	if len(nameProblems(&graph{resources: []recorded{{Type: typeParamGroup, Name: "mlflow-dev_1-db-params"}}})) == 0 {
		t.Error("the name check accepts an underscore in a DB parameter group name")
	}
}

// TestUserDataLimitRegistersNothing: allowedHosts that would push the user data over EC2's
// limit fail at config time, naming the key, before any resource or lookup.
func TestUserDataLimitRegistersNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var hosts []string
	for range 55 {
		var labels []string
		for range 4 {
			b := make([]byte, 62)
			for j := range b {
				b[j] = "abcdefghijklmnopqrstuvwxyz0123456789"[rng.IntN(36)]
			}
			labels = append(labels, string(b))
		}
		hosts = append(hosts, strconv.Quote(strings.Join(labels, ".")))
	}
	cfg := stackConfig(t, "dev")
	cfg["mlflow-aws:allowedHosts"] = "[" + strings.Join(hosts, ",") + "]"
	g := runStack(t, "dev", cfg)
	if g.err == nil || !strings.Contains(g.err.Error(), "mlflow-aws:allowedHosts") {
		t.Fatalf("want an error naming mlflow-aws:allowedHosts, got %v", g.err)
	}
	if len(g.resources) != 0 || len(g.invokes) != 0 {
		t.Errorf("%d resources and %d lookups before the error", len(g.resources), len(g.invokes))
	}
}

// TestRegionsOfOtherPartitions: each supported partition gets its own ARNs and RDS CA bundle;
// a region of a partition the program does not know is refused naming aws:region, before
// anything is registered.
func TestRegionsOfOtherPartitions(t *testing.T) {
	for region, want := range map[string][2]string{
		"eu-west-1":     {"arn:aws:", awsnames.RDSCABundleURLCommercial},
		"cn-north-1":    {"arn:aws-cn:", awsnames.RDSCABundleURLChina},
		"us-gov-west-1": {"arn:aws-us-gov:", awsnames.RDSCABundleURLGovCloud},
	} {
		cfg := stackConfig(t, "dev")
		cfg["aws:region"] = region
		g := runStack(t, "dev", cfg)
		if g.err != nil {
			t.Fatalf("%s: %v", region, g.err)
		}
		if arn := g.one(t, typeAttachment).str("policyArn"); !strings.HasPrefix(arn, want[0]) {
			t.Errorf("%s: managed policy ARN %q, want partition %s", region, arn, want[0])
		}
		if ud := g.one(t, typeInstance).userData(); !strings.Contains(ud, want[1]) {
			t.Errorf("%s: user data does not fetch %s", region, want[1])
		}
	}
	for _, region := range []string{"eusc-de-east-1", "us-iso-east-1", "us-isob-east-1"} {
		cfg := stackConfig(t, "dev")
		cfg["aws:region"] = region
		g := runStack(t, "dev", cfg)
		if g.err == nil || !strings.Contains(g.err.Error(), "aws:region") || len(g.resources) != 0 {
			t.Errorf("%s: want a refusal naming aws:region and nothing registered, got %v (%d resources)", region, g.err, len(g.resources))
		}
	}
}

// TestEngineVersionTarget: a MAJOR.MINOR engine version reaches RDS as given, with the major
// version's parameter group family.
func TestEngineVersionTarget(t *testing.T) {
	cfg := stackConfig(t, "prod")
	cfg["mlflow-aws:dbEngineVersion"] = "16.13"
	g := runStack(t, "prod", cfg)
	if g.err != nil {
		t.Fatal(g.err)
	}
	checkStr(t, g.one(t, typeDB), "engineVersion", "16.13")
	checkStr(t, g.one(t, typeParamGroup), "family", "postgres16")
}

// TestFinalSnapshotNamesNeverCollide: a protected database's final snapshot identifier ends
// in a random suffix the stack keeps in its state and redraws for a new identifier, so a stack
// recreated under the same identifier (new state, new draw) cannot collide with the snapshot
// of its predecessor.
func TestFinalSnapshotNamesNeverCollide(t *testing.T) {
	g := runStack(t, "prod", stackConfig(t, "prod"))
	if g.err != nil {
		t.Fatal(g.err)
	}
	db, suffix := g.one(t, typeDB), g.one(t, typeRandomID)
	if want := awsnames.FinalSnapshotIdentifier(db.str("identifier"), mockRandomHex); db.str("finalSnapshotIdentifier") != want {
		t.Errorf("final snapshot identifier %q, want %q (identifier + the random suffix)", db.str("finalSnapshotIdentifier"), want)
	}
	if suffix.str("keepers.dbInstanceIdentifier") != db.str("identifier") || suffix.number("byteLength")*2 != awsnames.FinalSnapshotSuffixLen {
		t.Errorf("suffix is not redrawn per identifier or has the wrong length: %v", suffix.Inputs)
	}
	if !slices.Contains(db.Dependencies, suffix.URN) {
		t.Errorf("the DB instance does not take its snapshot name from the random suffix")
	}
	if len(runStack(t, "dev", stackConfig(t, "dev")).byType(typeRandomID)) != 0 {
		t.Errorf("an unprotected stack (no final snapshot) draws a suffix")
	}
}

// replaceFields are, per resource type, the inputs whose change makes the AWS provider replace
// the resource (its schema's ForceNew inputs, pulumi-aws registry docs of each resource).
var replaceFields = map[string][]string{
	typeSG:          {"description", "name", "namePrefix", "vpcId"},
	typeParamGroup:  {"description", "family", "name", "namePrefix"},
	typeSubnetGroup: {"name", "namePrefix"},
	typeParameter:   {"name"},
	typePassword:    {"length", "special", "overrideSpecial", "minLower", "minUpper", "minNumeric", "minSpecial", "keepers"},
	typeRole:        {"name", "namePrefix", "path"},
	typeProfile:     {"name", "namePrefix", "path"},
	typeRolePolicy:  {"name", "namePrefix", "role"},
	typeBucket:      {"bucket", "bucketPrefix"},
	typeEip:         {"domain"},
	typeIngress:     {},
	typeDB:          {"identifier", "dbName", "username", "storageEncrypted", "engine"},
	typeInstance:    {"ami", "subnetId", "keyName", "userDataBase64", "availabilityZone", "networkInterfaces"},
	typeENI:         {"subnetId", "privateIp", "interfaceType"},
	typeASG:         {"name", "namePrefix"},
	typeLB:          {"name", "namePrefix", "internal", "loadBalancerType"},
	typeTG:          {"name", "namePrefix", "port", "protocol", "targetType", "vpcId"},
}

// replaced returns the inputs of r in replaceFields that differ between before and after and
// are not ignored (Pulumi keeps the state's value of an ignoreChanges input).
func replaced(before, after recorded) []string {
	var out []string
	for _, f := range replaceFields[after.Type] {
		if slices.Contains(after.IgnoreChanges, f) {
			continue
		}
		if !before.input(f).DeepEquals(after.input(f)) {
			out = append(out, f)
		}
	}
	return out
}

// TestCosmeticChangesReplaceNothing: a change of a name or description that only labels a
// resource replaces no other resource; only the resource the input really names is replaced
// (the database for its identifier).
func TestCosmeticChangesReplaceNothing(t *testing.T) {
	for _, c := range []struct {
		name      string
		set       map[string]string
		mayChange []string // types allowed to be replaced
	}{
		// A new identifier is a new database with a new endpoint, which the server's launch names.
		{"dbInstanceIdentifier", map[string]string{"mlflow-aws:dbInstanceIdentifier": "team-mlflow-store"}, []string{typeDB, typeInstance}},
		{"defaultTags", map[string]string{"aws:defaultTags": `{"tags":{"team":"ml"}}`}, nil},
		{"allowPublicAccess", map[string]string{"mlflow-aws:allowPublicAccess": "true"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := runStack(t, "dev", stackConfig(t, "dev"))
			cfg := stackConfig(t, "dev")
			for k, v := range c.set {
				cfg[k] = v
			}
			changed := runStack(t, "dev", cfg)
			if base.err != nil || changed.err != nil {
				t.Fatal(base.err, changed.err)
			}
			for _, after := range changed.resources {
				i := slices.IndexFunc(base.resources, func(r recorded) bool { return r.URN == after.URN })
				if i < 0 || slices.Contains(c.mayChange, after.Type) {
					continue
				}
				if f := replaced(base.resources[i], after); len(f) > 0 {
					t.Errorf("changing %s replaces %s %s (inputs %v)", c.name, after.Type, after.Name, f)
				}
			}
		})
	}
	// The check sees a replacement: the old identifier-bearing description would have been one.
	before := recorded{Type: typeSG, Inputs: propertyMapOf(map[string]any{"description": "MLflow backend store a"})}
	after := recorded{Type: typeSG, Inputs: propertyMapOf(map[string]any{"description": "MLflow backend store b"})}
	if len(replaced(before, after)) == 0 {
		t.Error("replaced() misses a security group description change")
	}
}

// TestPlacementIsStable: with subnetIds unset the server's network interface keeps the subnet
// recorded in the state (ignoreChanges), so an added subnet never moves it, and the Auto Scaling
// group keeps its subnets likewise; with subnetIds set the first one is binding and a change of
// it moves the server.
func TestPlacementIsStable(t *testing.T) {
	auto := runStack(t, "dev", stackConfig(t, "dev"))
	configured := runStack(t, "every-option-changed", everyOptionChanged(t))
	group := runStack(t, "dev", frontDoorDev(t))
	if auto.err != nil || configured.err != nil || group.err != nil {
		t.Fatal(auto.err, configured.err, group.err)
	}
	if eni := auto.one(t, typeENI); !slices.Contains(eni.IgnoreChanges, "subnetId") {
		t.Errorf("automatic placement is not kept in state: ignoreChanges %v", eni.IgnoreChanges)
	}
	if asg := group.one(t, typeASG); !slices.Contains(asg.IgnoreChanges, "vpcZoneIdentifiers") {
		t.Errorf("automatic placement of the group is not kept in state: ignoreChanges %v", asg.IgnoreChanges)
	}
	eni := configured.one(t, typeENI)
	if slices.Contains(eni.IgnoreChanges, "subnetId") {
		t.Errorf("configured placement is ignored: %v", eni.IgnoreChanges)
	}
	if want := list(t, everyOptionChanged(t)["mlflow-aws:subnetIds"])[0]; eni.str("subnetId") != want {
		t.Errorf("subnet %q, want the first configured %q", eni.str("subnetId"), want)
	}
}

// TestPreviewNamesTheLaunch: the instance's tags say which MLflow release the launch installs
// and carry a short digest of the rendered user data: a version change shows in words next to
// the opaque userDataBase64, and an unchanged configuration gives identical tags (no noise).
func TestPreviewNamesTheLaunch(t *testing.T) {
	tags := func(g *graph) (string, string) {
		inst := g.one(t, typeInstance)
		return inst.str("tags." + components.TagMLflowVersion), inst.str("tags." + components.TagUserDataDigest)
	}
	cfg := stackConfig(t, "prod")
	a, b := runStack(t, "prod", cfg), runStack(t, "prod", cfg)
	cfg["mlflow-aws:mlflowVersion"] = "3.5.0"
	c := runStack(t, "prod", cfg)
	for _, g := range []*graph{a, b, c} {
		if g.err != nil {
			t.Fatal(g.err)
		}
	}
	va, da := tags(a)
	vb, db := tags(b)
	vc, dc := tags(c)
	if va != stackConfig(t, "prod")["mlflow-aws:mlflowVersion"] || vc != "3.5.0" {
		t.Errorf("mlflow-version tags %q, %q", va, vc)
	}
	if da != userdata.Digest(a.one(t, typeInstance).userData()) || len(da) != userdata.DigestLen {
		t.Errorf("user data digest tag %q is not the digest of the user data", da)
	}
	if va != vb || da != db {
		t.Errorf("an unchanged configuration changes the tags: %s/%s -> %s/%s", va, da, vb, db)
	}
	if dc == da {
		t.Errorf("a new MLflow version leaves the user data digest unchanged")
	}
}

// TestKeysLeftUnderAnOldProjectName: after a project rename the engine passes Pulumi.yaml's
// defaults under the new name and the stack file's values under the old one; every stale key is
// named once, with the namespace to move it to, and nothing is registered (the values would
// otherwise be silently replaced by the defaults).
func TestKeysLeftUnderAnOldProjectName(t *testing.T) {
	cfg := stackConfig(t, "prod")
	defaults := projectDefaults(t)
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	readYAML(t, "Pulumi.prod.yaml", &file)
	var moved []string
	for k := range file.Config {
		if name, ok := strings.CutPrefix(k, "mlflow-aws:"); ok {
			cfg["mlflow:"+name] = cfg[k]
			cfg[k] = defaults[k]
			moved = append(moved, "mlflow:"+name)
		}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_CONFIG", string(raw))
	g := runStack(t, "prod", cfg)
	if g.err == nil || len(g.resources) != 0 {
		t.Fatalf("stale keys accepted (%d resources): %v", len(g.resources), g.err)
	}
	for _, k := range moved {
		if n := strings.Count(g.err.Error(), "\n  "+k+": "); n != 1 {
			t.Errorf("%s reported %d times, want once:\n%v", k, n, g.err)
		}
	}
	if !strings.Contains(g.err.Error(), "move the keys of every stack file to mlflow-aws:") {
		t.Errorf("no namespace hint: %v", g.err)
	}
}
