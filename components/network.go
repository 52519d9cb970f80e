package components

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Network is the VPC and subnets the stack deploys into.
type Network struct {
	VpcID string // e.g. "vpc-0123456789abcdef0"
	// SubnetIDs are the DB subnet group's subnets, sorted; at least two, in two or more
	// Availability Zones (RDS requirement).
	SubnetIDs []string
	// InstanceSubnetID is where the tracking server runs: a subnet in an Availability Zone that
	// offers the instance type (us-east-1e, for one, offers no t3). It must route to an internet
	// gateway for the Elastic IP, SSM and PyPI (the default VPC's subnets do).
	InstanceSubnetID string
	// InstanceSubnetChosenByProgram is true when subnetIds is not configured and
	// InstanceSubnetID is the program's choice among the VPC's subnets; the instance then keeps
	// the subnet it was first placed in (TrackingServerArgs.SubnetChosenByProgram).
	InstanceSubnetChosenByProgram bool
	// ServerSubnetIDs are the subnets an Auto Scaling group of servers spreads over, sorted:
	// the configured subnets, else the VPC's subnets in Availability Zones offering the
	// instance type. Like InstanceSubnetID they must reach the internet (PyPI, SSM, S3).
	ServerSubnetIDs []string
}

// chooseInstanceSubnet is the tracking server's subnet: the first configured subnet, else the
// smallest id of the subnets in Availability Zones offering the instance type. Only the
// configured choice is binding: an automatic choice can change when a subnet is added to the
// VPC, so the instance records it in its state instead of following it.
func chooseInstanceSubnet(configured, usable []string) (subnet string, chosenByProgram bool) {
	if len(configured) > 0 {
		return configured[0], false
	}
	if len(usable) == 0 {
		return "", true
	}
	return slices.Min(usable), true
}

// LookupNetwork resolves the network (AWS provider data sources aws_vpc, aws_subnets and
// aws_ec2_instance_type_offerings). vpcID "" selects the region's default VPC; subnetIDs empty
// selects every subnet of the VPC. The tracking server goes where chooseInstanceSubnet says. It
// fails when the VPC is missing or has fewer than two subnets.
func LookupNetwork(ctx *pulumi.Context, vpcID string, subnetIDs []string, instanceType string) (*Network, error) {
	vpcArgs := &ec2.LookupVpcArgs{}
	if vpcID == "" {
		vpcArgs.Default = pulumi.BoolRef(true)
	} else {
		vpcArgs.Id = pulumi.StringRef(vpcID)
	}
	vpc, err := ec2.LookupVpc(ctx, vpcArgs)
	if err != nil {
		if vpcID == "" {
			return nil, fmt.Errorf("look up the default VPC (set mlflow-aws:vpcId if the region has none): %w", err)
		}
		return nil, fmt.Errorf("look up VPC %s: %w", vpcID, err)
	}
	n := &Network{VpcID: vpc.Id}
	if len(subnetIDs) > 0 {
		n.SubnetIDs = slices.Clone(subnetIDs)
		n.InstanceSubnetID, n.InstanceSubnetChosenByProgram = chooseInstanceSubnet(subnetIDs, nil)
		slices.Sort(n.SubnetIDs)
		n.ServerSubnetIDs = n.SubnetIDs
		return n, nil
	}

	inVpc := ec2.GetSubnetsFilter{Name: "vpc-id", Values: []string{vpc.Id}}
	all, err := ec2.GetSubnets(ctx, &ec2.GetSubnetsArgs{Filters: []ec2.GetSubnetsFilter{inVpc}})
	if err != nil {
		return nil, fmt.Errorf("list subnets of %s: %w", vpc.Id, err)
	}
	n.SubnetIDs = slices.Sorted(slices.Values(all.Ids))
	if len(n.SubnetIDs) < 2 {
		return nil, fmt.Errorf("VPC %s has %d subnet(s); the RDS DB subnet group needs two in different Availability Zones", vpc.Id, len(n.SubnetIDs))
	}

	offers, err := ec2.GetInstanceTypeOfferings(ctx, &ec2.GetInstanceTypeOfferingsArgs{
		LocationType: pulumi.StringRef("availability-zone"),
		Filters:      []ec2.GetInstanceTypeOfferingsFilter{{Name: "instance-type", Values: []string{instanceType}}},
	})
	if err != nil {
		return nil, fmt.Errorf("look up Availability Zones offering %s: %w", instanceType, err)
	}
	if len(offers.Locations) == 0 {
		return nil, fmt.Errorf("no Availability Zone of this region offers instance type %s (mlflow-aws:instanceType)", instanceType)
	}
	usable, err := ec2.GetSubnets(ctx, &ec2.GetSubnetsArgs{Filters: []ec2.GetSubnetsFilter{
		inVpc,
		{Name: "availability-zone", Values: offers.Locations},
	}})
	if err != nil {
		return nil, fmt.Errorf("list subnets of %s offering %s: %w", vpc.Id, instanceType, err)
	}
	if len(usable.Ids) == 0 {
		return nil, fmt.Errorf("no subnet of VPC %s is in an Availability Zone offering %s (%v)", vpc.Id, instanceType, offers.Locations)
	}
	n.InstanceSubnetID, n.InstanceSubnetChosenByProgram = chooseInstanceSubnet(nil, usable.Ids)
	n.ServerSubnetIDs = slices.Sorted(slices.Values(usable.Ids))
	return n, nil
}
