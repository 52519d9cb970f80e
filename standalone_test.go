package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestStandaloneRunByHandDetection: the binary counts as run by hand only when none of the
// variables the Pulumi Go language host sets is present.
func TestStandaloneRunByHandDetection(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"no engine", map[string]string{}, true},
		{"unrelated Pulumi variables only", map[string]string{"PULUMI_CONFIG_PASSPHRASE": "x", "PULUMI_BACKEND_URL": "file://."}, true},
		{"engine run", map[string]string{"PULUMI_MONITOR": "127.0.0.1:1", "PULUMI_ENGINE": "127.0.0.1:2"}, false},
		{"monitor only", map[string]string{"PULUMI_MONITOR": "127.0.0.1:1"}, false},
		{"engine only", map[string]string{"PULUMI_ENGINE": "127.0.0.1:2"}, false},
		{"plugin listing", map[string]string{"PULUMI_PLUGINS": "true"}, false},
	} {
		if got := runByHand(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("%s: runByHand = %v, want %v", c.name, got, c.want)
		}
	}
}

// standaloneHelperEnv makes TestStandaloneMainHelper call main, in a child process only.
const standaloneHelperEnv = "MLFLOW_AWS_TEST_CALL_MAIN"

// TestStandaloneMainHelper is not a test of its own: TestStandaloneBinaryExplainsItself runs
// the test binary again with standaloneHelperEnv set, and this calls the real main there.
func TestStandaloneMainHelper(t *testing.T) {
	if os.Getenv(standaloneHelperEnv) != "1" {
		t.Skip("runs only as the child of TestStandaloneBinaryExplainsItself")
	}
	main()
	t.Fatal("main returned outside the Pulumi engine; it should have exited")
}

// TestStandaloneBinaryExplainsItself: main, started without the Pulumi engine (as
// ./bin/mlflow-aws by hand), says what it is and how to run it and exits 2, instead of
// pulumi.Run's silent exit 32.
func TestStandaloneBinaryExplainsItself(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestStandaloneMainHelper$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PULUMI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, standaloneHelperEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("main run by hand: %v, want exit status 2; stderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"Pulumi program", "pulumi up", "Pulumi.yaml", "README.md"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestMakefilePhonyTargetsHaveRules: every name in a .PHONY line is a target with a rule, so
// `make <name>` cannot succeed while doing nothing.
func TestMakefilePhonyTargetsHaveRules(t *testing.T) {
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`^([A-Za-z0-9_.$()/-]+(?: [A-Za-z0-9_.$()/-]+)*):([^=]|$)`)
	targets := map[string]bool{}
	var phony []string
	for _, line := range strings.Split(string(b), "\n") {
		if names, ok := strings.CutPrefix(line, ".PHONY:"); ok {
			phony = append(phony, strings.Fields(names)...)
			continue
		}
		if m := rule.FindStringSubmatch(line); m != nil {
			for _, name := range strings.Fields(m[1]) {
				targets[name] = true
			}
		}
	}
	if len(phony) < 5 || !targets["test"] {
		t.Fatalf("parsed %d phony names and targets %v: the Makefile parse is broken", len(phony), targets)
	}
	for _, name := range phony {
		if !targets[name] {
			t.Errorf(".PHONY lists %q, but the Makefile has no rule for it (make %s would succeed doing nothing)", name, name)
		}
	}
}
