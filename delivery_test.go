package main

// Delivery tests: the moto-backed `local` stack (Pulumi.local.yaml, scripts/local.sh), the
// prebuilt-binary patch CI applies to Pulumi.yaml, and the GitHub Actions workflows (shape,
// SHA pins, concurrency, credentials). The deployer policies are in deployer_policy_test.go.
// actionlint itself runs from `make lint-workflows`.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	deployerPolicyPath    = "docs/deployer-policy.json"
	deployerIAMPolicyPath = "docs/deployer-iam-policy.json"
	// deployerMonitoringPolicyPath holds the deployer's CloudWatch Logs, SNS and CloudWatch
	// rights (the log group, alarm topic, alarms and dashboard of every stack): split from
	// deployerPolicyPath, which would exceed IAM's managed policy size with them.
	deployerMonitoringPolicyPath = "docs/deployer-monitoring-policy.json"
	localScriptPath              = "scripts/local.sh"
	binaryPatchScript            = "scripts/use-prebuilt-binary.sh"
	prebuiltBinary               = "bin/mlflow-aws"
	localMotoEndpoint            = "http://127.0.0.1:5555"
)

// deliveryStacks are the stacks whose mocked graphs the deployer policy and the local
// endpoints must cover.
var deliveryStacks = []string{"dev", "prod", "local"}

// localConfigFile is Pulumi.local.yaml as YAML.
type localConfigFile struct {
	Config map[string]any `yaml:"config"`
}

// TestLocalStackDeploysThroughTheSameConfigPath: Pulumi.local.yaml loads like dev and prod
// (Pulumi.yaml defaults + stack file) and the program runs on it under mocks.
func TestLocalStackDeploysThroughTheSameConfigPath(t *testing.T) {
	cfg := stackConfig(t, "local")
	for k, want := range map[string]string{
		"aws:region":                    "us-east-1",
		"aws:skipCredentialsValidation": "true",
		"aws:skipRequestingAccountId":   "true",
		"aws:skipMetadataApiCheck":      "true",
		"aws:s3UsePathStyle":            "true",
		"aws:accessKey":                 "test",
		"aws:secretKey":                 "test",
		"mlflow-aws:protectData":        "false",
	} {
		if cfg[k] != want {
			t.Errorf("Pulumi.local.yaml: %s = %q, want %q", k, cfg[k], want)
		}
	}
	g := deliveryGraph(t, "local")
	if n := len(g.resources); n < 20 {
		t.Errorf("local: only %d resources registered", n)
	}
	if uri := g.outputs["trackingUri"]; uri == "" {
		t.Errorf("local: no trackingUri output (outputs %v)", g.outputs)
	}
	for _, r := range g.resources {
		if r.Protect {
			t.Errorf("local: %s %s is protected; the local stack must tear down with local-down", r.Type, r.Name)
		}
	}
}

// endpointService maps a token's module to the endpoint key of the AWS provider that serves
// it: the vpc module's security group rules are EC2 API calls, aws_caller_identity is STS.
func endpointService(token string) (string, bool) {
	pkg, rest, ok := strings.Cut(token, ":")
	if !ok || pkg != "aws" {
		return "", false
	}
	module, _, _ := strings.Cut(rest, "/")
	switch {
	case module == "vpc":
		return "ec2", true
	case rest == "index/getCallerIdentity:getCallerIdentity":
		return "sts", true
	}
	return module, true
}

