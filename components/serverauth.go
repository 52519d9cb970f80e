package components

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// Credentials of the MLflow users.
const (
	// MLflowPasswordLength is the length of each generated MLflow password, in characters
	// (MLflow 3.17's basic-auth refuses passwords shorter than 12).
	MLflowPasswordLength = 32
	// MLflowPasswordSpecialCharacters are the non-alphanumeric characters of the generated
	// passwords. HTTP Basic base64-encodes user:password (RFC 7617), so any printable character
	// would do on the wire; this set leaves out what breaks a password pasted into a shell or a
	// .env file (quotes, backslash, '$', '`', '!', space, '&', '|', '<', '>', parentheses,
	// brackets and braces), so the README's export line and copy-paste just work.
	MLflowPasswordSpecialCharacters = "-_.,:;=+%~^"
	// FlaskSecretKeyLength is the length of the Flask secret key (letters and digits): 64
	// alphanumerics carry about 381 bits, beyond Flask's recommendation of a long random key
	// (Flask docs, "SECRET_KEY").
	FlaskSecretKeyLength = 64
)

// ServerAuthArgs configures a ServerAuth.
type ServerAuthArgs struct {
	// Auth are the launch's auth settings (config.AuthParams): the admin and user names and the
	// SSM names the credentials are stored under. Required.
	Auth *userdata.AuthParams
	// ProtectData gives the admin password and the Flask secret key Pulumi's protect (as the
	// DB password has), and keeps a removed user's parameter in SSM (RetainOnDelete) instead of
	// deleting it.
	ProtectData bool
}

// ServerAuth holds the credentials of the tracking server's authentication (MLflow docs,
// "Authentication"; server/README.md "Integration recipe"): the admin's password, one password
// per configured user, and the Flask secret key that signs sessions and CSRF tokens, each drawn
// by random.RandomPassword once and kept in the stack's state as a secret, and stored as an SSM
// SecureString (KMS-encrypted with aws/ssm) that the tracking server reads at start:
//
//	<ParameterPath>/admin-password, <ParameterPath>/users/<name>, <SecretKeyParameterName>
//
// It is its own component, not part of the TrackingServer, for the reason the DB password lives
// with the BackendStore: the credentials outlive any instance (a replaced server finds the same
// passwords and key), and a change of the server never touches them.
//
// Removing a user from the configuration deletes their RandomPassword and, in a stack without
// protectData, their parameter; with protectData the parameter stays in SSM (RetainOnDelete) and
// the server disables the user at its next start (the plugin's bootstrap disables every user the
// configuration does not list). Their parameters are created with overwrite, so adding the name
// back draws a new password over the retained one. The admin password and the secret key are
// protected like the DB password: `pulumi destroy` of a protectData stack refuses until
// protectData is turned off.
type ServerAuth struct {
	pulumi.ResourceState

	// AdminPasswordParameterName is the SecureString with the admin's password.
	AdminPasswordParameterName pulumi.StringOutput `pulumi:"adminPasswordParameterName"`
	// UserPasswordParameterNames maps each user name to their SecureString.
	UserPasswordParameterNames pulumi.StringMapOutput `pulumi:"userPasswordParameterNames"`
	// SecretKeyParameterName and SecretKeyParameterArn identify the Flask secret key's SecureString.
	SecretKeyParameterName pulumi.StringOutput `pulumi:"secretKeyParameterName"`
	SecretKeyParameterArn  pulumi.StringOutput `pulumi:"secretKeyParameterArn"`
	// ParameterPathArn is the ARN of the path holding the passwords, for the role's
	// ssm:GetParametersByPath; it resolves once every password parameter exists.
	ParameterPathArn pulumi.StringOutput `pulumi:"parameterPathArn"`
}

