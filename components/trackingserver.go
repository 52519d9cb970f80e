package components

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
	"github.com/mlflow-aws/mlflow-aws/userdata"
	"github.com/mlflow-aws/mlflow-aws/userdata/lock"
)

// TrackingPort is the port `mlflow server` listens on.
const TrackingPort = mlflowspec.TrackingPort

// TrackingServerArgs configures a TrackingServer. Values the stack configuration decides are
// plain Go values; values other resources produce (the stores' names and addresses) are
// pulumi Inputs.
type TrackingServerArgs struct {
	// Region is the stack's AWS region, e.g. "us-east-1": the server's AWS_DEFAULT_REGION and
	// the port-forward command's --region.
	Region string
	// Partition is the region's AWS partition, e.g. "aws", for managed-policy ARNs.
	Partition string
	// VpcID is the VPC of the server's security group.
	VpcID string
	// SubnetID is the instance's subnet; it must route to an internet gateway.
	SubnetID string
	// SubnetChosenByProgram marks SubnetID as the program's choice rather than configured: the
	// instance then keeps the subnet recorded in the stack's state (ignoreChanges), so a subnet
	// added to the VPC never moves it.
	SubnetChosenByProgram bool
	// InstanceType is the EC2 instance type, e.g. "t3.micro"; Graviton types run the arm64 AMI.
	InstanceType string
	// AmiID pins the AMI (an Amazon Linux 2023 image); "" looks up the latest for the architecture.
	AmiID string
	// MLflowVersion is the MLflow release installed, e.g. "3.17.2"; it must have a hashed
	// dependency lock in userdata/lock.
	MLflowVersion string
	// ArtifactAccess is how clients reach artifacts (proxied or direct).
	ArtifactAccess mlflowspec.ArtifactAccess
	// Workers is the number of uvicorn workers; 0 sizes it at boot from memory.
	Workers int
	// AllowedCidrs are the IPv4 blocks that may reach TrackingPort; empty opens nothing.
	AllowedCidrs []string
	// ClientsUsePrivateIP says every allowed block is private (a VPN or peering): the tracking
	// URI then uses the instance's private IP instead of the Elastic IP.
	ClientsUsePrivateIP bool
	// AllowedHosts are extra Host header values for MLflow, taken as given ("host[:port]").
	AllowedHosts []string
	// SSHKeyName is the EC2 key pair; "" = no key and no SSH ingress.
	SSHKeyName string
	// SSHCidrs are the IPv4 blocks that may reach port 22 when SSHKeyName is set.
	SSHCidrs []string

	// BucketName is the artifact bucket's name (the venv's lock object goes there).
	BucketName pulumi.StringInput
	// BucketArn is the artifact bucket's ARN (the role's S3 statements).
	BucketArn pulumi.StringInput
	// ArtifactsURI is "s3://<bucket>/artifacts".
	ArtifactsURI pulumi.StringInput
	// BackendStoreHost and BackendStorePort are the RDS endpoint.
	BackendStoreHost pulumi.StringInput
	BackendStorePort pulumi.IntInput
	// BackendStoreSecurityGroupID gets an ingress rule: 5432 from the tracking server's group.
	BackendStoreSecurityGroupID pulumi.StringInput
	// PasswordParameterName and PasswordParameterArn are the SecureString with the DB password.
	PasswordParameterName pulumi.StringInput
	PasswordParameterArn  pulumi.StringInput
	// PermissionsBoundaryArn is the boundary policy set on the role (BoundaryPolicyArn); required.
	PermissionsBoundaryArn string

	// Auth are the launch's authentication settings (userdata.Params.Auth); nil runs MLflow
	// without authentication.
	Auth *userdata.AuthParams
	// AuthParameterPathArn and SecretKeyParameterArn are ServerAuth's ParameterPathArn and
	// SecretKeyParameterArn, which the role may read; set exactly when Auth is.
	AuthParameterPathArn  pulumi.StringInput
	SecretKeyParameterArn pulumi.StringInput

	// Monitoring configures the CloudWatch agent in the user data (userdata.Params.Monitoring);
	// nil runs none. With it the role may write to the log group LogGroupArn (LogGroupArn of
	// Monitoring.LogGroupName) and put metrics in Monitoring.MetricsNamespace
	// (CloudWatchAgentStatements).
	Monitoring  *userdata.MonitoringParams
	LogGroupArn string
	// DetailedMonitoring turns on EC2 detailed monitoring (1-minute metrics) of the instance.
	DetailedMonitoring bool
	// ArtifactSpoolGiB is the size of the spool volume for proxied artifact transfers
	// (SpoolEbsBlockDevices, SpoolLaunchTemplateBlockDeviceMappings; userdata.Params.SpoolVolume
	// when > 0); 0 = none.
	ArtifactSpoolGiB int
	// GCOlderThan is the period of the daily `mlflow gc` (userdata.Params.GCOlderThan), e.g.
	// "30d"; "" = no gc.
	GCOlderThan string
}

