package main

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/server"
	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// withUsers is a stack's configuration with users alice and bob, bob a promoter.
func withUsers(t testing.TB, stack string) map[string]string {
	cfg := stackConfig(t, stack)
	cfg["mlflow-aws:users"] = `["alice","bob"]`
	cfg["mlflow-aws:promoters"] = `["bob"]`
	return cfg
}

// parameterArn is the ARN the mocks give an SSM parameter of the stack's region.
func parameterArn(cfg map[string]string, name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", cfg["aws:region"], mockAccount, name)
}

// TestServerAuthCredentials: with auth basic, the admin, each user and the Flask secret key get
// a generated secret (32 characters with specials for passwords, 64 alphanumerics for the key)
// in a SecureString at the stack's names, as a secret input; the outputs name the parameters.
func TestServerAuthCredentials(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		t.Run(stack, func(t *testing.T) {
			cfg := withUsers(t, stack)
			g := runStack(t, stack, cfg)
			if g.err != nil {
				t.Fatal(g.err)
			}
			prefix := "/mlflow-aws/" + stack
			want := map[string]int{ // parameter name -> length of its generated value
				prefix + "/auth/admin-password": components.MLflowPasswordLength,
				prefix + "/auth/users/alice":    components.MLflowPasswordLength,
				prefix + "/auth/users/bob":      components.MLflowPasswordLength,
				prefix + "/flask-secret-key":    components.FlaskSecretKeyLength,
			}
			params := g.ownedBy(typeParameter, tokServerAuth)
			got := map[string]recorded{}
			for _, p := range params {
				got[p.str("name")] = p
			}
			if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
				t.Fatalf("auth parameters %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			passwords := map[string]recorded{}
			for _, p := range g.ownedBy(typePassword, tokServerAuth) {
				passwords[p.URN] = p
			}
			for name, length := range want {
				p := got[name]
				checkStr(t, p, "type", "SecureString")
				if !p.Inputs["value"].IsSecret() {
					t.Errorf("%s: value is not a secret input", name)
				}
				// The value comes from exactly one RandomPassword of the right shape.
				var source []recorded
				for _, dep := range p.Dependencies {
					if r, ok := passwords[dep]; ok {
						source = append(source, r)
					}
				}
				if len(source) != 1 {
					t.Errorf("%s: value depends on %d RandomPasswords, want 1", name, len(source))
					continue
				}
				pw := source[0]
				if int(pw.number("length")) != length {
					t.Errorf("%s: generated length %v, want %d", name, pw.number("length"), length)
				}
				special, _ := pw.boolean("special")
				if name == prefix+"/flask-secret-key" {
					if special {
						t.Errorf("%s: the Flask secret key is letters and digits only", name)
					}
				} else if !special || pw.str("overrideSpecial") != components.MLflowPasswordSpecialCharacters || pw.number("minSpecial") < 1 {
					t.Errorf("%s: password without the documented special characters: %v", name, pw.Inputs)
				}
				for _, bad := range []string{`"`, "'", `\`, "`", "$", "!", " ", "&", "|"} {
					if strings.Contains(pw.str("overrideSpecial"), bad) {
						t.Errorf("%s: special characters %q contain %q, which breaks a pasted shell line", name, pw.str("overrideSpecial"), bad)
					}
				}
			}
			ud := g.one(t, typeInstance).userData()
			for _, line := range []string{userdata.EnvAuth + "=" + userdata.AuthBasic, userdata.EnvAuthParameterPath + "=" + prefix + "/auth",
				userdata.EnvFlaskSecretKeyParameter + "=" + prefix + "/flask-secret-key", userdata.EnvAuthUsers + "=alice,bob",
				userdata.EnvAuthPromoters + "=bob"} {
				if !strings.Contains(ud, line+"\n") {
					t.Errorf("user data lacks %q", line)
				}
			}
			if g.outputs["adminPasswordParameterName"] != prefix+"/auth/admin-password" ||
				g.outputs["flaskSecretKeyParameterName"] != prefix+"/flask-secret-key" ||
				g.outputs["userPasswordParameterNames"] != fmt.Sprint(map[string]string{"alice": prefix + "/auth/users/alice", "bob": prefix + "/auth/users/bob"}) {
				t.Errorf("outputs %q %q %q do not name the parameters", g.outputs["adminPasswordParameterName"],
					g.outputs["userPasswordParameterNames"], g.outputs["flaskSecretKeyParameterName"])
			}
		})
	}
}

