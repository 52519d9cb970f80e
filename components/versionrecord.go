package components

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Names of the stack's deployment records under its SSM path (config.DeployedVersionPath).
const (
	// RecordMLflowVersion holds the MLflow release last deployed against the backend store.
	RecordMLflowVersion = "mlflow-version"
	// RecordFrontDoor holds "true" when that deployment ran behind the front door, else "false".
	RecordFrontDoor = "front-door"
)

// DeployedRecords are the records of the stack's last deployment, keyed by record name
// (RecordMLflowVersion, RecordFrontDoor); a record missing from the map was never written (a
// first deploy, or a stack deployed before the record existed).
type DeployedRecords map[string]string

// LookupDeployed returns the records under the SSM path path (parameters path + "/" + record
// name, written by RecordDeployed). It is an invoke, so it runs at preview as at up
// (ssm:GetParametersByPath on the path; an empty path is not an error, unlike GetParameter's
// ParameterNotFound).
func LookupDeployed(ctx *pulumi.Context, path string) (DeployedRecords, error) {
	res, err := ssm.GetParametersByPath(ctx, &ssm.GetParametersByPathArgs{Path: path, WithDecryption: pulumi.BoolRef(true)})
	if err != nil {
		return nil, fmt.Errorf("read the deployment records under SSM path %s: %w", path, err)
	}
	records := DeployedRecords{}
	for _, record := range []string{RecordMLflowVersion, RecordFrontDoor} {
		if i := slices.Index(res.Names, path+"/"+record); i >= 0 && i < len(res.Values) {
			records[record] = res.Values[i]
		}
	}
	return records, nil
}

// RecordDeployed registers the SSM parameter path + "/" + record holding value, once after (the
// tracking server's instance ID, or its Auto Scaling group's name) is known: the record moves
// only once the new servers were created (opts: a child of the tracking server). A later preview
// compares the configuration with it (config.CheckUpgrade). It is a SecureString like every
// parameter of the stack (policy rule CKV2_AWS_34), though a release is no secret: the
// instance's mlflow-version tag shows it in a preview. It holds no user data, so it is neither
// protected nor retained.
func RecordDeployed(ctx *pulumi.Context, name, path, record, value, description string, after pulumi.StringOutput, opts ...pulumi.ResourceOption) (*ssm.Parameter, error) {
	// The value waits for after: Pulumi then orders the update after it.
	v := after.ApplyT(func(string) string { return value }).(pulumi.StringOutput)
	p, err := ssm.NewParameter(ctx, name, &ssm.ParameterArgs{
		Name:        pulumi.String(path + "/" + record),
		Type:        pulumi.String("SecureString"),
		Value:       v,
		Description: pulumi.String(description),
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("deployment record %s: %w", record, err)
	}
	return p, nil
}