// TrackingServer is the EC2 instance running `mlflow server` (MLflow self-hosting guide), built
// from three parts: access (serveraccess.go: an IAM role with least privilege and instance
// profile, a security group with 5000 from AllowedCidrs only and 22 only with a key pair),
// compute (servercompute.go: an Amazon Linux 2023 instance with IMDSv2 required, an encrypted
// gp3 root volume, user data rendered by package userdata and the venv's hashed dependency lock
// as an object of the artifact bucket) and the front door
// (frontdoor.go: an Elastic IP, and the tracking URI clients use).
type TrackingServer struct {
	pulumi.ResourceState

	InstanceID      pulumi.StringOutput `pulumi:"instanceId"`
	PublicIP        pulumi.StringOutput `pulumi:"publicIp"` // the Elastic IP
	PublicDNS       pulumi.StringOutput `pulumi:"publicDns"`
	SecurityGroupID pulumi.StringOutput `pulumi:"securityGroupId"`
	RoleName        pulumi.StringOutput `pulumi:"roleName"`
	// TrackingURI is what clients pass to mlflow.set_tracking_uri (see trackingURI).
	TrackingURI pulumi.StringOutput `pulumi:"trackingUri"`
	// PortForwardCommand is the `aws ssm start-session` command forwarding the instance's port
	// 5000 to localhost:5000.
	PortForwardCommand pulumi.StringOutput `pulumi:"portForwardCommand"`
}

// NewTrackingServer registers the tracking server (type token mlflow:aws:TrackingServer).
func NewTrackingServer(ctx *pulumi.Context, name string, args *TrackingServerArgs, opts ...pulumi.ResourceOption) (*TrackingServer, error) {
	if args == nil {
		return nil, fmt.Errorf("tracking server %q: args are required", name)
	}
	if args.PermissionsBoundaryArn == "" {
		return nil, fmt.Errorf("tracking server %q: a permissions boundary is required (BoundaryPolicyArn)", name)
	}
	if (args.Auth != nil) != (args.AuthParameterPathArn != nil) || (args.Auth != nil) != (args.SecretKeyParameterArn != nil) {
		return nil, fmt.Errorf("tracking server %q: Auth, AuthParameterPathArn and SecretKeyParameterArn are set together (ServerAuth)", name)
	}
	t := &TrackingServer{}
	if err := ctx.RegisterComponentResource("mlflow:aws:TrackingServer", name, t, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(t)

	serverLock, err := lock.For(args.MLflowVersion)
	if err != nil {
		return nil, fmt.Errorf("tracking server: %w", err)
	}
	objects, err := newBootstrapObjects(ctx, name, args, serverLock, parent)
	if err != nil {
		return nil, err
	}
	role, err := newInstanceRole(ctx, name, args, objects.keys, parent)
	if err != nil {
		return nil, err
	}
	sg, err := newServerSecurityGroup(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	eip, err := newAddress(ctx, name, parent)
	if err != nil {
		return nil, err
	}
	instance, err := newServerInstance(ctx, name, args, role, sg, eip, objects, parent)
	if err != nil {
		return nil, err
	}
	if err := associateAddress(ctx, name, eip, instance, parent); err != nil {
		return nil, err
	}

	t.InstanceID = instance.ID().ToStringOutput()
	t.PublicIP = eip.PublicIp
	t.PublicDNS = eip.PublicDns
	t.SecurityGroupID = sg.ID().ToStringOutput()
	t.RoleName = role.role.Name
	open := len(args.AllowedCidrs) > 0
	switch {
	case !open:
		// Known at preview time: no address is involved.
		t.TrackingURI = pulumi.String(trackingURI(false, false, "", "")).ToStringOutput()
	case args.ClientsUsePrivateIP:
		t.TrackingURI = instance.PrivateIp.ApplyT(func(ip string) string { return trackingURI(true, true, "", ip) }).(pulumi.StringOutput)
	default:
		t.TrackingURI = eip.PublicIp.ApplyT(func(ip string) string { return trackingURI(true, false, ip, "") }).(pulumi.StringOutput)
	}
	t.PortForwardCommand = t.InstanceID.ApplyT(func(id string) string {
		return PortForwardCommand(id, args.Region, TrackingPort)
	}).(pulumi.StringOutput)
	if err := registerOutputs(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// trackingURI is the URI clients use (always http://: nothing terminates TLS in front of
// TrackingPort, and https:// to a plain-HTTP port fails with an SSL EOF error):
//   - no network may reach the port: "http://localhost:5000" through the SSM port forward;
//   - every allowed block is private: "http://<private ip>:5000" (clients on a VPN or peered
//     network; the launcher adds the private IP to MLflow's allowed hosts from IMDSv2);
//   - else "http://<elastic ip>:5000".
func trackingURI(open, private bool, publicIP, privateIP string) string {
	host := "localhost"
	switch {
	case open && private:
		host = privateIP
	case open:
		host = publicIP
	}
	return fmt.Sprintf("http://%s:%d", host, TrackingPort)
}

// PortForwardCommand is the AWS CLI command forwarding the instance's port to localhost
// (Session Manager document AWS-StartPortForwardingSession).
func PortForwardCommand(instanceID, region string, port int) string {
	return fmt.Sprintf("aws ssm start-session --region %s --target %s --document-name AWS-StartPortForwardingSession --parameters portNumber=%d,localPortNumber=%d",
		region, instanceID, port, port)
}
