package components

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/autoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/server"
	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// RootVolumeGiB is the root EBS volume size: AL2023 (8 GiB image), the MLflow venv and swap.
const RootVolumeGiB = 20

// Tags on the instance that put the launch into words in a preview: the user data travels
// gzipped and base64-encoded, so its diff is an opaque string; these tags change with it.
const (
	// TagMLflowVersion carries the MLflow release the user data installs.
	TagMLflowVersion = "mlflow-version"
	// TagUserDataDigest carries userdata.Digest of the rendered document; `sha256sum` of the
	// stack's golden file under userdata/testdata/ starts with it.
	TagUserDataDigest = "user-data-sha256"
)

var armFamily = regexp.MustCompile(`^(a1|[a-z]+[0-9]+g[a-z]*)(-flex)?$`)

// Architecture returns the EC2 architecture ("arm64" or "x86_64") of an instance type such as
// "t4g.small" or "m7i.large": AWS Graviton families carry a "g" right after the generation
// digit (t4g, m7g, c7gn, r8g, g5g), plus the first-generation a1 (Amazon EC2 Instance Types
// guide, "Instance type naming conventions").
func Architecture(instanceType string) string {
	family, _, _ := strings.Cut(instanceType, ".")
	if armFamily.MatchString(family) {
		return "arm64"
	}
	return "x86_64"
}

// AMIParameterName is the public SSM parameter with the latest Amazon Linux 2023 AMI for an
// architecture (Amazon Linux 2023 User Guide, "Launching AL2023 using the SSM parameter").
func AMIParameterName(arch string) string {
	return "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-" + arch
}

// serverAMI is args.AmiID, or the latest Amazon Linux 2023 for the instance type's architecture.
func serverAMI(ctx *pulumi.Context, args *TrackingServerArgs) (string, error) {
	if args.AmiID != "" {
		return args.AmiID, nil
	}
	ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: AMIParameterName(Architecture(args.InstanceType))})
	if err != nil {
		return "", fmt.Errorf("look up the Amazon Linux 2023 AMI: %w", err)
	}
	return ami.Value, nil
}

// bootstrapObjects are the objects the bootstrap downloads from the stack's bucket: the venv's
// hashed dependency lock and the mlflow-aws-auth plugin wheel. Both are too large for user data
// (16 KiB); only the server's role may read them, and the user data names their keys and
// SHA-256 (userdata.LockURI, userdata.BootstrapObjectURI).
type bootstrapObjects struct {
	keys      []string
	resources []pulumi.Resource
}

// newBootstrapObjects uploads the lock of serverLock and the plugin wheel.
func newBootstrapObjects(ctx *pulumi.Context, name string, args *TrackingServerArgs, serverLock lock.Lock, parent pulumi.ResourceOption) (*bootstrapObjects, error) {
	wheel, err := server.BuildWheel()
	if err != nil {
		return nil, fmt.Errorf("tracking server plugin: %w", err)
	}
	objects := &bootstrapObjects{}
	for _, o := range []struct {
		suffix, key string
		args        *s3.BucketObjectv2Args
	}{
		{"-lock", serverLock.ObjectKey(), &s3.BucketObjectv2Args{Content: pulumi.String(serverLock.Content), ContentType: pulumi.String("text/plain; charset=utf-8")}},
		{"-plugin", wheel.ObjectKey(), &s3.BucketObjectv2Args{ContentBase64: pulumi.String(base64.StdEncoding.EncodeToString(wheel.Content)), ContentType: pulumi.String("application/zip")}},
	} {
		o.args.Bucket, o.args.Key = args.BucketName, pulumi.String(o.key)
		obj, err := s3.NewBucketObjectv2(ctx, name+o.suffix, o.args, parent)
		if err != nil {
			return nil, fmt.Errorf("tracking server bootstrap object %s: %w", o.key, err)
		}
		objects.keys = append(objects.keys, o.key)
		objects.resources = append(objects.resources, obj)
	}
	return objects, nil
}

// LaunchAllowedHosts are the Host header values the servers' user data lets MLflow accept
// (--allowed-hosts, before the launcher adds the private IP): mlflowspec.ServerAllowedHosts of
// the Elastic IP and its DNS name ("" with a front door: the servers have no address of their
// own that clients use), then AllowedHosts, then the front door's domain bare and with :443
// (mlflowspec.FrontDoorHosts), from which the launcher derives the CORS origin https://<domain>.
func LaunchAllowedHosts(args *TrackingServerArgs, publicIP, publicDNS string) []string {
	extra := slices.Clone(args.AllowedHosts)
	if args.FrontDoor != nil {
		extra = append(extra, mlflowspec.FrontDoorHosts(args.FrontDoor.DomainName)...)
	}
	return mlflowspec.ServerAllowedHosts(publicIP, publicDNS, extra)
}

