package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// TestDowngradeRefusedAtPreview (C10): with the stack's SSM record (/mlflow-aws/<stack>/deployed/
// mlflow-version) naming a newer release than mlflowVersion, the program fails before any
// resource is registered (so `pulumi preview` fails) with one error naming the key, both
// releases and the way back. A first deploy (no record), the same release and an upgrade pass,
// and the record then holds the configured release and waits for the server's instance.
func TestDowngradeRefusedAtPreview(t *testing.T) {
	versions := lock.Versions()
	if len(versions) < 2 {
		t.Fatalf("need two locked releases, have %q", versions)
	}
	slices.SortFunc(versions, func(a, b string) int { return compareRelease(a, b) })
	oldest, newest := versions[0], versions[len(versions)-1]
	for _, stack := range []string{"dev", "prod"} {
		cfg := stackConfig(t, stack)
		cfg["mlflow-aws:mlflowVersion"] = oldest
		g := runStackDeployed(t, stack, cfg, newest)
		if g.err == nil {
			t.Fatalf("%s: mlflowVersion %s over a database last run by %s was accepted", stack, oldest, newest)
		}
		for _, want := range []string{"mlflow-aws:mlflowVersion", `"` + oldest + `"`, newest, "/mlflow-aws/" + stack + "/deployed/mlflow-version", "docs/operations.md"} {
			if !strings.Contains(g.err.Error(), want) {
				t.Errorf("%s: the refusal does not name %q: %v", stack, want, g.err)
			}
		}
		if len(g.resources) != 0 {
			t.Errorf("%s: %d resources registered before the refusal", stack, len(g.resources))
		}

		for _, deployed := range []string{"", oldest, newest} {
			cfg["mlflow-aws:mlflowVersion"] = newest
			g := runStackDeployed(t, stack, cfg, deployed)
			if g.err != nil {
				t.Fatalf("%s: mlflowVersion %s over %q: %v", stack, newest, deployed, g.err)
			}
			var record recorded
			for _, p := range g.byType(typeParameter) {
				if p.str("name") == "/mlflow-aws/"+stack+"/deployed/mlflow-version" {
					record = p
				}
			}
			if record.Name == "" {
				t.Fatalf("%s: no record of the deployed release", stack)
			}
			if got := record.str("value"); got != newest {
				t.Errorf("%s: the record holds %q, want %s", stack, got, newest)
			}
			inst := g.one(t, typeInstance)
			if !slices.Contains(record.Dependencies, inst.URN) {
				t.Errorf("%s: the record does not wait for the instance %s: %q", stack, inst.URN, record.Dependencies)
			}
		}
	}
}

