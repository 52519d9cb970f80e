package userdata

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mlflow-aws/mlflow-aws/server"
)

// Environment keys of the authentication settings (AuthParams), written to EnvFilePath after the
// others; with Params.Auth nil, EnvAuth is "none" and the rest are empty.
const (
	// EnvAuth is "basic" (the mlflow-aws app: MLflow's basic-auth plus the promotion rule) or "none".
	EnvAuth                    = "MLFLOW_AUTH"
	EnvAuthAdminUsername       = "MLFLOW_AUTH_ADMIN_USERNAME"
	EnvAuthDefaultPermission   = "MLFLOW_AUTH_DEFAULT_PERMISSION"
	EnvAuthUsers               = "MLFLOW_AUTH_USERS"
	EnvAuthPromoters           = "MLFLOW_AUTH_PROMOTERS"
	EnvAuthProductionAlias     = "MLFLOW_AUTH_PRODUCTION_ALIAS"
	EnvAuthStagingAlias        = "MLFLOW_AUTH_STAGING_ALIAS"
	EnvAuthParameterPath       = "MLFLOW_AUTH_PARAMETER_PATH"
	EnvFlaskSecretKeyParameter = "MLFLOW_FLASK_SECRET_KEY_PARAMETER"
)

// The values of EnvAuth.
const (
	AuthBasic = "basic"
	AuthNone  = "none"
)

// AuthDatabaseName is the PostgreSQL database of MLflow's auth store, on the backend store's
// instance (so every server shares it), created by the plugin's bootstrap when missing.
const AuthDatabaseName = "mlflow_auth"

// Permissions are MLflow's permission names, the values AuthParams.DefaultPermission takes
// (MLflow, "Authentication": READ, EDIT, MANAGE, NO_PERMISSIONS).
var Permissions = []string{"READ", "EDIT", "MANAGE", "NO_PERMISSIONS"}

var (
	userNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]{0,63}$`)
	aliasRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// authEnv returns the auth environment lines' keys and values, in file order.
func authEnv(a *AuthParams) [][2]string {
	if a == nil {
		return [][2]string{{EnvAuth, AuthNone}, {EnvAuthAdminUsername, ""}, {EnvAuthDefaultPermission, ""}, {EnvAuthUsers, ""},
			{EnvAuthPromoters, ""}, {EnvAuthProductionAlias, ""}, {EnvAuthStagingAlias, ""}, {EnvAuthParameterPath, ""},
			{EnvFlaskSecretKeyParameter, ""}}
	}
	return [][2]string{{EnvAuth, AuthBasic}, {EnvAuthAdminUsername, a.AdminUsername}, {EnvAuthDefaultPermission, a.DefaultPermission},
		{EnvAuthUsers, strings.Join(a.Users, ",")}, {EnvAuthPromoters, strings.Join(a.Promoters, ",")},
		{EnvAuthProductionAlias, a.ProductionAlias}, {EnvAuthStagingAlias, a.StagingAlias},
		{EnvAuthParameterPath, a.ParameterPath}, {EnvFlaskSecretKeyParameter, a.SecretKeyParameterName}}
}

// authProblems returns one error per invalid AuthParams field (nil a is valid: no auth).
func authProblems(a *AuthParams) []error {
	if a == nil {
		return nil
	}
	var errs []error
	add := func(field, value, problem string) {
		errs = append(errs, fmt.Errorf("Auth.%s %q %s", field, value, problem))
	}
	const nameRule = "is not a user name: a letter, then letters, digits, '.', '_' or '-', at most 64"
	if !userNameRe.MatchString(a.AdminUsername) {
		add("AdminUsername", a.AdminUsername, nameRule)
	} else if a.AdminUsername == "admin" {
		add("AdminUsername", a.AdminUsername, "is MLflow's built-in default admin; choose another name")
	}
	if !slices.Contains(Permissions, a.DefaultPermission) {
		add("DefaultPermission", a.DefaultPermission, "is not one of "+strings.Join(Permissions, ", "))
	}
	for i, u := range a.Users {
		if !userNameRe.MatchString(u) {
			add(fmt.Sprintf("Users[%d]", i), u, nameRule)
		} else if u == a.AdminUsername || slices.Index(a.Users, u) != i {
			add(fmt.Sprintf("Users[%d]", i), u, "is the admin or listed twice")
		}
	}
	for i, u := range a.Promoters {
		if !slices.Contains(a.Users, u) {
			add(fmt.Sprintf("Promoters[%d]", i), u, "is not in Users")
		}
	}
	for field, v := range map[string]string{"ProductionAlias": a.ProductionAlias, "StagingAlias": a.StagingAlias} {
		if !aliasRe.MatchString(v) {
			add(field, v, "is not a model alias: letters, digits, '_' and '-'")
		}
	}
	if strings.EqualFold(a.ProductionAlias, a.StagingAlias) {
		add("StagingAlias", a.StagingAlias, "equals ProductionAlias")
	}
	for field, v := range map[string]string{"ParameterPath": a.ParameterPath, "SecretKeyParameterName": a.SecretKeyParameterName} {
		if p := ssmNameProblem(v); p != "" || !strings.HasPrefix(v, "/") {
			add(field, v, strings.TrimSpace(p+" (want an absolute SSM name like /mlflow-aws/dev/auth)"))
		}
	}
	return errs
}

// pluginWheel is the mlflow-aws-auth wheel the bootstrap installs beside the lock.
func pluginWheel() (server.Wheel, error) {
	w, err := server.BuildWheel()
	if err != nil {
		return server.Wheel{}, fmt.Errorf("the mlflow-aws-auth plugin: %w", err)
	}
	return w, nil
}
