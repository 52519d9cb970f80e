package components

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/config"
	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// Tracking server constants.
const (
	// TrackingPort is the port `mlflow server` listens on.
	TrackingPort = 5000
	// RootVolumeGiB is the root EBS volume size: AL2023 (8 GiB image), the MLflow venv and swap.
	RootVolumeGiB = 20
	// SSMManagedInstanceCorePolicy is the AWS managed policy for Session Manager (without the
	// partition prefix, see ManagedPolicyArn).
	SSMManagedInstanceCorePolicy = "AmazonSSMManagedInstanceCore"
)

// TrackingServerArgs configures a TrackingServer.
type TrackingServerArgs struct {
	Region       string // e.g. "us-east-1"
	VpcID        string
	SubnetID     string // the instance's subnet; must route to an internet gateway
	InstanceType string // e.g. "t3.micro"; families like t4g/m7g/c7gn run the arm64 AMI
	// AmiID pins the AMI (an Amazon Linux 2023 image); "" looks up the latest for the architecture.
	AmiID          string
	MLflowVersion  string // e.g. "3.17.2"
	ArtifactAccess string // userdata.ArtifactAccessProxied or userdata.ArtifactAccessDirect
	Workers        int    // 0 = sized at boot from memory
	AllowedCidrs   []string
	// AllowedHosts are extra Host header values for MLflow, taken as given ("host[:port]").
	AllowedHosts     []string
	SSHKeyName       string
	SSHCidrs         []string
	BucketName       pulumi.StringInput // artifact bucket name (the venv's lock object goes there)
	BucketArn        pulumi.StringInput // artifact bucket ARN
	ArtifactsURI     pulumi.StringInput // "s3://<bucket>/artifacts"
	BackendStoreHost pulumi.StringInput // RDS address
	BackendStorePort pulumi.IntInput
	// BackendStoreSecurityGroupID gets an ingress rule: 5432 from the tracking server's group.
	BackendStoreSecurityGroupID pulumi.StringInput
	PasswordParameterName       pulumi.StringInput
	PasswordParameterArn        pulumi.StringInput
	// PermissionsBoundaryArn is the boundary policy set on the role (BoundaryPolicyArn); required.
	PermissionsBoundaryArn string
}

// TrackingServer is the EC2 instance running `mlflow server` (MLflow self-hosting guide;
// Amazon EC2 User Guide, "Use IMDSv2"; AWS Systems Manager, "Session Manager port
// forwarding"): an IAM role with least privilege and instance profile, a security group
// (5000 from AllowedCidrs only, 22 only with a key pair and SSHCidrs, all egress), an Amazon
// Linux 2023 instance with IMDSv2 required and an encrypted gp3 root volume, its user data
// rendered by package userdata (replaced on change), and an Elastic IP.
type TrackingServer struct {
	pulumi.ResourceState

	InstanceID      pulumi.StringOutput
	PublicIP        pulumi.StringOutput // the Elastic IP
	PublicDNS       pulumi.StringOutput
	SecurityGroupID pulumi.StringOutput
	RoleName        pulumi.StringOutput
	// TrackingURI is "http://localhost:5000" through PortForwardCommand when AllowedCidrs is
	// empty, "http://<private ip>:5000" when every allowed CIDR is private (clients come over a
	// VPN or peering), else "http://<elastic ip>:5000".
	TrackingURI pulumi.StringOutput
	// PortForwardCommand is the `aws ssm start-session` command forwarding the instance's port
	// 5000 to localhost:5000.
	PortForwardCommand pulumi.StringOutput
}

var cidrName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

var armFamily = regexp.MustCompile(`^(a1|[a-z]+[0-9]+g[a-z]*)(-flex)?$`)

// Architecture returns the EC2 architecture ("arm64" or "x86_64") of an instance type such as
// "t4g.small" or "m7i.large": AWS Graviton families carry a "g" right after the generation
// digit (t4g, m7g, c7gn, r8g, g5g), plus the first-generation a1.
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

// Partition returns the AWS partition of a region: "aws-cn" for cn-*, "aws-us-gov" for
// us-gov-*, else "aws".
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// ManagedPolicyArn is the ARN of an AWS managed policy in the region's partition.
func ManagedPolicyArn(region, policy string) string {
	return "arn:" + Partition(region) + ":iam::aws:policy/" + policy
}

// AllowedHosts lists the Host header values the server must accept (MLflow >= 3.5
// --allowed-hosts, "Protect Your Tracking Server from Network Exposure"): every host the
// tracking URI or the port forward uses, each bare and with the port.
func AllowedHosts(port int, hosts ...string) []string {
	var out []string
	for _, h := range hosts {
		if h == "" {
			continue
		}
		out = append(out, h, fmt.Sprintf("%s:%d", h, port))
	}
	return out
}

