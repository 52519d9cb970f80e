package components

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// LookupDeployedMLflowVersion returns the MLflow release recorded under the SSM path path by
// RecordMLflowVersion (parameter path + "/mlflow-version"), or "" when there is none (a first
// deploy, or a stack deployed before the record existed). It is an invoke, so it runs at preview
// as at up (ssm:GetParametersByPath on the path; an empty path is not an error, unlike
// GetParameter's ParameterNotFound).
func LookupDeployedMLflowVersion(ctx *pulumi.Context, path string) (string, error) {
	res, err := ssm.GetParametersByPath(ctx, &ssm.GetParametersByPathArgs{Path: path, WithDecryption: pulumi.BoolRef(true)})
	if err != nil {
		return "", fmt.Errorf("read the deployed MLflow release under SSM path %s: %w", path, err)
	}
	if i := slices.Index(res.Names, path+"/mlflow-version"); i >= 0 && i < len(res.Values) {
		return res.Values[i], nil
	}
	return "", nil
}

// RecordMLflowVersion registers the SSM parameter name (path + "/mlflow-version") holding
// version, the release the stack deploys, once after (the tracking server's instance ID) is known:
// the record moves only once the new server was created (opts: a child of the tracking server). A later preview
// compares the configured release with it (config.CheckUpgrade). It is a SecureString like every
// parameter of the stack (policy rule CKV2_AWS_34), though a release is no secret: the instance's
// mlflow-version tag shows it in a preview. It holds no user data, so it is neither protected nor
// retained.
func RecordMLflowVersion(ctx *pulumi.Context, name, parameterName, version string, after pulumi.StringOutput, opts ...pulumi.ResourceOption) (*ssm.Parameter, error) {
	// The value waits for after (the server's instance ID): Pulumi then orders the update after it.
	value := after.ApplyT(func(string) string { return version }).(pulumi.StringOutput)
	p, err := ssm.NewParameter(ctx, name, &ssm.ParameterArgs{
		Name:        pulumi.String(parameterName),
		Type:        pulumi.String("SecureString"),
		Value:       value,
		Description: pulumi.String("MLflow release last deployed against the backend store (the program refuses an older one)"),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("deployed MLflow release parameter: %w", err)
	}
	return p, nil
}