// launchParams is the user data input of the tracking server once the stores (and, without a
// front door, the Elastic IP) are known.
func launchParams(args *TrackingServerArgs, dbHost string, dbPort int, passwordParameter, artifactsURI, publicIP, publicDNS string) userdata.Params {
	return userdata.Params{
		MLflowVersion:         args.MLflowVersion,
		Region:                args.Region,
		BackendStoreHost:      dbHost,
		BackendStorePort:      dbPort,
		DatabaseName:          DatabaseName,
		DatabaseUser:          DatabaseUser,
		PasswordParameterName: passwordParameter,
		ArtifactAccess:        string(args.ArtifactAccess),
		ArtifactsURI:          artifactsURI,
		AllowedHosts:          LaunchAllowedHosts(args, publicIP, publicDNS),
		Workers:               args.Workers,
		Port:                  TrackingPort,
		Auth:                  args.Auth,
		SpoolVolume:           args.ArtifactSpoolGiB > 0,
		GCOlderThan:           args.GCOlderThan,
		Monitoring:            args.Monitoring,
	}
}

// launchDocument renders the #cloud-config of the servers (userdata.Render); publicIP and
// publicDNS are the Elastic IP's, or "" with a front door.
func launchDocument(args *TrackingServerArgs, publicIP, publicDNS pulumi.StringInput) pulumi.StringOutput {
	return pulumi.All(args.BackendStoreHost, args.BackendStorePort, args.PasswordParameterName,
		args.ArtifactsURI, publicIP, publicDNS).ApplyT(func(v []any) (string, error) {
		return userdata.Render(launchParams(args, v[0].(string), v[1].(int), v[2].(string), v[3].(string), v[4].(string), v[5].(string)))
	}).(pulumi.StringOutput)
}

// RootDeviceName is the root device of Amazon Linux 2023 AMIs.
const RootDeviceName = "/dev/xvda"

// serverVolume is one encrypted gp3 EBS volume of every server, deleted with it.
type serverVolume struct {
	DeviceName string // e.g. "/dev/xvda" (RootDeviceName) or "/dev/sdf"
	SizeGiB    int
}

// serverVolumes lists the EBS volumes of a server, the root volume first: the one place the
// instance (rootBlockDevice, ebsBlockDevices) and the launch template (blockDeviceMappings)
// take their volumes from, so a further volume is one more entry here. The artifact spool
// volume (spool.go) is added by SpoolEbsBlockDevices and SpoolLaunchTemplateBlockDeviceMappings.
func serverVolumes(args *TrackingServerArgs) []serverVolume {
	return []serverVolume{{DeviceName: RootDeviceName, SizeGiB: RootVolumeGiB}}
}

// keepsAMI reports whether the servers keep the AMI recorded in the stack's state (C12): in a
// stack with ProtectData and no AmiID, a newer Amazon Linux release never replaces production
// servers by itself; only a configured amiId moves them.
func keepsAMI(args *TrackingServerArgs) bool { return args.ProtectData && args.AmiID == "" }

// launchTags name the launch in a preview (TagMLflowVersion, TagUserDataDigest), plus Name.
func launchTags(name string, args *TrackingServerArgs, doc pulumi.StringOutput) pulumi.StringMap {
	return pulumi.StringMap{
		"Name":            pulumi.String(name),
		TagMLflowVersion:  pulumi.String(args.MLflowVersion),
		TagUserDataDigest: doc.ApplyT(userdata.Digest).(pulumi.StringOutput),
	}
}

// metadataOptions: IMDSv2 required with hop limit 1 (Amazon EC2 User Guide, "Use IMDSv2").
var metadataOptions = struct {
	endpoint, tokens string
	hops             int
}{"enabled", "required", 1}

