package main

import (
	"testing"
)

// dataResources are the resources holding or guarding user data: replacing any of them would
// lose runs, models or artifacts, or lock the server out of the database.
var dataResources = []string{typeDB, typePassword, typeParameter, typeBucket, typeSubnetGroup, typeParamGroup,
	typeVersioning, typeEncryption, typePublicAccess, typeOwnership, typeBucketPolicy, typeLifecycle}

// dataResource returns the single data resource of a type: the backend store's password and
// parameter among the auth credentials' ones.
func dataResource(t testing.TB, g *graph, typ string) recorded {
	t.Helper()
	if typ == typePassword || typ == typeParameter {
		return g.owned(t, typ, tokBackendStore)
	}
	return g.one(t, typ)
}

// TestRoutineChangesLeaveDataAlone: changing what only concerns the tracking server
// (MLflow version, instance type, workers, allowed CIDRs, SSH, artifact access) changes no input
// of the database, its password, the parameter or the bucket, so Pulumi neither updates nor
// replaces them; the tracking server's instance does change. aws:defaultTags is provider
// configuration: it changes no program input (the provider then updates tags in place, which
// never replaces a resource).
func TestRoutineChangesLeaveDataAlone(t *testing.T) {
	changes := []struct {
		name string
		set  map[string]string
	}{
		{"mlflowVersion", map[string]string{"mlflow-aws:mlflowVersion": "3.5.0"}},
		{"instanceType", map[string]string{"mlflow-aws:instanceType": "t4g.small"}},
		{"workers", map[string]string{"mlflow-aws:workers": "3"}},
		{"allowedCidrs", map[string]string{"mlflow-aws:allowedCidrs": `["203.0.113.0/24"]`}},
		{"ssh", map[string]string{"mlflow-aws:sshKeyName": "ops", "mlflow-aws:sshCidrs": `["198.51.100.0/24"]`}},
		{"artifactAccess", map[string]string{"mlflow-aws:artifactAccess": "direct"}},
		{"defaultTags", map[string]string{"aws:defaultTags": `{"tags":{"team":"ml","cost-center":"42"}}`}},
	}
	for _, stack := range []string{"dev", "prod"} {
		base := runStack(t, stack, stackConfig(t, stack))
		if base.err != nil {
			t.Fatal(base.err)
		}
		for _, c := range changes {
			t.Run(stack+"/"+c.name, func(t *testing.T) {
				cfg := stackConfig(t, stack)
				for k, v := range c.set {
					cfg[k] = v
				}
				changed := runStack(t, stack, cfg)
				if changed.err != nil {
					t.Fatal(changed.err)
				}
				for _, typ := range dataResources {
					before, after := dataResource(t, base, typ), dataResource(t, changed, typ)
					if before.URN != after.URN {
						t.Errorf("%s moved: %s -> %s", typ, before.URN, after.URN)
					}
					if !before.Inputs.DeepEquals(after.Inputs) {
						t.Errorf("changing %s changes the inputs of %s %s:\n before %v\n after  %v", c.name, typ, before.Name, before.Inputs, after.Inputs)
					}
					if before.Protect != after.Protect {
						t.Errorf("changing %s changes protect of %s", c.name, typ)
					}
				}
				if c.name != "defaultTags" && c.name != "allowedCidrs" && c.name != "ssh" {
					// The change must reach the tracking server (else the test proves nothing).
					if base.one(t, typeInstance).Inputs.DeepEquals(changed.one(t, typeInstance).Inputs) {
						t.Errorf("changing %s did not change the tracking server instance", c.name)
					}
				}
			})
		}
	}
}
