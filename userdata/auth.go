package userdata

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
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

// The values of EnvAuth (mlflowspec.AuthModes).
const (
	AuthBasic = string(mlflowspec.AuthBasic)
	AuthNone  = string(mlflowspec.AuthNone)
)

// AuthDatabaseName is the PostgreSQL database of MLflow's auth store, on the backend store's
// instance (so every server shares it), created by the plugin's bootstrap when missing.
const AuthDatabaseName = "mlflow_auth"

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

// authProblems returns one error per invalid AuthParams field (nil a is valid: no auth), by the
// rules of package mlflowspec (user names, permissions, aliases).
func authProblems(a *AuthParams) []error {
	if a == nil {
		return nil
	}
	var errs []error
	add := func(field string, err error) { errs = append(errs, fmt.Errorf("Auth.%s: %w", field, err)) }
	if err := mlflowspec.CheckUsername(a.AdminUsername); err != nil {
		add("AdminUsername", err)
	}
	if !mlflowspec.Permission(a.DefaultPermission).Valid() {
		add("DefaultPermission", fmt.Errorf("%q is not one of %v", a.DefaultPermission, mlflowspec.Permissions))
	}
	for i, u := range a.Users {
		if err := mlflowspec.CheckUsername(u); err != nil {
			add(fmt.Sprintf("Users[%d]", i), err)
		} else if u == a.AdminUsername || slices.Index(a.Users, u) != i {
			add(fmt.Sprintf("Users[%d]", i), fmt.Errorf("%q is the admin or listed twice", u))
		}
	}
	for i, u := range a.Promoters {
		if !slices.Contains(a.Users, u) {
			add(fmt.Sprintf("Promoters[%d]", i), fmt.Errorf("%q is not in Users", u))
		}
	}
	for field, v := range map[string]string{"ProductionAlias": a.ProductionAlias, "StagingAlias": a.StagingAlias} {
		if err := mlflowspec.CheckAlias(v); err != nil {
			add(field, err)
		}
	}
	if strings.EqualFold(a.ProductionAlias, a.StagingAlias) {
		add("StagingAlias", fmt.Errorf("%q equals ProductionAlias", a.StagingAlias))
	}
	for field, v := range map[string]string{"ParameterPath": a.ParameterPath, "SecretKeyParameterName": a.SecretKeyParameterName} {
		if p := ssmNameProblem(v); p != "" || !strings.HasPrefix(v, "/") {
			add(field, fmt.Errorf("%q %s", v, strings.TrimSpace(p+" (want an absolute SSM name like /mlflow-aws/dev/auth)")))
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