// newServerInstance registers the single server: IMDSv2 required with hop limit 1 (Amazon EC2
// User Guide, "Use IMDSv2"), the encrypted gp3 volumes of serverVolumes, the instance profile,
// the network interface eni as device 0 (its private IP and security group outlive the
// instance), and the rendered #cloud-config (gzipped and base64-encoded,
// userdata.EncodeForEC2) with userDataReplaceOnChange, so a new launch boots a new instance.
// The old instance is deleted before its replacement starts (the interface is attached to one
// instance at a time), so two servers never run side by side, of one MLflow version or two.
// The tags TagMLflowVersion and TagUserDataDigest name the launch in a preview; keepsAMI keeps
// the recorded AMI. deps are what must exist before the first boot.
func newServerInstance(ctx *pulumi.Context, name string, args *TrackingServerArgs, role *instanceRole,
	eni *ec2.NetworkInterface, doc pulumi.StringOutput, amiID string, deps []pulumi.Resource, parent pulumi.ResourceOption) (*ec2.Instance, error) {
	volumes := serverVolumes(args)
	var extra ec2.InstanceEbsBlockDeviceArray
	for _, v := range volumes[1:] {
		extra = append(extra, ec2.InstanceEbsBlockDeviceArgs{
			DeviceName:          pulumi.String(v.DeviceName),
			Encrypted:           pulumi.Bool(true),
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(v.SizeGiB),
			DeleteOnTermination: pulumi.Bool(true),
		})
	}
	instanceArgs := &ec2.InstanceArgs{
		Ami:                pulumi.String(amiID),
		InstanceType:       pulumi.String(args.InstanceType),
		IamInstanceProfile: role.profile.Name,
		NetworkInterfaces: ec2.InstanceNetworkInterfaceArray{ec2.InstanceNetworkInterfaceArgs{
			DeviceIndex:         pulumi.Int(0),
			NetworkInterfaceId:  eni.ID(),
			DeleteOnTermination: pulumi.Bool(false),
		}},
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String(metadataOptions.endpoint),
			HttpTokens:              pulumi.String(metadataOptions.tokens),
			HttpPutResponseHopLimit: pulumi.Int(metadataOptions.hops),
		},
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			Encrypted:           pulumi.Bool(true),
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(volumes[0].SizeGiB),
			DeleteOnTermination: pulumi.Bool(true),
		},
		Monitoring:              pulumi.Bool(args.DetailedMonitoring),
		UserDataBase64:          doc.ApplyT(userdata.EncodeForEC2).(pulumi.StringOutput),
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags:                    launchTags(name, args, doc),
	}
	if extra = append(extra, SpoolEbsBlockDevices(args.ArtifactSpoolGiB)...); len(extra) > 0 {
		instanceArgs.EbsBlockDevices = extra
	}
	if args.SSHKeyName != "" {
		instanceArgs.KeyName = pulumi.String(args.SSHKeyName)
	}
	opts := []pulumi.ResourceOption{parent, pulumi.DependsOn(deps), pulumi.DeleteBeforeReplace(true)}
	if keepsAMI(args) {
		// Pulumi keeps the AMI recorded in the state, also for a replacement (Pulumi docs,
		// "ignoreChanges"); a configured amiId is binding.
		opts = append(opts, pulumi.IgnoreChanges([]string{"ami"}))
	}
	instance, err := ec2.NewInstance(ctx, name, instanceArgs, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracking server instance: %w", err)
	}
	return instance, nil
}