// TestAuthNoneRegistersNoCredentials: auth none creates no ServerAuth, no MLflow password and
// no auth parameter, and the role reads none.
func TestAuthNoneRegistersNoCredentials(t *testing.T) {
	cfg := withUsers(t, "dev")
	cfg["mlflow-aws:auth"] = "none"
	g := runStack(t, "dev", cfg)
	if g.err != nil {
		t.Fatal(g.err)
	}
	if n := len(g.byType(tokServerAuth)); n != 0 {
		t.Errorf("%d ServerAuth components", n)
	}
	if ud := g.one(t, typeInstance).userData(); !strings.Contains(ud, userdata.EnvAuth+"="+userdata.AuthNone+"\n") || strings.Contains(ud, "/auth/users") {
		t.Errorf("auth none: the launch is not told %s=%s, or names a password parameter", userdata.EnvAuth, userdata.AuthNone)
	}
	// Parameters: the DB password's and the program's records of the deployment (release, mode).
	if n, m := len(g.byType(typePassword)), len(g.byType(typeParameter)); n != 1 || m != 3 {
		t.Errorf("%d RandomPasswords and %d parameters, want only the DB password's (and the two deployment records)", n, m)
	}
	for _, st := range rolePolicyStatements(g) {
		for _, r := range st.Resource {
			if strings.Contains(r, "/auth") || strings.Contains(r, "flask-secret-key") || slices.Contains(st.Action, "ssm:GetParametersByPath") {
				t.Errorf("auth none: the role still reads %v on %s", st.Action, r)
			}
		}
	}
}

// TestPromoterNotInUsersRegistersNothing: a promoter who is not a user fails the program before
// any resource exists, naming the key and the allowed names.
func TestPromoterNotInUsersRegistersNothing(t *testing.T) {
	cfg := withUsers(t, "prod")
	cfg["mlflow-aws:promoters"] = `["mallory"]`
	g := runStack(t, "prod", cfg)
	if g.err == nil || !strings.Contains(g.err.Error(), "mlflow-aws:promoters") || !strings.Contains(g.err.Error(), "alice, bob") {
		t.Fatalf("promoter outside users not refused with the allowed names: %v", g.err)
	}
	if len(g.resources) != 0 || len(g.invokes) != 0 {
		t.Errorf("registered %d resources and made %d invokes", len(g.resources), len(g.invokes))
	}
}

// ssmGrant is one SSM action of the role policy on one resource.
type ssmGrant struct{ action, resource string }

