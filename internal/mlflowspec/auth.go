package mlflowspec

import (
	"fmt"
	"regexp"
	"strings"
)

// AuthMode is whether the tracking server authenticates its clients.
type AuthMode string

const (
	// AuthBasic runs the mlflow-aws app (MLflow's basic-auth app plus the promotion rule):
	// every request but /health needs a user name and password (MLflow docs, "Authentication").
	AuthBasic AuthMode = "basic"
	// AuthNone runs MLflow without authentication: whoever reaches the port may do anything.
	AuthNone AuthMode = "none"
)

// AuthModes lists every AuthMode, the default first.
var AuthModes = []AuthMode{AuthBasic, AuthNone}

// Valid reports whether a is one of AuthModes.
func (a AuthMode) Valid() bool { return a == AuthBasic || a == AuthNone }

// Permission is an MLflow permission a user holds on others' experiments and models
// (MLflow docs, "Authentication", "Permissions"; auth.ini default_permission).
type Permission string

const (
	PermissionRead          Permission = "READ"
	PermissionEdit          Permission = "EDIT"
	PermissionManage        Permission = "MANAGE"
	PermissionNoPermissions Permission = "NO_PERMISSIONS"
)

// Permissions lists every Permission, the default first.
var Permissions = []Permission{PermissionRead, PermissionEdit, PermissionManage, PermissionNoPermissions}

// Valid reports whether p is one of Permissions.
func (p Permission) Valid() bool {
	for _, q := range Permissions {
		if p == q {
			return true
		}
	}
	return false
}

// DefaultAdminUsername is the name MLflow's basic-auth app gives its admin when none is
// configured (basic_auth.ini admin_username); its default password is public, so the program
// refuses this name for any user.
const DefaultAdminUsername = "admin"

// MaxUsernameLen bounds a user name (it is also the last part of an SSM parameter name).
const MaxUsernameLen = 64

// usernamePattern: a letter, then ASCII letters, digits, '.', '_' or '-'. Every such name is a
// legal last part of an SSM parameter name, needs no escaping in HTTP Basic credentials (no
// ':'), in auth.ini or in a URL path, and is the plugin's rule (server/README.md).
var usernamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)

// CheckUsername reports why name is not an acceptable MLflow user name of this program.
func CheckUsername(name string) error {
	allowed := fmt.Sprintf("allowed: a letter, then letters, digits, '.', '_' or '-', at most %d characters", MaxUsernameLen)
	switch {
	case name == "":
		return fmt.Errorf("a user name is empty; %s", allowed)
	case len(name) > MaxUsernameLen:
		return fmt.Errorf("user name %q has %d characters; %s", name, len(name), allowed)
	case !usernamePattern.MatchString(name):
		return fmt.Errorf("%q is not a user name; %s", name, allowed)
	case name == DefaultAdminUsername:
		return fmt.Errorf("%q is MLflow's built-in admin, whose default password is public; choose another name, e.g. mlflow-admin", name)
	}
	return nil
}

// MaxAliasLen is MLflow's MAX_REGISTERED_MODEL_ALIAS_LENGTH (mlflow/utils/validation.py).
const MaxAliasLen = 255

// aliasPattern is MLflow's _REGISTERED_MODEL_ALIAS_REGEX ^[\w\-]*$ restricted to ASCII
// (Python's \w also matches non-ASCII letters, which this program does not need).
var aliasPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// versionAlias is MLflow's _REGISTERED_MODEL_ALIAS_VERSION_REGEX: "v1", "V12" name versions.
var versionAlias = regexp.MustCompile(`^[vV][0-9]+$`)

// CheckAlias reports why name is not a registered-model alias MLflow accepts for setting
// (mlflow/utils/validation.py _validate_model_alias_name and _validate_model_alias_name_reserved:
// letters, digits, '_' and '-', at most 255; "latest" in any case and v<digits> are reserved).
func CheckAlias(name string) error {
	allowed := fmt.Sprintf("allowed: letters, digits, '_' and '-', at most %d characters, not latest or v<digits> (MLflow reserves them)", MaxAliasLen)
	switch {
	case name == "":
		return fmt.Errorf("the alias is empty; %s", allowed)
	case len(name) > MaxAliasLen:
		return fmt.Errorf("alias %q has %d characters; %s", name, len(name), allowed)
	case !aliasPattern.MatchString(name):
		return fmt.Errorf("%q is not an MLflow alias; %s", name, allowed)
	case strings.EqualFold(name, "latest"):
		return fmt.Errorf("%q is reserved by MLflow (the latest version); %s", name, allowed)
	case versionAlias.MatchString(name):
		return fmt.Errorf("%q is reserved by MLflow (it names version %s); %s", name, name[1:], allowed)
	}
	return nil
}