// newServerInterface registers the single server's network interface in args.SubnetID with the
// servers' security group: its primary private IP is the server's stable private address (the
// private tracking URI), and the Elastic IP is associated with it, so neither changes when the
// instance is replaced (Amazon EC2 User Guide, "Elastic network interfaces"). With
// SubnetChosenByProgram the interface keeps the subnet recorded in the state (C24).
func newServerInterface(ctx *pulumi.Context, name string, args *TrackingServerArgs, sg *ec2.SecurityGroup, parent pulumi.ResourceOption) (*ec2.NetworkInterface, error) {
	opts := []pulumi.ResourceOption{parent, pulumi.DeleteBeforeReplace(true)}
	if args.SubnetChosenByProgram {
		// Pulumi keeps the subnet recorded in the state (also for a replacement), so the
		// placement changes only when subnetIds is configured (Pulumi docs, "ignoreChanges").
		opts = append(opts, pulumi.IgnoreChanges([]string{"subnetId"}))
	}
	eni, err := ec2.NewNetworkInterface(ctx, name+"-eni", &ec2.NetworkInterfaceArgs{
		SubnetId:       pulumi.String(args.SubnetID),
		SecurityGroups: pulumi.StringArray{sg.ID()},
		Description:    pulumi.String(serverSecurityGroupDescription),
		Tags:           pulumi.StringMap{"Name": pulumi.String(name)},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracking server network interface: %w", err)
	}
	return eni, nil
}

// newLaunchTemplate registers the servers' launch template with what newServerInstance gives
// the single server: IMDSv2 required with hop limit 1, the encrypted gp3 volumes of
// serverVolumes, the instance profile, the servers' security group, detailed monitoring as
// configured and the same rendered user data; keepsAMI keeps the recorded imageId. Each change
// is a new template version, which the group rolls out.
func newLaunchTemplate(ctx *pulumi.Context, name string, args *TrackingServerArgs, role *instanceRole, sg *ec2.SecurityGroup,
	doc pulumi.StringOutput, amiID string, parent pulumi.ResourceOption) (*ec2.LaunchTemplate, error) {
	var devices ec2.LaunchTemplateBlockDeviceMappingArray
	for _, v := range serverVolumes(args) {
		devices = append(devices, ec2.LaunchTemplateBlockDeviceMappingArgs{
			DeviceName: pulumi.String(v.DeviceName),
			Ebs: ec2.LaunchTemplateBlockDeviceMappingEbsArgs{
				Encrypted:           pulumi.String("true"),
				VolumeType:          pulumi.String("gp3"),
				VolumeSize:          pulumi.Int(v.SizeGiB),
				DeleteOnTermination: pulumi.String("true"),
			},
		})
	}
	devices = append(devices, SpoolLaunchTemplateBlockDeviceMappings(args.ArtifactSpoolGiB)...)
	tags := launchTags(name, args, doc)
	ltArgs := &ec2.LaunchTemplateArgs{
		Description:         pulumi.String("MLflow tracking server " + name),
		ImageId:             pulumi.String(amiID),
		InstanceType:        pulumi.String(args.InstanceType),
		IamInstanceProfile:  ec2.LaunchTemplateIamInstanceProfileArgs{Name: role.profile.Name},
		VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		MetadataOptions: ec2.LaunchTemplateMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String(metadataOptions.endpoint),
			HttpTokens:              pulumi.String(metadataOptions.tokens),
			HttpPutResponseHopLimit: pulumi.Int(metadataOptions.hops),
		},
		BlockDeviceMappings:  devices,
		Monitoring:           ec2.LaunchTemplateMonitoringArgs{Enabled: pulumi.Bool(args.DetailedMonitoring)},
		UserData:             doc.ApplyT(userdata.EncodeForEC2).(pulumi.StringOutput),
		UpdateDefaultVersion: pulumi.Bool(true),
		TagSpecifications: ec2.LaunchTemplateTagSpecificationArray{
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("instance"), Tags: tags},
			ec2.LaunchTemplateTagSpecificationArgs{ResourceType: pulumi.String("volume"), Tags: pulumi.StringMap{"Name": pulumi.String(name)}},
		},
		Tags: tags,
	}
	if args.SSHKeyName != "" {
		ltArgs.KeyName = pulumi.String(args.SSHKeyName)
	}
	opts := []pulumi.ResourceOption{parent}
	if keepsAMI(args) {
		opts = append(opts, pulumi.IgnoreChanges([]string{"imageId"}))
	}
	lt, err := ec2.NewLaunchTemplate(ctx, name+"-launch", ltArgs, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracking server launch template: %w", err)
	}
	return lt, nil
}

// Auto Scaling group timing, in seconds unless named otherwise.
const (
	// BootGraceSeconds is how long a new server may take from launch to a healthy /health before
	// the group counts a failed check against it (health check grace period and instance warmup):
	// the first boot installs Python and builds the venv from the hashed lock (docs/performance.md).
	BootGraceSeconds = 900
	// CapacityTimeout is how long `pulumi up` waits for the group's servers to be healthy in the
	// target group before it fails the update (wait_for_capacity_timeout): the grace period plus
	// the health checks that mark a target healthy.
	CapacityTimeout = "20m"
	// ScaleOutRequestsPerServer is the target of the group's target tracking policy: requests per
	// server per minute (ALBRequestCountPerTarget).
	ScaleOutRequestsPerServer = 1000
)

// groupMetrics are the Auto Scaling group metrics sent to CloudWatch (free of charge at
// 1-minute granularity; Amazon EC2 Auto Scaling User Guide, "Monitor CloudWatch metrics").
var groupMetrics = []string{"GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances",
	"GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"}

// GroupNamePrefix is the name prefix of the Auto Scaling group running MLflow version: an
// Auto Scaling group cannot be renamed, so a new version is a new group (see newServerGroup).
func GroupNamePrefix(name, version string) string { return name + "-mlflow-" + version + "-" }