// TestLocalEndpointsCoverEveryService: Pulumi.local.yaml sends every AWS service the graphs
// use (plus STS, which the provider calls itself) to moto on 127.0.0.1:5555, and the script
// starts moto on that port.
func TestLocalEndpointsCoverEveryService(t *testing.T) {
	var file localConfigFile
	readYAML(t, "Pulumi.local.yaml", &file)
	list, ok := file.Config["aws:endpoints"].([]any)
	if !ok || len(list) == 0 {
		t.Fatalf("Pulumi.local.yaml: aws:endpoints is not a list: %#v", file.Config["aws:endpoints"])
	}
	endpoints := map[string]string{}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("Pulumi.local.yaml: aws:endpoints entry %#v is not a map", item)
		}
		for svc, url := range m {
			endpoints[svc] = fmt.Sprint(url)
		}
	}
	for svc, url := range endpoints {
		if url != localMotoEndpoint {
			t.Errorf("Pulumi.local.yaml: endpoint %s = %q, want %q", svc, url, localMotoEndpoint)
		}
	}
	need := map[string]string{"sts": "the provider itself"}
	for _, stack := range deliveryStacks {
		g := deliveryGraph(t, stack)
		resources, invokes := graphTokens(g)
		for _, tok := range append(resources, invokes...) {
			if svc, ok := endpointService(tok); ok {
				need[svc] = tok
			}
		}
	}
	for _, svc := range []string{"ec2", "rds", "s3", "iam", "ssm", "sts"} {
		if _, ok := need[svc]; !ok {
			t.Errorf("the graphs use no %s token; is endpointService still right?", svc)
		}
	}
	for svc, tok := range need {
		if _, ok := endpoints[svc]; !ok {
			t.Errorf("Pulumi.local.yaml: no aws:endpoints entry for %s (used by %s); it would reach real AWS", svc, tok)
		}
	}
	script, err := os.ReadFile(localScriptPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), `MOTO_PORT:-5555`) || !strings.Contains(string(script), "moto_host=127.0.0.1") {
		t.Errorf("%s does not start moto on 127.0.0.1:5555, where Pulumi.local.yaml points", localScriptPath)
	}
}