// TestInstanceRoleReadsExactlyItsParameters: the role's SSM grants are exactly GetParameter on
// the DB password and (with auth) on the Flask secret key, and GetParametersByPath on the auth
// path and below; every parameter the stack creates is readable by one of them, and nothing of
// another stack, another path or the stack's prefix at large is. Its S3 reads outside the
// artifacts prefix are exactly the bootstrap objects the stack uploads.
func TestInstanceRoleReadsExactlyItsParameters(t *testing.T) {
	for _, s := range append(scenarios(t), scenario{"users", withUsers(t, "dev")}) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			auth := s.cfg["mlflow-aws:auth"] == "basic"
			var grants []ssmGrant
			for _, st := range rolePolicyStatements(g) {
				for _, a := range st.Action {
					if strings.HasPrefix(a, "ssm:") {
						for _, r := range st.Resource {
							grants = append(grants, ssmGrant{a, r})
						}
					}
				}
			}
			prefix := "/mlflow-aws/" + s.name
			want := []ssmGrant{{"ssm:GetParameter", parameterArn(s.cfg, prefix+"/db-password")}}
			if auth {
				want = append(want, ssmGrant{"ssm:GetParametersByPath", parameterArn(s.cfg, prefix+"/auth")},
					ssmGrant{"ssm:GetParametersByPath", parameterArn(s.cfg, prefix+"/auth/*")},
					ssmGrant{"ssm:GetParameter", parameterArn(s.cfg, prefix+"/flask-secret-key")})
			}
			sortGrants := func(gs []ssmGrant) []ssmGrant {
				return slices.SortedFunc(slices.Values(gs), func(a, b ssmGrant) int {
					return strings.Compare(a.action+a.resource, b.action+b.resource)
				})
			}
			if !slices.Equal(sortGrants(grants), sortGrants(want)) {
				t.Errorf("role SSM grants %v, want exactly %v", grants, want)
			}
			// Each parameter the stack creates is readable: alone, or through the path.
			readable := func(name string) bool {
				arn := parameterArn(s.cfg, name)
				for _, gr := range grants {
					switch gr.action {
					case "ssm:GetParameter":
						if gr.resource == arn {
							return true
						}
					case "ssm:GetParametersByPath":
						if base := strings.TrimSuffix(gr.resource, "/*"); base != gr.resource && strings.HasPrefix(arn, base+"/") {
							return true
						}
					}
				}
				return false
			}
			for _, p := range g.byType(typeParameter) {
				if strings.Contains(p.str("name"), "/deployed/") {
					continue // the program's records of the deployment, read by previews, not the server
				}
				if !readable(p.str("name")) {
					t.Errorf("the role cannot read the stack's parameter %s", p.str("name"))
				}
			}
			for _, other := range []string{"/mlflow-aws/other/auth/admin-password", "/mlflow-aws/other/db-password", prefix + "/other",
				prefix + "/authx/admin-password", "/other-app/auth/users/alice"} {
				if readable(other) {
					t.Errorf("the role can read %s, which is not the stack's", other)
				}
			}
			// Bootstrap objects: s3:GetObject outside the artifacts prefix is exactly the uploads.
			var keys []string
			for _, o := range g.byType(typeBucketObject) {
				keys = append(keys, "arn:aws:s3:::"+o.str("bucket")+"/"+o.str("key"))
			}
			var reads []string
			for _, st := range rolePolicyStatements(g) {
				if slices.Contains(st.Action, "s3:GetObject") {
					for _, r := range st.Resource {
						if !strings.HasSuffix(r, "/artifacts/*") {
							reads = append(reads, r)
						}
					}
				}
			}
			slices.Sort(keys)
			slices.Sort(reads)
			if len(keys) != 2 || !slices.Equal(keys, reads) {
				t.Errorf("role reads bootstrap objects %v, the stack uploads %v (want the lock and the plugin)", reads, keys)
			}
		})
	}
}

// TestPluginWheelUploaded: the plugin wheel is uploaded, byte for byte server.BuildWheel's, under
// its digest-bearing key in the stack's bucket beside the lock, and the instance boots after it.
func TestPluginWheelUploaded(t *testing.T) {
	wheel, err := server.BuildWheel()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			var plugin, lockObj recorded
			for _, o := range g.byType(typeBucketObject) {
				switch {
				case strings.HasSuffix(o.Name, "-plugin"):
					plugin = o
				case strings.HasSuffix(o.Name, "-lock"):
					lockObj = o
				}
			}
			if plugin.Name == "" || lockObj.Name == "" {
				t.Fatalf("want a -lock and a -plugin object, got %d objects", len(g.byType(typeBucketObject)))
			}
			l, err := lock.For(s.cfg["mlflow-aws:mlflowVersion"])
			if err != nil {
				t.Fatal(err)
			}
			checkStr(t, lockObj, "key", l.ObjectKey())
			checkStr(t, plugin, "key", wheel.ObjectKey())
			checkStr(t, plugin, "bucket", g.outputs["artifactBucketName"])
			if plugin.str("content") != "" {
				t.Errorf("the wheel is binary: upload it as contentBase64, not content")
			}
			body, err := base64.StdEncoding.DecodeString(plugin.str("contentBase64"))
			if err != nil || string(body) != string(wheel.Content) {
				t.Errorf("uploaded wheel differs from server.BuildWheel (%d vs %d bytes, %v)", len(body), len(wheel.Content), err)
			}
			if inst := g.one(t, typeInstance); !slices.Contains(inst.Dependencies, plugin.URN) {
				t.Errorf("the instance does not wait for the plugin object")
			}
		})
	}
}

