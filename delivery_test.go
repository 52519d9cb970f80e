package main

// Delivery tests: the deployer's IAM policy (docs/deployer-policy.json) against the mocked
// resource graph, the moto-backed `local` stack (Pulumi.local.yaml, scripts/local.sh), the
// prebuilt-binary patch CI applies to Pulumi.yaml, and the GitHub Actions workflows' shape.
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
	deployerPolicyPath = "docs/deployer-policy.json"
	localScriptPath    = "scripts/local.sh"
	binaryPatchScript  = "scripts/use-prebuilt-binary.sh"
	prebuiltBinary     = "bin/mlflow-aws"
	localMotoEndpoint  = "http://127.0.0.1:5555"
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

// workflowFile is the part of a GitHub Actions workflow the tests read.
type workflowFile struct {
	On   map[string]any `yaml:"on"`
	Env  map[string]any `yaml:"env"`
	Jobs map[string]struct {
		Uses        string            `yaml:"uses"`
		Needs       any               `yaml:"needs"`
		If          string            `yaml:"if"`
		Permissions map[string]string `yaml:"permissions"`
		With        map[string]any    `yaml:"with"`
		Strategy    struct {
			Matrix map[string]any `yaml:"matrix"`
		} `yaml:"strategy"`
	} `yaml:"jobs"`
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

// TestDeliveryWorkflowsShape: preview on pull requests for dev and prod with a PR comment;
// deploy on main, prod after dev in the production environment; OIDC everywhere, no stored
// AWS keys; the Pulumi CLI pinned to the SDK version in go.mod.
func TestDeliveryWorkflowsShape(t *testing.T) {
	preview, _ := readWorkflow(t, "preview.yml")
	if _, ok := preview.On["pull_request"]; !ok {
		t.Errorf("preview.yml: not triggered by pull_request: %v", preview.On)
	}
	pj := preview.Jobs["preview"]
	if pj.Uses != "./.github/workflows/pulumi.yml" || pj.With["command"] != "preview" || pj.With["comment-on-pr"] != true {
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
	if dev.With["stack"] != "dev" || dev.With["command"] != "up" || dev.With["environment"] != nil {
		t.Errorf("deploy.yml: dev job %+v", dev)
	}
	if prod.With["stack"] != "prod" || prod.With["command"] != "up" || prod.With["environment"] != "production" || fmt.Sprint(prod.Needs) != "dev" {
		t.Errorf("deploy.yml: prod job must be up of prod in environment production after dev: %+v", prod)
	}
	for name, j := range map[string]any{"dev": dev.Permissions, "prod": prod.Permissions} {
		if p := j.(map[string]string); p["id-token"] != "write" || p["contents"] != "read" {
			t.Errorf("deploy.yml: job %s permissions %v", name, p)
		}
	}

	reusable, text := readWorkflow(t, "pulumi.yml")
	if _, ok := reusable.On["workflow_call"]; !ok {
		t.Errorf("pulumi.yml is not a reusable workflow (workflow_call)")
	}
	for _, want := range []string{
		"aws-actions/configure-aws-credentials@v4", "vars.AWS_ROLE_ARN }}",
		"pulumi/actions@v6", "cloud-url: ${{ vars.PULUMI_BACKEND_URL }}", "github-token:",
		"actions/setup-go@v5", "go-version-file: go.mod", "actions/cache@v4", "~/.pulumi/plugins",
		"hashFiles('go.sum')", "make build", binaryPatchScript,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("pulumi.yml does not contain %q", want)
		}
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

	files, err := filepath.Glob(filepath.Join(".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, banned := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id", "aws-secret-access-key"} {
			if strings.Contains(string(b), banned) {
				t.Errorf("%s mentions %s: AWS credentials come from OIDC only", f, banned)
			}
		}
	}
}
