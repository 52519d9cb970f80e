package components

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

var testAuth = &userdata.AuthParams{
	AdminUsername: "mlflow-admin", DefaultPermission: "READ", Users: []string{"alice", "bob"}, Promoters: []string{"bob"},
	ProductionAlias: "production", StagingAlias: "staging",
	ParameterPath: "/mlflow-aws/dev/auth", SecretKeyParameterName: "/mlflow-aws/dev/flask-secret-key",
}

// TestLaunchGetsTheAuthSettings: the tracking server hands its Auth to the user data renderer
// unchanged (nil stays nil: no authentication).
func TestLaunchGetsTheAuthSettings(t *testing.T) {
	for _, a := range []*userdata.AuthParams{testAuth, nil} {
		args := &TrackingServerArgs{ArtifactAccess: mlflowspec.ArtifactAccessProxied, Auth: a}
		if p := launchParams(args, "db", 5432, "/p", "s3://b/artifacts", "203.0.113.10", "dns"); p.Auth != a {
			t.Errorf("launch Auth = %+v, want %+v", p.Auth, a)
		}
	}
}

// TestParameterNames: the credentials' SSM names under the auth path.
func TestParameterNames(t *testing.T) {
	if got := AdminPasswordParameterName(testAuth); got != "/mlflow-aws/dev/auth/admin-password" {
		t.Errorf("admin: %q", got)
	}
	if got := UserPasswordParameterName(testAuth, "alice"); got != "/mlflow-aws/dev/auth/users/alice" {
		t.Errorf("user: %q", got)
	}
}

// TestSiblingParameterArn: the auth path's ARN is the secret key parameter's account, region and
// partition with the path's name; a mismatched ARN is an error, not a wrong grant.
func TestSiblingParameterArn(t *testing.T) {
	for _, c := range []struct{ arn, name, other, want string }{
		{"arn:aws:ssm:us-east-1:123456789012:parameter/mlflow-aws/dev/flask-secret-key", "/mlflow-aws/dev/flask-secret-key",
			"/mlflow-aws/dev/auth", "arn:aws:ssm:us-east-1:123456789012:parameter/mlflow-aws/dev/auth"},
		{"arn:aws-cn:ssm:cn-north-1:123456789012:parameter/p/s/k", "/p/s/k", "/p/s/auth", "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/p/s/auth"},
	} {
		got, err := siblingParameterArn(c.arn, c.name, c.other)
		if err != nil || got != c.want {
			t.Errorf("siblingParameterArn(%q, %q, %q) = %q, %v; want %q", c.arn, c.name, c.other, got, err, c.want)
		}
	}
	for _, c := range [][3]string{
		{"arn:aws:ssm:us-east-1:1:parameter/a/b", "/a/c", "/a/auth"},
		{"arn:aws:ssm:us-east-1:1:parameter/a/b", "/a/b", "a/auth"},
		{"", "", "/a/auth"},
	} {
		if got, err := siblingParameterArn(c[0], c[1], c[2]); err == nil {
			t.Errorf("siblingParameterArn(%q, %q, %q) = %q, want an error", c[0], c[1], c[2], got)
		}
	}
}

// TestTrackingServerAuthStatements: with auth the role gains GetParametersByPath on the auth
// path and below and GetParameter on the secret key, nothing else; a missing ARN or a path
// ending in a slash is refused rather than granted.
func TestTrackingServerAuthStatements(t *testing.T) {
	path := "arn:aws:ssm:r:1:parameter/mlflow-aws/dev/auth"
	key := "arn:aws:ssm:r:1:parameter/mlflow-aws/dev/flask-secret-key"
	sts, err := TrackingServerAuthStatements(path, key)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, st := range sts {
		if st.Effect != "Allow" || st.Condition != nil {
			t.Errorf("statement %s: %+v", st.Sid, st)
		}
		for _, a := range st.Action {
			got[a] = append(got[a], st.Resource...)
		}
	}
	want := map[string][]string{"ssm:GetParametersByPath": {path, path + "/*"}, "ssm:GetParameter": {key}}
	if len(got) != len(want) || !slices.Equal(got["ssm:GetParametersByPath"], want["ssm:GetParametersByPath"]) ||
		!slices.Equal(got["ssm:GetParameter"], want["ssm:GetParameter"]) {
		t.Errorf("auth grants %v, want %v", got, want)
	}
	for _, bad := range [][2]string{{"", key}, {path, ""}, {path + "/", key}} {
		if sts, err := TrackingServerAuthStatements(bad[0], bad[1]); err == nil {
			j, _ := json.Marshal(sts)
			t.Errorf("TrackingServerAuthStatements(%q, %q) accepted: %s", bad[0], bad[1], j)
		}
	}
}

// TestMLflowPasswordAlphabet: the generated MLflow passwords are long enough for MLflow 3.17
// (12) and free of characters a shell or .env line would mangle.
func TestMLflowPasswordAlphabet(t *testing.T) {
	if MLflowPasswordLength < 12 || FlaskSecretKeyLength < 32 {
		t.Errorf("lengths %d, %d", MLflowPasswordLength, FlaskSecretKeyLength)
	}
	for _, c := range "\"'\\`$! &|<>(){}[]\t\n" {
		if strings.ContainsRune(MLflowPasswordSpecialCharacters, c) {
			t.Errorf("MLflowPasswordSpecialCharacters contains %q", c)
		}
	}
}
