package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

// TestAuthParamsFromConfig: auth basic (the default) yields the launch's auth settings with the
// stack's SSM names beside the DB password's; auth none yields none.
func TestAuthParamsFromConfig(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:users"] = `["alice","bob","carol.d"]`
	cfg["mlflow-aws:promoters"] = `["bob"]`
	cfg["mlflow-aws:defaultPermission"] = "EDIT"
	cfg["mlflow-aws:productionAlias"] = "champion"
	cfg["mlflow-aws:stagingAlias"] = "challenger"
	c, err := parseDev(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := c.AuthParams
	if c.Auth != mlflowspec.AuthBasic || a == nil {
		t.Fatalf("auth basic gave %q, %+v", c.Auth, a)
	}
	if a.AdminUsername != "mlflow-admin" || a.DefaultPermission != "EDIT" || !slices.Equal(a.Users, []string{"alice", "bob", "carol.d"}) ||
		!slices.Equal(a.Promoters, []string{"bob"}) || a.ProductionAlias != "champion" || a.StagingAlias != "challenger" {
		t.Errorf("auth params %+v do not follow the config", a)
	}
	if a.ParameterPath != "/mlflow-aws/dev/auth" || a.SecretKeyParameterName != "/mlflow-aws/dev/flask-secret-key" {
		t.Errorf("parameter names %q %q", a.ParameterPath, a.SecretKeyParameterName)
	}
	// The same prefix as the DB password: the boundary and the deployer policies cover /mlflow-aws/*.
	prefix := strings.TrimSuffix(c.PasswordParameterName(), "/db-password")
	if !strings.HasPrefix(a.ParameterPath, prefix+"/") || !strings.HasPrefix(a.SecretKeyParameterName, prefix+"/") {
		t.Errorf("auth parameters %q, %q are not beside %q", a.ParameterPath, a.SecretKeyParameterName, c.PasswordParameterName())
	}

	// The defaults: no users, lists empty rather than nil (the renderer writes them as given).
	d, err := parseDev(valid())
	if err != nil {
		t.Fatal(err)
	}
	if d.AuthParams == nil || d.AuthParams.Users == nil || len(d.AuthParams.Users) != 0 || d.AuthParams.Promoters == nil {
		t.Errorf("default auth params %+v", d.AuthParams)
	}

	cfg["mlflow-aws:auth"] = "none"
	n, err := parseDev(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n.Auth != mlflowspec.AuthNone || n.AuthParams != nil {
		t.Errorf("auth none gave %q, %+v", n.Auth, n.AuthParams)
	}
}

// TestAuthKeysCheckedWhenAuthNone: a mistake in the auth keys is reported even with auth none,
// so it does not surface only when authentication is turned on.
func TestAuthKeysCheckedWhenAuthNone(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:auth"] = "none"
	cfg["mlflow-aws:users"] = `["alice"]`
	cfg["mlflow-aws:promoters"] = `["mallory"]`
	_, err := parseDev(cfg)
	var cerr *Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 1 || cerr.Problems[0].Key != "mlflow-aws:promoters" {
		t.Fatalf("want one problem naming mlflow-aws:promoters, got %v", err)
	}
}

// TestAuthProblemsAllAtOnce: independent auth mistakes are all reported, each on its key; a
// promoter is not also blamed when users itself is invalid.
func TestAuthProblemsAllAtOnce(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:auth"] = "ldap"
	cfg["mlflow-aws:adminUsername"] = "admin"
	cfg["mlflow-aws:defaultPermission"] = "write"
	cfg["mlflow-aws:users"] = `["ok","bad name"]`
	cfg["mlflow-aws:promoters"] = `["ok"]`
	cfg["mlflow-aws:productionAlias"] = "latest"
	cfg["mlflow-aws:stagingAlias"] = "v1"
	_, err := parseDev(cfg)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *Error, got %v", err)
	}
	var keys []string
	for _, p := range cerr.Problems {
		keys = append(keys, p.Key)
	}
	want := []string{"mlflow-aws:auth", "mlflow-aws:adminUsername", "mlflow-aws:defaultPermission", "mlflow-aws:users",
		"mlflow-aws:productionAlias", "mlflow-aws:stagingAlias"}
	if !slices.Equal(keys, want) {
		t.Errorf("problems on %v, want %v:\n%v", keys, want, err)
	}
}

// TestAuthLegitimateValues: the limits themselves are accepted.
func TestAuthLegitimateValues(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:users"] = manyUsers(MaxUsers)
	cfg["mlflow-aws:promoters"] = `["user0","user49"]`
	cfg["mlflow-aws:adminUsername"] = "Ops.Admin_1"
	cfg["mlflow-aws:defaultPermission"] = "NO_PERMISSIONS"
	cfg["mlflow-aws:productionAlias"] = "prod-v1"
	cfg["mlflow-aws:stagingAlias"] = "V"
	if _, err := parseDev(cfg); err != nil {
		t.Errorf("legitimate auth config rejected: %v", err)
	}
}

// TestUserDataCheckIncludesAuth: the user data size check renders the launch with the auth
// settings the stack will have, so users count against EC2's limit, and the renderer's own
// validation of them runs before anything is created.
func TestUserDataCheckIncludesAuth(t *testing.T) {
	cfg := valid()
	cfg["mlflow-aws:users"] = `["alice","bob"]`
	c, err := parseDev(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := WorstCaseUserDataParams(c); p.Auth != c.AuthParams || p.Auth == nil {
		t.Errorf("worst-case user data params carry Auth %+v, want the config's %+v", p.Auth, c.AuthParams)
	}
	cfg["mlflow-aws:auth"] = "none"
	if c, err = parseDev(cfg); err != nil || WorstCaseUserDataParams(c).Auth != nil {
		t.Errorf("auth none: %v, %+v", err, c)
	}
}
