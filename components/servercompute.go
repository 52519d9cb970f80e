package components

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

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

// launchParams is the user data input of the tracking server once the stores and the Elastic IP
// are known.
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
		AllowedHosts:          mlflowspec.ServerAllowedHosts(publicIP, publicDNS, args.AllowedHosts),
		Workers:               args.Workers,
		Port:                  TrackingPort,
		Auth:                  args.Auth,
		Monitoring:            args.Monitoring,
	}
}

// newServerInstance registers the instance: IMDSv2 required with hop limit 1 (Amazon EC2 User
// Guide, "Use IMDSv2"), an encrypted gp3 root volume, the instance profile, the security group,
// and the rendered #cloud-config (gzipped and base64-encoded, userdata.EncodeForEC2) with
// userDataReplaceOnChange, so a new launch boots a new instance. The tags TagMLflowVersion and
// TagUserDataDigest name the launch in a preview.
func newServerInstance(ctx *pulumi.Context, name string, args *TrackingServerArgs, role *instanceRole, sg *ec2.SecurityGroup,
	eip *ec2.Eip, objects *bootstrapObjects, parent pulumi.ResourceOption) (*ec2.Instance, error) {
	amiID, err := serverAMI(ctx, args)
	if err != nil {
		return nil, err
	}
	doc := pulumi.All(args.BackendStoreHost, args.BackendStorePort, args.PasswordParameterName,
		args.ArtifactsURI, eip.PublicIp, eip.PublicDns).ApplyT(func(v []any) (string, error) {
		return userdata.Render(launchParams(args, v[0].(string), v[1].(int), v[2].(string), v[3].(string), v[4].(string), v[5].(string)))
	}).(pulumi.StringOutput)
	instanceArgs := &ec2.InstanceArgs{
		Ami:                 pulumi.String(amiID),
		InstanceType:        pulumi.String(args.InstanceType),
		SubnetId:            pulumi.String(args.SubnetID),
		VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		IamInstanceProfile:  role.profile.Name,
		Monitoring:          pulumi.Bool(args.DetailedMonitoring),
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			Encrypted:           pulumi.Bool(true),
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(RootVolumeGiB),
			DeleteOnTermination: pulumi.Bool(true),
		},
		UserDataBase64:          doc.ApplyT(userdata.EncodeForEC2).(pulumi.StringOutput),
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags: pulumi.StringMap{
			"Name":            pulumi.String(name),
			TagMLflowVersion:  pulumi.String(args.MLflowVersion),
			TagUserDataDigest: doc.ApplyT(userdata.Digest).(pulumi.StringOutput),
		},
	}
	if args.SSHKeyName != "" {
		instanceArgs.KeyName = pulumi.String(args.SSHKeyName)
	}
	// The policies and the bootstrap objects go first: the bootstrap reads the lock, the plugin
	// and the passwords (the role policy waits for every auth parameter: ServerAuth's
	// ParameterPathArn), and writes artifacts, at first boot.
	opts := []pulumi.ResourceOption{parent, pulumi.DependsOn(append(slices.Clone(role.policies), objects.resources...))}
	if args.SubnetChosenByProgram {
		// Pulumi keeps the subnet recorded in the state (also for a replacement), so the
		// placement changes only when subnetIds is configured (Pulumi docs, "ignoreChanges").
		opts = append(opts, pulumi.IgnoreChanges([]string{"subnetId"}))
	}
	instance, err := ec2.NewInstance(ctx, name, instanceArgs, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracking server instance: %w", err)
	}
	return instance, nil
}