// NewServerAuth registers the credentials (type token mlflow:aws:ServerAuth).
func NewServerAuth(ctx *pulumi.Context, name string, args *ServerAuthArgs, opts ...pulumi.ResourceOption) (*ServerAuth, error) {
	if args == nil || args.Auth == nil {
		return nil, fmt.Errorf("server auth %q: args with Auth are required", name)
	}
	a := &ServerAuth{}
	if err := ctx.RegisterComponentResource("mlflow:aws:ServerAuth", name, a, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)
	protect := pulumi.Protect(args.ProtectData)
	auth := args.Auth

	admin, err := newMLflowPassword(ctx, name+"-admin", AdminPasswordParameterName(auth),
		"Password of the MLflow admin "+auth.AdminUsername, false, parent, protect)
	if err != nil {
		return nil, fmt.Errorf("server auth admin password: %w", err)
	}
	users := map[string]pulumi.StringOutput{}
	arns := []any{admin.Arn}
	for _, u := range auth.Users {
		p, err := newMLflowPassword(ctx, name+"-user-"+u, UserPasswordParameterName(auth, u),
			"Password of the MLflow user "+u, true, parent, pulumi.RetainOnDelete(args.ProtectData))
		if err != nil {
			return nil, fmt.Errorf("server auth password of user %s: %w", u, err)
		}
		users[u] = p.Name
		arns = append(arns, p.Arn)
	}
	key, err := random.NewRandomPassword(ctx, name+"-flask-secret-key", &random.RandomPasswordArgs{
		Length:  pulumi.Int(FlaskSecretKeyLength),
		Special: pulumi.Bool(false),
	}, parent, protect)
	if err != nil {
		return nil, fmt.Errorf("server auth Flask secret key: %w", err)
	}
	keyParam, err := ssm.NewParameter(ctx, name+"-flask-secret-key", &ssm.ParameterArgs{
		Name:        pulumi.String(auth.SecretKeyParameterName),
		Description: pulumi.String("Flask secret key of the MLflow tracking server (MLFLOW_FLASK_SERVER_SECRET_KEY)"),
		Type:        pulumi.String("SecureString"),
		Value:       key.Result,
	}, parent, protect)
	if err != nil {
		return nil, fmt.Errorf("server auth Flask secret key parameter: %w", err)
	}

	a.AdminPasswordParameterName = admin.Name
	userNames := pulumi.StringMap{}
	for _, u := range slices.Sorted(maps.Keys(users)) {
		userNames[u] = users[u]
	}
	a.UserPasswordParameterNames = userNames.ToStringMapOutput()
	a.SecretKeyParameterName = keyParam.Name
	a.SecretKeyParameterArn = keyParam.Arn
	// Resolved once every parameter exists, so the role policy (and the instance, which waits for
	// it) comes after them: the launcher reads them at first start.
	a.ParameterPathArn = pulumi.All(append([]any{keyParam.Arn, keyParam.Name}, arns...)...).ApplyT(func(v []any) (string, error) {
		return siblingParameterArn(v[0].(string), v[1].(string), auth.ParameterPath)
	}).(pulumi.StringOutput)
	if err := registerOutputs(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// newMLflowPassword registers one generated MLflow password and its SecureString parameter;
// overwrite lets the parameter be created over a retained one of the same name.
func newMLflowPassword(ctx *pulumi.Context, name, parameterName, description string, overwrite bool,
	opts ...pulumi.ResourceOption) (*ssm.Parameter, error) {
	password, err := random.NewRandomPassword(ctx, name+"-password", &random.RandomPasswordArgs{
		Length:          pulumi.Int(MLflowPasswordLength),
		Special:         pulumi.Bool(true),
		OverrideSpecial: pulumi.String(MLflowPasswordSpecialCharacters),
		MinLower:        pulumi.Int(2),
		MinUpper:        pulumi.Int(2),
		MinNumeric:      pulumi.Int(2),
		MinSpecial:      pulumi.Int(2),
	}, opts...)
	if err != nil {
		return nil, err
	}
	paramArgs := &ssm.ParameterArgs{
		Name:        pulumi.String(parameterName),
		Description: pulumi.String(description),
		Type:        pulumi.String("SecureString"),
		Value:       password.Result,
	}
	if overwrite {
		paramArgs.Overwrite = pulumi.Bool(true)
	}
	return ssm.NewParameter(ctx, name+"-password", paramArgs, opts...)
}

// AdminPasswordParameterName is the SecureString of the admin's password:
// "<ParameterPath>/admin-password".
func AdminPasswordParameterName(a *userdata.AuthParams) string {
	return a.ParameterPath + "/admin-password"
}

// UserPasswordParameterName is the SecureString of a user's password:
// "<ParameterPath>/users/<name>".
func UserPasswordParameterName(a *userdata.AuthParams, user string) string {
	return a.ParameterPath + "/users/" + user
}

// siblingParameterArn returns the ARN of the SSM name other in the account and region of the
// parameter (arn, name): the ARN of a hierarchical parameter is
// "arn:<partition>:ssm:<region>:<account>:parameter" followed by its name (AWS Systems Manager
// User Guide, "Working with parameter hierarchies"; Service Authorization Reference, resource
// type "parameter").
func siblingParameterArn(arn, name, other string) (string, error) {
	base, ok := strings.CutSuffix(arn, name)
	if !ok || name == "" || other == "" || other[0] != '/' || name[0] != '/' {
		return "", fmt.Errorf("SSM parameter ARN %q does not end with its name %q, or %q is not hierarchical", arn, name, other)
	}
	return base + other, nil
}