// compareRelease orders MAJOR.MINOR.PATCH releases numerically.
func compareRelease(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range pa {
		var x, y int
		for _, c := range pa[i] {
			x = x*10 + int(c-'0')
		}
		for _, c := range pb[i] {
			y = y*10 + int(c-'0')
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// TestBoundaryAllowsThePreUpgradeSnapshot: the permissions boundary lets through every
// action/resource pair of components.TrackingServerSnapshotStatements for the dev and prod DB
// instances, and nothing of RDS beyond them: no other database's snapshot, no delete, restore or
// modify.
func TestBoundaryAllowsThePreUpgradeSnapshot(t *testing.T) {
	boundary := loadPolicy(t, boundaryPolicyPath)
	for _, stack := range []string{"dev", "prod"} {
		g := deliveryGraph(t, stack)
		id := g.one(t, typeDB).str("identifier")
		arn := "arn:aws:rds:us-east-1:123456789012:db:" + id
		sts, err := components.TrackingServerSnapshotStatements(arn)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sts {
			for _, a := range s.Action {
				for _, r := range s.Resource {
					if !boundary.allows(a, r) {
						t.Errorf("%s: the boundary blocks %s on %s, which the pre-upgrade snapshot needs", stack, a, r)
					}
				}
			}
		}
		snapshot := "arn:aws:rds:us-east-1:123456789012:snapshot:" + id + components.SnapshotInfix + "3-5-0-to-3-17-2-20261130120000"
		if !boundary.allows("rds:CreateDBSnapshot", snapshot) {
			t.Errorf("%s: the boundary blocks the snapshot %s", stack, snapshot)
		}
	}
	for _, denied := range []struct{ action, arn string }{
		{"rds:CreateDBSnapshot", "arn:aws:rds:us-east-1:123456789012:db:payroll"},
		{"rds:CreateDBSnapshot", "arn:aws:rds:us-east-1:123456789012:snapshot:payroll-copy"},
		{"rds:DeleteDBSnapshot", "arn:aws:rds:us-east-1:123456789012:snapshot:mlflow-aws-dev-mlflow-3-5-0-to-3-17-2-1"},
		{"rds:DeleteDBInstance", "arn:aws:rds:us-east-1:123456789012:db:mlflow-aws-dev"},
		{"rds:ModifyDBInstance", "arn:aws:rds:us-east-1:123456789012:db:mlflow-aws-dev"},
		{"rds:RestoreDBInstanceFromDBSnapshot", "*"},
		{"rds:CopyDBSnapshot", "*"},
		{"rds:ModifyDBSnapshotAttribute", "*"},
	} {
		if boundary.allows(denied.action, denied.arn) {
			t.Errorf("%s allows %s on %s", boundaryPolicyPath, denied.action, denied.arn)
		}
	}
}

// TestVersionAndFrontDoorChangeOneAtATime (C9 across modes): a release change in the same update
// as switching the front door on or off is refused before any resource is registered, naming
// both keys (the old mode's servers would still write while the new release migrates); either
// change alone passes, a first deploy passes, and the update records the mode it deployed.
func TestVersionAndFrontDoorChangeOneAtATime(t *testing.T) {
	versions := lock.Versions()
	slices.SortFunc(versions, func(a, b string) int { return compareRelease(a, b) })
	oldest, newest := versions[0], versions[len(versions)-1]
	single, door := stackConfig(t, "dev"), frontDoorDev(t)
	for _, tc := range []struct {
		name             string
		cfg              map[string]string
		version          string
		deployed, mode   string
		refused          bool
		wantRecordedMode string
	}{
		{"front door added with an upgrade", door, newest, oldest, "false", true, ""},
		{"front door added with an upgrade (no mode record yet)", door, newest, oldest, "", true, ""},
		{"front door removed with an upgrade", single, newest, oldest, "true", true, ""},
		{"front door added alone", door, oldest, oldest, "false", false, "true"},
		{"upgrade alone behind the front door", door, newest, oldest, "true", false, "true"},
		{"upgrade alone without one", single, newest, oldest, "false", false, "false"},
		{"first deploy with a front door", door, newest, "", "", false, "true"},
	} {
		cfg := maps.Clone(tc.cfg)
		cfg["mlflow-aws:mlflowVersion"] = tc.version
		g := runStackRecords(t, "dev", cfg, tc.deployed, tc.mode)
		if tc.refused {
			if g.err == nil || !strings.Contains(g.err.Error(), "mlflow-aws:mlflowVersion and mlflow-aws:domainName change together") || len(g.resources) != 0 {
				t.Errorf("%s: err %v with %d resources; want the one-at-a-time refusal and none", tc.name, g.err, len(g.resources))
			}
			continue
		}
		if g.err != nil {
			t.Errorf("%s: %v", tc.name, g.err)
			continue
		}
		got := ""
		for _, p := range g.byType(typeParameter) {
			if p.str("name") == "/mlflow-aws/dev/deployed/"+components.RecordFrontDoor {
				got = p.str("value")
			}
		}
		if got != tc.wantRecordedMode {
			t.Errorf("%s: the front-door record holds %q, want %q", tc.name, got, tc.wantRecordedMode)
		}
	}
}