// TestLocalScriptsPassBashAndShellcheck: scripts/*.sh parse (bash -n) and pass shellcheck.
func TestLocalScriptsPassBashAndShellcheck(t *testing.T) {
	scripts, err := filepath.Glob("scripts/*.sh")
	if err != nil || !slices.Contains(scripts, localScriptPath) || !slices.Contains(scripts, binaryPatchScript) {
		t.Fatalf("scripts: %v (%v)", scripts, err)
	}
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatalf("shellcheck is not on PATH (Debian package shellcheck; make deps): %v", err)
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
		if out, err := exec.Command(shellcheck, "--severity=style", s).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", s, err, out)
		}
	}
	// The usage path runs without pulumi, moto or AWS.
	out, err := exec.Command("bash", localScriptPath).CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "usage:") {
		t.Errorf("bash %s with no argument: exit %d, output %q; want usage and exit 2", localScriptPath, code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestDeliveryPrebuiltBinaryPatch: the patch CI applies to a copy of Pulumi.yaml sets only
// runtime.options.binary to what `make build` writes, and is idempotent.
func TestDeliveryPrebuiltBinaryPatch(t *testing.T) {
	orig, err := os.ReadFile("Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "Pulumi.yaml")
	if err := os.WriteFile(copyPath, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if out, err := exec.Command("bash", binaryPatchScript, copyPath).CombinedOutput(); err != nil {
			t.Fatalf("run %d of %s: %v\n%s", i+1, binaryPatchScript, err, out)
		}
	}
	patched, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	var before, after map[string]any
	if err := yaml.Unmarshal(orig, &before); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(patched, &after); err != nil {
		t.Fatalf("patched Pulumi.yaml is not YAML: %v", err)
	}
	rt, _ := after["runtime"].(map[string]any)
	opts, _ := rt["options"].(map[string]any)
	if rt["name"] != "go" || opts["binary"] != prebuiltBinary {
		t.Errorf("patched runtime = %#v, want name go with options.binary %s", after["runtime"], prebuiltBinary)
	}
	delete(before, "runtime")
	delete(after, "runtime")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("the patch changed more than runtime")
	}
	if lines := strings.Count(string(orig), "\n"); lines != strings.Count(string(patched), "\n") {
		t.Errorf("the patch changed the line count")
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "build -o "+prebuiltBinary+" .") {
		t.Errorf("Makefile's build target no longer writes %s, which CI runs", prebuiltBinary)
	}
}

// workflowJob is the part of a GitHub Actions job the tests read.
type workflowJob struct {
	Uses           string            `yaml:"uses"`
	Needs          any               `yaml:"needs"`
	If             string            `yaml:"if"`
	Environment    any               `yaml:"environment"`
	TimeoutMinutes any               `yaml:"timeout-minutes"`
	Concurrency    map[string]any    `yaml:"concurrency"`
	Permissions    map[string]string `yaml:"permissions"`
	With           map[string]any    `yaml:"with"`
	Secrets        any               `yaml:"secrets"`
	Strategy       struct {
		Matrix map[string]any `yaml:"matrix"`
	} `yaml:"strategy"`
	Steps []struct {
		ID   string            `yaml:"id"`
		Name string            `yaml:"name"`
		Uses string            `yaml:"uses"`
		Run  string            `yaml:"run"`
		Env  map[string]string `yaml:"env"`
		With map[string]any    `yaml:"with"`
	} `yaml:"steps"`
}

// workflowFile is the part of a GitHub Actions workflow the tests read.
type workflowFile struct {
	On          map[string]any         `yaml:"on"`
	Env         map[string]any         `yaml:"env"`
	Concurrency map[string]any         `yaml:"concurrency"`
	Jobs        map[string]workflowJob `yaml:"jobs"`
}

func readWorkflow(t *testing.T, name string) (workflowFile, string) {
	t.Helper()
	path := filepath.Join(".github", "workflows", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w workflowFile
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return w, string(b)
}

// step returns the reusable workflow's step that uses an action (by "owner/repo@"), or runs
// with an id.
func (j workflowJob) step(t *testing.T, usesOrID string) (uses string, with map[string]any, run string, env map[string]string) {
	t.Helper()
	for _, s := range j.Steps {
		if strings.HasPrefix(s.Uses, usesOrID+"@") || (s.ID != "" && s.ID == usesOrID) {
			return s.Uses, s.With, s.Run, s.Env
		}
	}
	t.Fatalf("no step %s", usesOrID)
	return "", nil, "", nil
}

// TestDeliveryWorkflowsShape: preview on pull requests for dev and prod with a PR comment in
// the gated environment preview; deploy on main, dev in environment dev, prod after dev in
// production; OIDC everywhere, no stored AWS keys; the Pulumi CLI pinned to the SDK version
// in go.mod.
func TestDeliveryWorkflowsShape(t *testing.T) {
	preview, _ := readWorkflow(t, "preview.yml")
	if _, ok := preview.On["pull_request"]; !ok {
		t.Errorf("preview.yml: not triggered by pull_request: %v", preview.On)
	}
	if _, ok := preview.On["pull_request_target"]; ok {
		t.Errorf("preview.yml: pull_request_target would run with the base repository's secrets for forks")
	}
	pj := preview.Jobs["preview"]
	if pj.Uses != "./.github/workflows/pulumi.yml" || pj.With["command"] != "preview" || pj.With["comment-on-pr"] != true || pj.With["environment"] != "preview" {
		t.Errorf("preview.yml: job preview = %+v", pj)
	}
	if fmt.Sprint(pj.Strategy.Matrix["stack"]) != "[dev prod]" {
		t.Errorf("preview.yml: matrix stack %v, want [dev prod]", pj.Strategy.Matrix["stack"])
	}
	if pj.Permissions["id-token"] != "write" || pj.Permissions["pull-requests"] != "write" || pj.Permissions["contents"] != "read" {
		t.Errorf("preview.yml: permissions %v", pj.Permissions)
	}

	deploy, _ := readWorkflow(t, "deploy.yml")
	if push, ok := deploy.On["push"].(map[string]any); !ok || fmt.Sprint(push["branches"]) != "[main]" {
		t.Errorf("deploy.yml: not triggered by push to main: %v", deploy.On)
	}
	dev, prod := deploy.Jobs["dev"], deploy.Jobs["prod"]
	if dev.With["stack"] != "dev" || dev.With["command"] != "up" || dev.With["environment"] != "dev" || dev.Needs != nil {
		t.Errorf("deploy.yml: dev job must be up of dev in environment dev: %+v", dev)
	}
	if prod.With["stack"] != "prod" || prod.With["command"] != "up" || prod.With["environment"] != "production" || fmt.Sprint(prod.Needs) != "dev" {
		t.Errorf("deploy.yml: prod job must be up of prod in environment production after dev: %+v", prod)
	}
	for name, p := range map[string]map[string]string{"dev": dev.Permissions, "prod": prod.Permissions} {
		if p["id-token"] != "write" || p["contents"] != "read" || len(p) != 2 {
			t.Errorf("deploy.yml: job %s permissions %v, want id-token write and contents read only", name, p)
		}
	}

	reusable, text := readWorkflow(t, "pulumi.yml")
	if _, ok := reusable.On["workflow_call"]; !ok {
		t.Errorf("pulumi.yml is not a reusable workflow (workflow_call)")
	}
	for _, want := range []string{
		"cloud-url: ${{ vars.PULUMI_BACKEND_URL }}", "github-token:", "go-version-file: go.mod",
		"~/.pulumi/plugins", "hashFiles('go.sum')", "make build", binaryPatchScript,
		"environment: ${{ inputs.environment }}",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("pulumi.yml does not contain %q", want)
		}
	}
	job := reusable.Jobs["pulumi"]
	for _, action := range []string{"actions/checkout", "actions/setup-go", "actions/cache", "aws-actions/configure-aws-credentials", "pulumi/actions"} {
		job.step(t, action)
	}
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sdk := regexp.MustCompile(`(?m)^\s*github\.com/pulumi/pulumi/sdk/v3 v(\S+)`).FindSubmatch(gomod)
	if sdk == nil {
		t.Fatal("go.mod: no github.com/pulumi/pulumi/sdk/v3 requirement")
	}
	if got := fmt.Sprint(reusable.Env["PULUMI_VERSION"]); got != string(sdk[1]) {
		t.Errorf("pulumi.yml PULUMI_VERSION %s, go.mod's Pulumi SDK %s: keep them in step", got, sdk[1])
	}

	ci, ciText := readWorkflow(t, "ci.yml")
	if _, ok := ci.On["pull_request"]; !ok || !strings.Contains(ciText, "bash .ci/run") {
		t.Errorf("ci.yml: must run `bash .ci/run` on pull_request")
	}

	for _, f := range workflowFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, banned := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "aws-secret-access-key", "secrets: inherit"} {
			if strings.Contains(string(b), banned) {
				t.Errorf("%s mentions %s: AWS credentials come from OIDC only, and secrets are passed by name", f, banned)
			}
		}
	}
}

func workflowFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(".github", "workflows", "*.yml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("workflows: %v (%v)", files, err)
	}
	return files
}

// pinnedUses is a `uses:` of a marketplace action pinned to a full commit SHA with its
// release in a comment: "owner/repo@<40 hex> # vX.Y.Z".
var pinnedUses = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)

// TestWorkflowActionsPinnedBySha: every action a workflow uses (in workflows that hold deploy
// credentials and decrypting secrets, a moved tag would run someone else's code with them)
// is pinned by full commit SHA with its version in a comment, on the current major; only
// the repository's own reusable workflow is referenced by path.
func TestWorkflowActionsPinnedBySha(t *testing.T) {
	// The current majors (checked against the actions' tags); a pin of an older major fails.
	majors := map[string]string{
		"actions/checkout": "v7", "actions/setup-go": "v7", "actions/cache": "v5",
		"aws-actions/configure-aws-credentials": "v6", "pulumi/actions": "v7",
	}
	// The commits of those releases, read from each action's repository (git tags, peeled):
	// a SHA changed without its comment, or a comment changed without its SHA, fails.
	releases := map[string]string{
		"actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1":                      "v7.0.1",
		"actions/setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e":                      "v7.0.0",
		"actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae":                         "v5.0.5",
		"aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c": "v6.2.3",
		"pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d":                        "v7.0.0",
	}
	usesLine := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(.*)$`)
	n := 0
	for _, f := range workflowFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usesLine.FindAllStringSubmatch(string(b), -1) {
			ref := strings.TrimSpace(m[1])
			if strings.HasPrefix(ref, "./") {
				if ref != "./.github/workflows/pulumi.yml" {
					t.Errorf("%s: local reference %q", f, ref)
				}
				continue
			}
			n++
			if !pinnedUses.MatchString(ref) {
				t.Errorf("%s: uses %q is not pinned as owner/repo@<40-hex commit SHA> # vX.Y.Z", f, ref)
				continue
			}
			action, _, _ := strings.Cut(ref, "@")
			pin, version, _ := strings.Cut(ref, " # ")
			if got, ok := releases[pin]; !ok || got != version {
				t.Errorf("%s: %s is labelled %s, but the commit known for it is of release %q; read the tag in the action's repository and update this test's table", f, pin, version, got)
			}
			want, ok := majors[action]
			if !ok {
				t.Errorf("%s: action %s has no known current major here; check its releases and add it to this test", f, action)
			} else if !strings.HasPrefix(version, want+".") {
				t.Errorf("%s: %s at %s, want the current major %s", f, action, version, want)
			}
		}
	}
	if n < 7 {
		t.Errorf("only %d pinned uses found", n)
	}
	for _, bad := range []string{"actions/checkout@v4", "actions/checkout@3d3c42e # v7.0.1", "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1", "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7"} {
		if pinnedUses.MatchString(bad) {
			t.Errorf("pinnedUses accepts %q", bad)
		}
	}
}

// TestWorkflowConcurrency: previews are grouped per stack and pull request (a newer push to
// one PR cancels only its own older preview); deploys per stack with no workflow-wide group
// (prod waiting for approval never blocks dev) and never cancel a running `up`.
func TestWorkflowConcurrency(t *testing.T) {
	reusable, _ := readWorkflow(t, "pulumi.yml")
	c := reusable.Jobs["pulumi"].Concurrency
	group := fmt.Sprint(c["group"])
	for _, want := range []string{"inputs.stack", "github.event.pull_request.number", "inputs.command"} {
		if !strings.Contains(group, want) {
			t.Errorf("pulumi.yml: concurrency group %q does not include %s", group, want)
		}
	}
	if got := fmt.Sprint(c["cancel-in-progress"]); got != "${{ inputs.command == 'preview' }}" {
		t.Errorf("pulumi.yml: cancel-in-progress %q: want true for previews only (a running up is never cancelled)", got)
	}
	deploy, _ := readWorkflow(t, "deploy.yml")
	if deploy.Concurrency != nil {
		t.Errorf("deploy.yml: workflow-wide concurrency %v: a run with prod waiting for approval would block the next dev deploy", deploy.Concurrency)
	}
	preview, _ := readWorkflow(t, "preview.yml")
	if g := fmt.Sprint(preview.Concurrency["group"]); !strings.Contains(g, "github.event.pull_request.number") {
		t.Errorf("preview.yml: concurrency group %q is not per pull request", g)
	}
}

// TestWorkflowCredentials: previews assume only the preview role and fail with instructions
// when it is missing; the decrypting secrets reach only jobs in an environment; the AWS
// session of an `up` outlasts the slowest prod update, and the job timeout matches it.
func TestWorkflowCredentials(t *testing.T) {
	reusable, _ := readWorkflow(t, "pulumi.yml")
	job := reusable.Jobs["pulumi"]
	_, _, run, env := job.step(t, "role")
	if env["PREVIEW_ROLE"] != "${{ vars.AWS_PREVIEW_ROLE_ARN }}" || env["DEPLOY_ROLE"] != "${{ vars.AWS_ROLE_ARN }}" {
		t.Errorf("pulumi.yml: role step env %v", env)
	}
	if !strings.Contains(run, "::error::set the repository variable AWS_PREVIEW_ROLE_ARN") || !strings.Contains(run, "docs/delivery.md") {
		t.Errorf("pulumi.yml: the role step does not explain how to create the preview role")
	}
	// Run the step's script as GitHub would: without a preview role it fails with the message.
	for _, tc := range []struct {
		command, preview, deploy string
		wantCode                 int
		wantOut                  string
	}{
		{"preview", "", "arn:aws:iam::123456789012:role/deploy", 1, "AWS_PREVIEW_ROLE_ARN"},
		{"preview", "arn:aws:iam::123456789012:role/preview", "arn:aws:iam::123456789012:role/deploy", 0, "arn=arn:aws:iam::123456789012:role/preview"},
		{"up", "arn:aws:iam::123456789012:role/preview", "", 1, "AWS_ROLE_ARN"},
		{"up", "", "arn:aws:iam::123456789012:role/deploy", 0, "arn=arn:aws:iam::123456789012:role/deploy"},
	} {
		out := filepath.Join(t.TempDir(), "output")
		cmd := exec.Command("bash", "-e", "-c", run)
		cmd.Env = append(os.Environ(), "COMMAND="+tc.command, "PREVIEW_ROLE="+tc.preview, "DEPLOY_ROLE="+tc.deploy,
			"REPO=acme/mlflow-aws", "GITHUB_OUTPUT="+out)
		stdout, err := cmd.CombinedOutput()
		written, _ := os.ReadFile(out)
		if code := exitCode(err); code != tc.wantCode || !strings.Contains(string(stdout)+string(written), tc.wantOut) {
			t.Errorf("role step, %s with preview role %q and deploy role %q: exit %d, output %q %q; want exit %d with %q",
				tc.command, tc.preview, tc.deploy, code, stdout, written, tc.wantCode, tc.wantOut)
		}
	}
	_, with, _, _ := job.step(t, "aws-actions/configure-aws-credentials")
	if with["role-to-assume"] != "${{ steps.role.outputs.arn }}" {
		t.Errorf("configure-aws-credentials role-to-assume %v, want the role step's output", with["role-to-assume"])
	}
	// 4 h: the provider's aws.rds.Instance timeouts (update 80 min, create 40 min, delete
	// 60 min) bound the slowest `up` well inside it; the role's MaxSessionDuration must match.
	if got := fmt.Sprint(with["role-duration-seconds"]); got != "${{ inputs.command == 'up' && 14400 || 3600 }}" {
		t.Errorf("role-duration-seconds %q, want 14400 for up", got)
	}
	if got := fmt.Sprint(job.TimeoutMinutes); got != "${{ inputs.command == 'up' && 240 || 60 }}" {
		t.Errorf("timeout-minutes %q, want 240 for up (the session's 4 h)", got)
	}
	if got := fmt.Sprint(job.Environment); got != "${{ inputs.environment }}" {
		t.Errorf("pulumi.yml: job environment %q", got)
	}
	doc, err := os.ReadFile("docs/delivery.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--max-session-duration 14400", "environment:preview", "environment:dev", "environment:production", "Required reviewers", "residual risk"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/delivery.md does not mention %q", want)
		}
	}
	// Every job that passes the decrypting secrets runs in an environment.
	for _, name := range []string{"preview.yml", "deploy.yml"} {
		w, _ := readWorkflow(t, name)
		for jn, j := range w.Jobs {
			if j.Secrets != nil && (j.With["environment"] == nil || j.With["environment"] == "") {
				t.Errorf("%s: job %s passes secrets without an environment", name, jn)
			}
		}
	}
}