// PortForwardCommand is the AWS CLI command forwarding the instance's port to localhost
// (Session Manager document AWS-StartPortForwardingSession).
func PortForwardCommand(instanceID, region string, port int) string {
	return fmt.Sprintf("aws ssm start-session --region %s --target %s --document-name AWS-StartPortForwardingSession --parameters portNumber=%d,localPortNumber=%d",
		region, instanceID, port, port)
}

// NewTrackingServer registers the tracking server (type token mlflow:aws:TrackingServer).
func NewTrackingServer(ctx *pulumi.Context, name string, args *TrackingServerArgs, opts ...pulumi.ResourceOption) (*TrackingServer, error) {
	if args == nil {
		return nil, fmt.Errorf("tracking server %q: args are required", name)
	}
	if args.PermissionsBoundaryArn == "" {
		return nil, fmt.Errorf("tracking server %q: a permissions boundary is required (BoundaryPolicyArn)", name)
	}
	t := &TrackingServer{}
	if err := ctx.RegisterComponentResource("mlflow:aws:TrackingServer", name, t, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(t)

	// IAM: role, least-privilege inline policy, Session Manager, instance profile.
	assume, err := EC2AssumeRolePolicy().JSON()
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name+"-role", &iam.RoleArgs{
		Description:         pulumi.String("MLflow tracking server " + name),
		AssumeRolePolicy:    pulumi.String(assume),
		Path:                pulumi.String(RolePath),
		PermissionsBoundary: pulumi.String(args.PermissionsBoundaryArn),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server role: %w", err)
	}
	serverLock, err := lock.For(args.MLflowVersion)
	if err != nil {
		return nil, fmt.Errorf("tracking server: %w", err)
	}
	// The venv's hashed lock is too large for user data (16 KiB), so it is an object of the
	// stack's bucket that only this role may read; the user data names its key and SHA-256.
	lockObject, err := s3.NewBucketObjectv2(ctx, name+"-lock", &s3.BucketObjectv2Args{
		Bucket:      args.BucketName,
		Key:         pulumi.String(serverLock.ObjectKey()),
		Content:     pulumi.String(serverLock.Content),
		ContentType: pulumi.String("text/plain; charset=utf-8"),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server lock object: %w", err)
	}
	policy := pulumi.All(args.BucketArn, args.PasswordParameterArn).ApplyT(func(v []any) (string, error) {
		doc, err := TrackingServerPolicy(v[0].(string), ArtifactsPrefix, serverLock.ObjectKey(), v[1].(string))
		if err != nil {
			return "", err
		}
		return doc.JSON()
	}).(pulumi.StringOutput)
	rolePolicy, err := iam.NewRolePolicy(ctx, name+"-policy", &iam.RolePolicyArgs{
		Role:   role.Name,
		Policy: policy,
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server role policy: %w", err)
	}
	ssmCore, err := iam.NewRolePolicyAttachment(ctx, name+"-ssm-core", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: pulumi.String(ManagedPolicyArn(args.Region, SSMManagedInstanceCorePolicy)),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server SSM policy attachment: %w", err)
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-profile", &iam.InstanceProfileArgs{Role: role.Name}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server instance profile: %w", err)
	}

	// Network access.
	sg, err := ec2.NewSecurityGroup(ctx, name+"-sg", &ec2.SecurityGroupArgs{
		VpcId:       pulumi.String(args.VpcID),
		Description: pulumi.String("MLflow tracking server " + name),
		Tags:        pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server security group: %w", err)
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-egress", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: sg.ID(),
		Description:     pulumi.String("HTTPS to PyPI, SSM and S3; PostgreSQL to RDS"),
		IpProtocol:      pulumi.String("-1"),
		CidrIpv4:        pulumi.String("0.0.0.0/0"),
	}, parent); err != nil {
		return nil, fmt.Errorf("tracking server egress rule: %w", err)
	}
	ingress := func(suffix, cidr string, port int, what string) error {
		ruleArgs := &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: sg.ID(),
			Description:     pulumi.String(what),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(port),
			ToPort:          pulumi.Int(port),
		}
		if strings.Contains(cidr, ":") {
			ruleArgs.CidrIpv6 = pulumi.String(cidr)
		} else {
			ruleArgs.CidrIpv4 = pulumi.String(cidr)
		}
		// URNs reserve "::", so the CIDR's punctuation becomes hyphens in the logical name.
		_, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-"+cidrName.ReplaceAllString(suffix, "-"), ruleArgs, parent)
		return err
	}
	for _, cidr := range args.AllowedCidrs {
		if err := ingress("mlflow-"+cidr, cidr, TrackingPort, "MLflow from "+cidr); err != nil {
			return nil, fmt.Errorf("tracking server ingress from %s: %w", cidr, err)
		}
	}
	if args.SSHKeyName != "" {
		for _, cidr := range args.SSHCidrs {
			if err := ingress("ssh-"+cidr, cidr, 22, "SSH from "+cidr); err != nil {
				return nil, fmt.Errorf("tracking server SSH ingress from %s: %w", cidr, err)
			}
		}
	}
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-to-backend-store", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId:           args.BackendStoreSecurityGroupID,
		Description:               pulumi.String("PostgreSQL from the MLflow tracking server"),
		IpProtocol:                pulumi.String("tcp"),
		FromPort:                  pulumi.Int(PostgresPort),
		ToPort:                    pulumi.Int(PostgresPort),
		ReferencedSecurityGroupId: sg.ID(),
	}, parent); err != nil {
		return nil, fmt.Errorf("backend store ingress from the tracking server: %w", err)
	}

	eip, err := ec2.NewEip(ctx, name+"-eip", &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server Elastic IP: %w", err)
	}

	amiID := args.AmiID
	if amiID == "" {
		ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: AMIParameterName(Architecture(args.InstanceType))})
		if err != nil {
			return nil, fmt.Errorf("look up the Amazon Linux 2023 AMI: %w", err)
		}
		amiID = ami.Value
	}

	// The rendered #cloud-config, gzipped and base64-encoded for EC2 (userdata.EncodeForEC2).
	userData := pulumi.All(args.BackendStoreHost, args.BackendStorePort, args.PasswordParameterName,
		args.ArtifactsURI, eip.PublicIp, eip.PublicDns).ApplyT(func(v []any) (string, error) {
		doc, err := userdata.Render(userdata.Params{
			MLflowVersion:         args.MLflowVersion,
			Region:                args.Region,
			BackendStoreHost:      v[0].(string),
			BackendStorePort:      v[1].(int),
			DatabaseName:          DatabaseName,
			DatabaseUser:          DatabaseUser,
			PasswordParameterName: v[2].(string),
			ArtifactAccess:        args.ArtifactAccess,
			ArtifactsURI:          v[3].(string),
			AllowedHosts: append(AllowedHosts(TrackingPort, "localhost", "127.0.0.1", v[4].(string), v[5].(string)),
				args.AllowedHosts...),
			Workers: args.Workers,
			Port:    TrackingPort,
		})
		if err != nil {
			return "", err
		}
		return userdata.EncodeForEC2(doc)
	}).(pulumi.StringOutput)

	instanceArgs := &ec2.InstanceArgs{
		Ami:                 pulumi.String(amiID),
		InstanceType:        pulumi.String(args.InstanceType),
		SubnetId:            pulumi.String(args.SubnetID),
		VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		IamInstanceProfile:  profile.Name,
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
		UserDataBase64:          userData,
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags:                    pulumi.StringMap{"Name": pulumi.String(name)},
	}
	if args.SSHKeyName != "" {
		instanceArgs.KeyName = pulumi.String(args.SSHKeyName)
	}
	// The policies go first so the launch can read the password and write artifacts at boot.
	instance, err := ec2.NewInstance(ctx, name, instanceArgs, parent,
		pulumi.DependsOn([]pulumi.Resource{rolePolicy, ssmCore, lockObject}))
	if err != nil {
		return nil, fmt.Errorf("tracking server instance: %w", err)
	}
	if _, err := ec2.NewEipAssociation(ctx, name+"-eip-association", &ec2.EipAssociationArgs{
		AllocationId: eip.AllocationId,
		InstanceId:   instance.ID(),
	}, parent); err != nil {
		return nil, fmt.Errorf("tracking server Elastic IP association: %w", err)
	}

	t.InstanceID = instance.ID().ToStringOutput()
	t.PublicIP = eip.PublicIp
	t.PublicDNS = eip.PublicDns
	t.SecurityGroupID = sg.ID().ToStringOutput()
	t.RoleName = role.Name
	switch {
	case len(args.AllowedCidrs) == 0:
		t.TrackingURI = pulumi.Sprintf("http://localhost:%d", TrackingPort)
	case config.AllPrivate(args.AllowedCidrs):
		// The launcher adds the private IP (from IMDSv2) to MLflow's allowed hosts.
		t.TrackingURI = pulumi.Sprintf("http://%s:%d", instance.PrivateIp, TrackingPort)
	default:
		t.TrackingURI = pulumi.Sprintf("http://%s:%d", eip.PublicIp, TrackingPort)
	}
	t.PortForwardCommand = t.InstanceID.ApplyT(func(id string) string {
		return PortForwardCommand(id, args.Region, TrackingPort)
	}).(pulumi.StringOutput)
	if err := ctx.RegisterResourceOutputs(t, pulumi.Map{
		"instanceId":         t.InstanceID,
		"publicIp":           t.PublicIP,
		"publicDns":          t.PublicDNS,
		"securityGroupId":    t.SecurityGroupID,
		"roleName":           t.RoleName,
		"trackingUri":        t.TrackingURI,
		"portForwardCommand": t.PortForwardCommand,
	}); err != nil {
		return nil, err
	}
	return t, nil
}
