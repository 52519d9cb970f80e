package mlflowspec

import (
	"strings"
	"testing"
)

// TestCheckUsername: the user name rule (and the refusal of MLflow's default admin name).
func TestCheckUsername(t *testing.T) {
	for _, ok := range []string{"alice", "mlflow-admin", "Bob.Smith", "a", "x_1-2.3", strings.Repeat("a", MaxUsernameLen)} {
		if err := CheckUsername(ok); err != nil {
			t.Errorf("CheckUsername(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "admin", "1alice", "-x", ".x", "al ice", "al:ice", "al/ice", "alice@example.com", "ålice", strings.Repeat("a", MaxUsernameLen+1)} {
		if CheckUsername(bad) == nil {
			t.Errorf("CheckUsername(%q) accepted", bad)
		}
	}
}

// TestCheckAlias follows MLflow's alias validation (mlflow/utils/validation.py).
func TestCheckAlias(t *testing.T) {
	for _, ok := range []string{"production", "staging", "champion_2", "pre-prod", "V", "v1a", "version1", strings.Repeat("a", MaxAliasLen)} {
		if err := CheckAlias(ok); err != nil {
			t.Errorf("CheckAlias(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "latest", "LATEST", "Latest", "v1", "V12", "prod.1", "prod uction", "prod/x", "é", strings.Repeat("a", MaxAliasLen+1)} {
		if CheckAlias(bad) == nil {
			t.Errorf("CheckAlias(%q) accepted", bad)
		}
	}
}

func TestAuthModeAndPermission(t *testing.T) {
	if !AuthBasic.Valid() || !AuthNone.Valid() || AuthMode("Basic").Valid() || AuthMode("").Valid() {
		t.Error("AuthMode.Valid")
	}
	for _, p := range Permissions {
		if !p.Valid() {
			t.Errorf("%s not valid", p)
		}
	}
	if Permission("read").Valid() || Permission("ADMIN").Valid() {
		t.Error("Permission.Valid accepts lower case or unknown")
	}
}