// TestUserChangesLeaveDataAlone: adding or removing a user changes no input, URN or protection
// of the database, the bucket, the DB password, the admin's password, the Flask secret key or
// another user's password; only the user's own RandomPassword and parameter come or go. In a
// protectData stack a user's parameter is retained on delete (not protected: removing a user
// must not fail the update); the admin password and the secret key are protected like the DB
// password.
func TestUserChangesLeaveDataAlone(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		base := runStack(t, stack, withUsers(t, stack))
		if base.err != nil {
			t.Fatal(base.err)
		}
		protect := stackConfig(t, stack)["mlflow-aws:protectData"] == "true"
		for _, r := range base.ownedBy(typeParameter, tokServerAuth) {
			user := strings.Contains(r.str("name"), "/auth/users/")
			if r.Protect != (protect && !user) || r.RetainOnDelete != (protect && user) {
				t.Errorf("%s %s: protect %v, retainOnDelete %v; want protect %v, retainOnDelete %v", stack, r.str("name"),
					r.Protect, r.RetainOnDelete, protect && !user, protect && user)
			}
			if user {
				checkBool(t, r, "overwrite", true) // adding a name back writes over a retained parameter
			}
		}
		for _, c := range []struct {
			name, users, promoters string
			gone, added            string
		}{
			{"add carol", `["alice","bob","carol"]`, `["bob"]`, "", "carol"},
			{"remove alice", `["bob"]`, `["bob"]`, "alice", ""},
			{"promote alice", `["alice","bob"]`, `["alice","bob"]`, "", ""},
		} {
			t.Run(stack+"/"+c.name, func(t *testing.T) {
				cfg := withUsers(t, stack)
				cfg["mlflow-aws:users"], cfg["mlflow-aws:promoters"] = c.users, c.promoters
				changed := runStack(t, stack, cfg)
				if changed.err != nil {
					t.Fatal(changed.err)
				}
				byURN := func(g *graph) map[string]recorded {
					out := map[string]recorded{}
					for _, r := range g.resources {
						out[r.URN] = r
					}
					return out
				}
				before, after := byURN(base), byURN(changed)
				kept := []string{typeDB, typeBucket, typeSubnetGroup, typeParamGroup, typeVersioning, typeEncryption,
					typePublicAccess, typeOwnership, typeBucketPolicy, typeLifecycle, typePassword, typeParameter}
				for urn, b := range before {
					if !slices.Contains(kept, b.Type) {
						continue
					}
					a, ok := after[urn]
					ownGone := c.gone != "" && strings.Contains(b.Name, "-user-"+c.gone+"-")
					switch {
					case ownGone && ok:
						t.Errorf("%s: %s %s of the removed user is still registered", c.name, b.Type, b.Name)
					case ownGone:
					case !ok:
						t.Errorf("%s: %s %s disappeared", c.name, b.Type, b.Name)
					case !b.Inputs.DeepEquals(a.Inputs) || b.Protect != a.Protect || b.RetainOnDelete != a.RetainOnDelete:
						t.Errorf("%s changes %s %s:\n before %v\n after  %v", c.name, b.Type, b.Name, b.Inputs, a.Inputs)
					}
				}
				for urn, a := range after {
					if _, ok := before[urn]; ok || !slices.Contains(kept, a.Type) {
						continue
					}
					if c.added == "" || !strings.Contains(a.Name, "-user-"+c.added+"-") {
						t.Errorf("%s: new %s %s", c.name, a.Type, a.Name)
					}
				}
				// The change reaches the server through its user data (a new launch replaces the
				// instance); the role's path grant already covers every user.
				if c.added != "" && !strings.Contains(changed.outputs["userPasswordParameterNames"], "/auth/users/"+c.added) {
					t.Errorf("%s: output userPasswordParameterNames %q lacks %s", c.name, changed.outputs["userPasswordParameterNames"], c.added)
				}
				ud := changed.one(t, typeInstance).userData()
				for _, line := range []string{
					userdata.EnvAuthUsers + "=" + strings.Join(list(t, c.users), ","),
					userdata.EnvAuthPromoters + "=" + strings.Join(list(t, c.promoters), ","),
				} {
					if !strings.Contains(ud, "\n      "+line+"\n") {
						t.Errorf("%s: user data lacks %q", c.name, line)
					}
				}
			})
		}
	}
}
