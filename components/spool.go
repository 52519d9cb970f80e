package components

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// The artifact spool volume: the tracking server's own EBS volume for proxied artifact
// transfers (MLflow holds each artifact in transfer whole in TMPDIR; see userdata.SpoolDir and
// README "Sizing the artifact spool"). It is an encrypted gp3 volume (gp3's baseline 3,000 IOPS
// and 125 MiB/s, Amazon EBS User Guide, "General Purpose SSD volumes") attached at
// userdata.SpoolDeviceName, where the bootstrap finds, formats (only when blank) and mounts it.
// It holds only transient spool files, so it is deleted with the instance.
//
// Both helpers return an empty array for sizeGiB <= 0 (no spool volume; config.SpoolVolumeGiB
// is 0 in direct mode), so a caller can always set the field. Instance block devices force a
// replacement when they change (the instance is stateless; user data changes replace it too).

// SpoolEbsBlockDevices is the spool volume of sizeGiB GiB for ec2.InstanceArgs.EbsBlockDevices.
func SpoolEbsBlockDevices(sizeGiB int) ec2.InstanceEbsBlockDeviceArray {
	if sizeGiB <= 0 {
		return ec2.InstanceEbsBlockDeviceArray{}
	}
	return ec2.InstanceEbsBlockDeviceArray{&ec2.InstanceEbsBlockDeviceArgs{
		DeviceName:          pulumi.String(userdata.SpoolDeviceName),
		VolumeType:          pulumi.String("gp3"),
		VolumeSize:          pulumi.Int(sizeGiB),
		Encrypted:           pulumi.Bool(true),
		DeleteOnTermination: pulumi.Bool(true),
	}}
}

// SpoolLaunchTemplateBlockDeviceMappings is the spool volume of sizeGiB GiB for
// ec2.LaunchTemplateArgs.BlockDeviceMappings (append it to the root volume's mapping). The
// launch template's EBS flags are strings in the AWS provider ("true").
func SpoolLaunchTemplateBlockDeviceMappings(sizeGiB int) ec2.LaunchTemplateBlockDeviceMappingArray {
	if sizeGiB <= 0 {
		return ec2.LaunchTemplateBlockDeviceMappingArray{}
	}
	return ec2.LaunchTemplateBlockDeviceMappingArray{&ec2.LaunchTemplateBlockDeviceMappingArgs{
		DeviceName: pulumi.String(userdata.SpoolDeviceName),
		Ebs: &ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(sizeGiB),
			Encrypted:           pulumi.String("true"),
			DeleteOnTermination: pulumi.String("true"),
		},
	}}
}