// newServerGroup registers the Auto Scaling group of servers (Amazon EC2 Auto Scaling User
// Guide): FrontDoor.MinServers to MaxServers instances of the launch template's latest version
// across FrontDoor.ServerSubnetIDs, registered in the target group, replaced when the load
// balancer's health check fails (health check type ELB), with `pulumi up` waiting until
// MinServers are healthy in the target group (wait_for_elb_capacity) or failing after
// CapacityTimeout. Its name carries the MLflow version and it is deleted before it is replaced:
// a version change deletes the old group (waiting for its servers to terminate) and then
// creates the new one, so no server of the old version runs while the new one migrates the
// schema. Any other launch change is a new template version rolled out by an instance refresh
// (new servers healthy before old ones stop, rolled back when they never become healthy).
func newServerGroup(ctx *pulumi.Context, name string, args *TrackingServerArgs, lt *ec2.LaunchTemplate,
	targetGroupArn pulumi.StringInput, deps []pulumi.Resource, parent pulumi.ResourceOption) (*autoscaling.Group, error) {
	fd := args.FrontDoor
	opts := []pulumi.ResourceOption{parent, pulumi.DependsOn(deps), pulumi.DeleteBeforeReplace(true)}
	if args.SubnetChosenByProgram {
		// As for the single server's subnet (C24): a subnet added to the VPC never moves servers.
		opts = append(opts, pulumi.IgnoreChanges([]string{"vpcZoneIdentifiers"}))
	}
	group, err := autoscaling.NewGroup(ctx, name+"-group", &autoscaling.GroupArgs{
		NamePrefix: pulumi.String(GroupNamePrefix(name, args.MLflowVersion)),
		LaunchTemplate: autoscaling.GroupLaunchTemplateArgs{
			Id:      lt.ID(),
			Version: lt.LatestVersion.ApplyT(func(v int) string { return strconv.Itoa(v) }).(pulumi.StringOutput),
		},
		MinSize:                pulumi.Int(fd.MinServers),
		MaxSize:                pulumi.Int(fd.MaxServers),
		VpcZoneIdentifiers:     pulumi.ToStringArray(fd.ServerSubnetIDs),
		TargetGroupArns:        pulumi.StringArray{targetGroupArn},
		HealthCheckType:        pulumi.String("ELB"),
		HealthCheckGracePeriod: pulumi.Int(BootGraceSeconds),
		DefaultInstanceWarmup:  pulumi.Int(BootGraceSeconds),
		WaitForElbCapacity:     pulumi.Int(fd.MinServers),
		WaitForCapacityTimeout: pulumi.String(CapacityTimeout),
		InstanceRefresh: autoscaling.GroupInstanceRefreshArgs{
			Strategy: pulumi.String("Rolling"),
			Preferences: autoscaling.GroupInstanceRefreshPreferencesArgs{
				MinHealthyPercentage: pulumi.Int(100),
				MaxHealthyPercentage: pulumi.Int(200),
				AutoRollback:         pulumi.Bool(true),
				SkipMatching:         pulumi.Bool(true),
			},
		},
		EnabledMetrics:     pulumi.ToStringArray(groupMetrics),
		MetricsGranularity: pulumi.String("1Minute"),
		Tags: autoscaling.GroupTagArray{
			autoscaling.GroupTagArgs{Key: pulumi.String("Name"), Value: pulumi.String(name), PropagateAtLaunch: pulumi.Bool(true)},
			autoscaling.GroupTagArgs{Key: pulumi.String(TagMLflowVersion), Value: pulumi.String(args.MLflowVersion), PropagateAtLaunch: pulumi.Bool(true)},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracking server Auto Scaling group: %w", err)
	}
	return group, nil
}

// newScalingPolicy registers the group's target tracking policy on ALBRequestCountPerTarget
// (ScaleOutRequestsPerServer per server per minute; Amazon EC2 Auto Scaling User Guide, "Target
// tracking scaling policies"). Requests, not CPU: a tracking server waiting on PostgreSQL or
// streaming an artifact to S3 shows little CPU while requests queue, and on burstable types
// (t3, t4g) CPU is capped by the credit balance. None when MinServers = MaxServers.
func newScalingPolicy(ctx *pulumi.Context, name string, args *TrackingServerArgs, group *autoscaling.Group, resourceLabel pulumi.StringInput, parent pulumi.ResourceOption) error {
	if args.FrontDoor.MaxServers <= args.FrontDoor.MinServers {
		return nil
	}
	if _, err := autoscaling.NewPolicy(ctx, name+"-requests", &autoscaling.PolicyArgs{
		AutoscalingGroupName: group.Name,
		PolicyType:           pulumi.String("TargetTrackingScaling"),
		TargetTrackingConfiguration: autoscaling.PolicyTargetTrackingConfigurationArgs{
			PredefinedMetricSpecification: autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs{
				PredefinedMetricType: pulumi.String("ALBRequestCountPerTarget"),
				ResourceLabel:        resourceLabel,
			},
			TargetValue: pulumi.Float64(ScaleOutRequestsPerServer),
		},
	}, parent); err != nil {
		return fmt.Errorf("tracking server scaling policy: %w", err)
	}
	return nil
}
