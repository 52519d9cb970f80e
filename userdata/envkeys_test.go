package userdata

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

// TestLauncherReadsEveryEnvKey keeps the env file (EnvKeys, written by EnvFile) and the launch
// template in step: the launcher reads every key the env file carries (AWS_REGION is for the AWS
// SDKs, not the launcher), and every MLFLOW_* variable the launcher expands without a default
// is an env file key. Variables with a default (${MLFLOW_VENV:-...}) are the launcher's
// documented test-only overrides, which production never sets.
func TestLauncherReadsEveryEnvKey(t *testing.T) {
	b, err := templateFS.ReadFile("templates/mlflow-launch.sh.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	launcher := string(b)
	for _, k := range EnvKeys {
		if k == EnvAWSRegion {
			continue
		}
		if !regexp.MustCompile(`\b` + k + `\b`).MatchString(launcher) {
			t.Errorf("the launch template never reads %s, which the env file writes", k)
		}
	}
	expansion := regexp.MustCompile(`\$\{?(MLFLOW_[A-Z0-9_]+)(:-)?`)
	for _, m := range expansion.FindAllStringSubmatch(launcher, -1) {
		name, hasDefault := m[1], m[2] != ""
		if !hasDefault && !slices.Contains(EnvKeys, name) {
			t.Errorf("the launch template expands $%s without a default, but the env file does not write it", name)
		}
	}
}

// TestLauncherHandlesEveryArtifactAccess: the launcher has a branch for each artifact access
// mode the configuration accepts (mlflowspec.ArtifactAccessModes), and Validate accepts exactly
// those.
func TestLauncherHandlesEveryArtifactAccess(t *testing.T) {
	b, err := templateFS.ReadFile("templates/mlflow-launch.sh.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range mlflowspec.ArtifactAccessModes {
		if !regexp.MustCompile(`(?m)^\s*` + string(mode) + `\)`).Match(b) {
			t.Errorf("the launch template has no case branch for artifact access %q", mode)
		}
		p := devLikeParams()
		p.ArtifactAccess = string(mode)
		if err := Validate(p); err != nil {
			t.Errorf("Validate refuses artifact access %q: %v", mode, err)
		}
	}
}

// TestEnvKeysAreTheEnvFile: EnvKeys is exactly the env file's keys, in file order.
func TestEnvKeysAreTheEnvFile(t *testing.T) {
	content, err := EnvFile(devLikeParams())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, line := range strings.Split(content, "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys = append(keys, k)
		}
	}
	if !slices.Equal(keys, EnvKeys) {
		t.Errorf("env file keys %v, EnvKeys %v", keys, EnvKeys)
	}
}
