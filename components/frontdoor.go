package components

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newAddress registers the tracking server's Elastic IP: a stable public address (and DNS name)
// across instance replacements (Amazon EC2 User Guide, "Elastic IP addresses").
func newAddress(ctx *pulumi.Context, name string, parent pulumi.ResourceOption) (*ec2.Eip, error) {
	eip, err := ec2.NewEip(ctx, name+"-eip", &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server Elastic IP: %w", err)
	}
	return eip, nil
}

// associateAddress attaches the Elastic IP to the instance.
func associateAddress(ctx *pulumi.Context, name string, eip *ec2.Eip, instance *ec2.Instance, parent pulumi.ResourceOption) error {
	if _, err := ec2.NewEipAssociation(ctx, name+"-eip-association", &ec2.EipAssociationArgs{
		AllocationId: eip.AllocationId,
		InstanceId:   instance.ID(),
	}, parent); err != nil {
		return fmt.Errorf("tracking server Elastic IP association: %w", err)
	}
	return nil
}
