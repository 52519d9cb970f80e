package components

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The tracking server's role is created under a permissions boundary that an administrator
// creates once per account (docs/tracking-server-boundary.json, docs/delivery.md "Permissions
// boundary"). The deployer may create or change roles only with this boundary attached
// (docs/deployer-iam-policy.json, condition iam:PermissionsBoundary), so whatever policy the
// deployer writes, the role can never do more than the boundary allows (IAM User Guide,
// "Permissions boundaries for IAM entities"). The deployer cannot edit the boundary itself.
const (
	// BoundaryPolicyName is the name of the customer managed boundary policy (path "/").
	BoundaryPolicyName = "mlflow-aws-tracking-server-boundary"
	// RolePath is the IAM path of the tracking server's role. The deployer's IAM rights are
	// scoped to roles on this path (arn:aws:iam::*:role/mlflow-aws/*), so roles elsewhere
	// whose names merely start with "mlflow" are out of its reach.
	RolePath = "/mlflow-aws/"
)

// BoundaryPolicyArn is the ARN of the boundary policy in an account of a partition ("aws").
func BoundaryPolicyArn(partition, accountID string) string {
	return fmt.Sprintf("arn:%s:iam::%s:policy/%s", partition, accountID, BoundaryPolicyName)
}

// LookupAccountID returns the account id of the deploying credentials (data source
// aws_caller_identity, STS GetCallerIdentity): the account of the boundary policy
// (BoundaryPolicyArn) and of the stack's ARNs. It does not check that the boundary policy
// exists: IAM's CreateRole does, failing with NoSuchEntity until an administrator has created it.
func LookupAccountID(ctx *pulumi.Context) (string, error) {
	id, err := aws.GetCallerIdentity(ctx, &aws.GetCallerIdentityArgs{})
	if err != nil {
		return "", fmt.Errorf("look up the AWS account of the deploying credentials: %w", err)
	}
	return id.AccountId, nil
}
