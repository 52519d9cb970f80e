package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

const promoterPolicyPath = "docs/promoter-policy.json"

// TestPromoterPolicyReadsOnePassword: docs/promoter-policy.json, with its placeholder PROMOTER
// replaced by a promoter's name, lets the promote workflow's role read that one password
// parameter of prod and nothing else: not another user's, the admin's, the secret key, the DB
// password, another stack's, nor the path at once.
func TestPromoterPolicyReadsOnePassword(t *testing.T) {
	raw, err := os.ReadFile(promoterPolicyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "/auth/users/PROMOTER\"") {
		t.Fatalf("%s does not name the parameter /mlflow-aws/<stack>/auth/users/PROMOTER", promoterPolicyPath)
	}
	if err := mlflowspec.CheckUsername("release-bot"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	filled := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(filled, []byte(strings.ReplaceAll(string(raw), "PROMOTER", "release-bot")), 0o644); err != nil {
		t.Fatal(err)
	}
	policy := loadPeoplePolicy(t, filled)
	checkPeoplePolicyShape(t, promoterPolicyPath, policy)
	if got := policy.actions(); !slices.Equal(got, []string{"ssm:GetParameter"}) {
		t.Errorf("%s grants %v, want only ssm:GetParameter", promoterPolicyPath, got)
	}
	ctx := map[string]string{"aws:userid": "AROAEXAMPLEPROMOTE01:mlflow-aws-promote-1"}
	param := func(name string) string { return "arn:aws:ssm:us-east-1:" + mockAccount + ":parameter" + name }
	if !policy.allows(t, iamRequest{"ssm:GetParameter", param("/mlflow-aws/prod/auth/users/release-bot"), ctx}) {
		t.Errorf("%s does not allow reading the promoter's password", promoterPolicyPath)
	}
	for _, r := range []iamRequest{
		{"ssm:GetParameter", param("/mlflow-aws/prod/auth/users/alice"), ctx},
		{"ssm:GetParameter", param("/mlflow-aws/prod/auth/users/release-bot2"), ctx},
		{"ssm:GetParameter", param("/mlflow-aws/prod/auth/admin-password"), ctx},
		{"ssm:GetParameter", param("/mlflow-aws/prod/flask-secret-key"), ctx},
		{"ssm:GetParameter", param("/mlflow-aws/prod/db-password"), ctx},
		{"ssm:GetParameter", param("/mlflow-aws/dev/auth/users/release-bot"), ctx},
		{"ssm:GetParametersByPath", param("/mlflow-aws/prod/auth"), ctx},
		{"ssm:PutParameter", param("/mlflow-aws/prod/auth/users/release-bot"), ctx},
	} {
		if policy.allows(t, r) {
			t.Errorf("%s allows %s", promoterPolicyPath, r)
		}
	}
}

// TestPromoteWorkflow: promote-model.yml is started by hand with a model and a version, runs in
// the production environment with only an OIDC token, passes the inputs to its scripts through
// the environment (never as ${{ }} inside a script), reads only the promoter's parameter, and
// pins the client to the server's MLflow release. Its setup step fails, saying what to set, when
// the role, the URI or the promoter is missing or an input is malformed.
func TestPromoteWorkflow(t *testing.T) {
	w, text := readWorkflow(t, "promote-model.yml")
	dispatch, ok := w.On["workflow_dispatch"].(map[string]any)
	if !ok {
		t.Fatalf("promote-model.yml is not started by workflow_dispatch: %v", w.On)
	}
	inputs, _ := dispatch["inputs"].(map[string]any)
	for _, name := range []string{"model", "version"} {
		in, _ := inputs[name].(map[string]any)
		if in["required"] != true {
			t.Errorf("input %s is not required: %v", name, in)
		}
	}
	if len(w.On) != 1 {
		t.Errorf("promote-model.yml has other triggers: %v", w.On)
	}
	job := w.Jobs["promote"]
	if job.Environment != "production" {
		t.Errorf("job environment %v, want production (required reviewers)", job.Environment)
	}
	if len(job.Permissions) != 1 || job.Permissions["id-token"] != "write" {
		t.Errorf("job permissions %v, want only id-token: write", job.Permissions)
	}
	_, with, _, _ := job.step(t, "aws-actions/configure-aws-credentials")
	if with["role-to-assume"] != "${{ steps.setup.outputs.arn }}" {
		t.Errorf("role-to-assume %v, want the setup step's output", with["role-to-assume"])
	}
	for _, st := range job.Steps {
		if strings.Contains(st.Run, "${{") {
			t.Errorf("step %q interpolates an expression into its script; pass it through env", st.Name)
		}
	}
	for _, want := range []string{`"/mlflow-aws/$STACK/auth/users/$PROMOTER"`, "--with-decryption", "::add-mask::", "-K -",
		`"mlflow-skinny==$server_version"`, "set_registered_model_alias"} {
		if !strings.Contains(text, want) {
			t.Errorf("promote-model.yml lacks %q", want)
		}
	}
	for _, st := range job.Steps {
		if strings.Contains(st.Run, "GITHUB_ENV") {
			t.Errorf("step %q writes to GITHUB_ENV: the password must stay in one step's shell", st.Name)
		}
	}

	_, _, run, env := job.step(t, "setup")
	if env["PROMOTE_ROLE"] != "${{ vars.AWS_PROMOTE_ROLE_ARN }}" {
		t.Errorf("setup step env %v", env)
	}
	good := map[string]string{"PROMOTE_ROLE": "arn:aws:iam::123456789012:role/mlflow-aws-promote", "TRACKING_URI": "http://10.0.0.5:5000",
		"PROMOTER": "release-bot", "STACK": "prod", "MODEL": "churn", "VERSION": "3", "REPO": "acme/mlflow-aws"}
	for _, tc := range []struct {
		change   map[string]string
		wantCode int
		wantOut  string
	}{
		{nil, 0, "arn=arn:aws:iam::123456789012:role/mlflow-aws-promote"},
		{map[string]string{"PROMOTE_ROLE": ""}, 1, "docs/promoter-policy.json"},
		{map[string]string{"PROMOTE_ROLE": ""}, 1, "AWS_PROMOTE_ROLE_ARN"},
		{map[string]string{"TRACKING_URI": ""}, 1, "MLFLOW_TRACKING_URI"},
		{map[string]string{"PROMOTER": ""}, 1, "MLFLOW_PROMOTER"},
		{map[string]string{"PROMOTER": "bob; rm -rf /"}, 1, "MLFLOW_PROMOTER"},
		{map[string]string{"VERSION": "3; rm -rf /"}, 1, "version"},
		{map[string]string{"VERSION": "0"}, 1, "version"},
		{map[string]string{"MODEL": ""}, 1, "model"},
		{map[string]string{"STACK": "../x"}, 1, "MLFLOW_STACK"},
	} {
		out := filepath.Join(t.TempDir(), "output")
		cmd := exec.Command("bash", "-e", "-c", run)
		cmd.Env = append(os.Environ(), "GITHUB_OUTPUT="+out)
		for k, v := range good {
			if c, ok := tc.change[k]; ok {
				v = c
			}
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		stdout, err := cmd.CombinedOutput()
		written, _ := os.ReadFile(out)
		if code := exitCode(err); code != tc.wantCode || !strings.Contains(string(stdout)+string(written), tc.wantOut) {
			t.Errorf("setup step with %v: exit %d, output %q %q; want exit %d with %q", tc.change, code, stdout, written, tc.wantCode, tc.wantOut)
		}
	}
}
