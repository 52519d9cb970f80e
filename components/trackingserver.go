package components

import (
	"fmt"
	"slices"

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
	// SubnetID is the single server's subnet (its network interface's); it must route to an
	// internet gateway.
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
	// AllowedCidrs are the IPv4 blocks that may reach TrackingPort (with FrontDoor: the load
	// balancer's 443 and 80 instead); empty opens nothing.
	AllowedCidrs []string
	// ClientsUsePrivateIP says every allowed block is private (a VPN or peering): the tracking
	// URI then uses the server's fixed private IP instead of the Elastic IP, and a FrontDoor's
	// load balancer is internal.
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
	// DBInstanceArn is the backend store's RDS DB instance ARN (DBInstanceArn): the role may
	// snapshot it before a schema migration (TrackingServerSnapshotStatements); required.
	DBInstanceArn string
	// PermissionsBoundaryArn is the boundary policy set on the role (BoundaryPolicyArn); required.
	PermissionsBoundaryArn string

	// Auth are the launch's authentication settings (userdata.Params.Auth); nil runs MLflow
	// without authentication.
	Auth *userdata.AuthParams
	// AuthParameterPathArn and SecretKeyParameterArn are ServerAuth's ParameterPathArn and
	// SecretKeyParameterArn, which the role may read; set exactly when Auth is.
	AuthParameterPathArn  pulumi.StringInput
	SecretKeyParameterArn pulumi.StringInput

	// ProtectData turns on the load balancer's deletion protection and, with AmiID "", keeps
	// the AMI recorded in the state (keepsAMI).
	ProtectData bool
	// DetailedMonitoring turns on EC2 detailed monitoring (1-minute metrics) of the servers.
	DetailedMonitoring bool
	// FrontDoor puts the servers behind an HTTPS load balancer as an Auto Scaling group; nil
	// runs one instance behind its Elastic IP.
	FrontDoor *FrontDoorArgs
	// Monitoring configures the CloudWatch agent in the user data (userdata.Params.Monitoring);
	// nil runs none. With it the role may write to the log group LogGroupArn (LogGroupArn of
	// Monitoring.LogGroupName) and put metrics in Monitoring.MetricsNamespace
	// (CloudWatchAgentStatements).
	Monitoring  *userdata.MonitoringParams
	LogGroupArn string
	// ArtifactSpoolGiB is the size of the spool volume for proxied artifact transfers
	// (SpoolEbsBlockDevices, SpoolLaunchTemplateBlockDeviceMappings; userdata.Params.SpoolVolume
	// when > 0); 0 = none.
	ArtifactSpoolGiB int
	// GCOlderThan is the period of the daily `mlflow gc` (userdata.Params.GCOlderThan), e.g.
	// "30d"; "" = no gc.
	GCOlderThan string
}

// FrontDoorArgs configure the load balancer and the Auto Scaling group (config.FrontDoor).
type FrontDoorArgs struct {
	// DomainName is the name clients use, e.g. "mlflow.example.com"; the tracking URI is
	// https://<DomainName>.
	DomainName string
	// HostedZoneID is the public Route 53 zone holding DomainName.
	HostedZoneID string
	// AccessLogs writes access logs to a bucket named from LogsBucketPrefix.
	AccessLogs       bool
	LogsBucketPrefix string
	// LoadBalancerSubnetIDs are the load balancer's subnets: at least two Availability Zones, at
	// most one subnet per zone (Network.SubnetIDs).
	LoadBalancerSubnetIDs []string
	// ServerSubnetIDs are the group's subnets (Network.ServerSubnetIDs), at least two.
	ServerSubnetIDs []string
	// MinServers and MaxServers bound the group (1 <= MinServers <= MaxServers).
	MinServers, MaxServers int
}

// TrackingServer runs `mlflow server` (MLflow self-hosting guide) on EC2, built from three
// parts: access (serveraccess.go: an IAM role with least privilege and instance profile, the
// security groups), compute (servercompute.go: Amazon Linux 2023 servers with IMDSv2 required,
// encrypted gp3 volumes, user data rendered by package userdata and the venv's hashed dependency
// lock as an object of the artifact bucket) and the front door (frontdoor.go). Two modes:
//   - FrontDoor nil: one instance on a fixed network interface with an Elastic IP, port 5000
//     open to AllowedCidrs; the tracking URI is http://<address>:5000 (see trackingURI);
//   - FrontDoor set: an HTTPS Application Load Balancer with an ACM certificate and a Route 53
//     alias in front of an Auto Scaling group from a launch template; nothing but the load
//     balancer reaches port 5000; the tracking URI is https://<DomainName>.
type TrackingServer struct {
	pulumi.ResourceState

	InstanceID      pulumi.StringOutput `pulumi:"instanceId"`
	PublicIP        pulumi.StringOutput `pulumi:"publicIp"` // the Elastic IP
	PublicDNS       pulumi.StringOutput `pulumi:"publicDns"`
	SecurityGroupID pulumi.StringOutput `pulumi:"securityGroupId"`
	RoleName        pulumi.StringOutput `pulumi:"roleName"`
	// TrackingURI is what clients pass to mlflow.set_tracking_uri (see trackingURI).
	TrackingURI pulumi.StringOutput `pulumi:"trackingUri"`
	// PortForwardCommand is the `aws ssm start-session` command forwarding a server's port
	// 5000 to localhost:5000.
	PortForwardCommand pulumi.StringOutput `pulumi:"portForwardCommand"`
	// PrivateIP is the single server's fixed private address (its network interface's); "" with
	// a front door.
	PrivateIP pulumi.StringOutput `pulumi:"privateIp"`
	// AutoScalingGroupName, LoadBalancerArnSuffix, TargetGroupArnSuffix (the CloudWatch
	// dimensions AutoScalingGroupName, LoadBalancer and TargetGroup) and LoadBalancerDNSName are
	// the front door's; "" without one.
	AutoScalingGroupName  pulumi.StringOutput `pulumi:"autoScalingGroupName"`
	LoadBalancerArnSuffix pulumi.StringOutput `pulumi:"loadBalancerArnSuffix"`
	TargetGroupArnSuffix  pulumi.StringOutput `pulumi:"targetGroupArnSuffix"`
	LoadBalancerDNSName   pulumi.StringOutput `pulumi:"loadBalancerDnsName"`
}

// NewTrackingServer registers the tracking server (type token mlflow:aws:TrackingServer).
func NewTrackingServer(ctx *pulumi.Context, name string, args *TrackingServerArgs, opts ...pulumi.ResourceOption) (*TrackingServer, error) {
	if args == nil {
		return nil, fmt.Errorf("tracking server %q: args are required", name)
	}
	if args.PermissionsBoundaryArn == "" {
		return nil, fmt.Errorf("tracking server %q: a permissions boundary is required (BoundaryPolicyArn)", name)
	}
	if args.DBInstanceArn == "" {
		return nil, fmt.Errorf("tracking server %q: the backend store's DB instance ARN is required (DBInstanceArn)", name)
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
	groups, err := newServerSecurityGroups(ctx, name, args, parent)
	if err != nil {
		return nil, err
	}
	amiID, err := serverAMI(ctx, args)
	if err != nil {
		return nil, err
	}
	// The policies and the bootstrap objects go first: the bootstrap reads the lock, the plugin
	// and the passwords (the role policy waits for every auth parameter: ServerAuth's
	// ParameterPathArn), and writes artifacts, at first boot.
	bootDeps := append(slices.Clone(role.policies), objects.resources...)
	t.SecurityGroupID = groups.server.ID().ToStringOutput()
	t.RoleName = role.role.Name
	none := pulumi.String("").ToStringOutput()
	if args.FrontDoor == nil {
		err = t.singleServer(ctx, name, args, role, groups, amiID, bootDeps, parent)
	} else {
		t.InstanceID, t.PublicIP, t.PublicDNS, t.PrivateIP = none, none, none, none
		err = t.serverGroup(ctx, name, args, role, groups, amiID, bootDeps, parent)
	}
	if err != nil {
		return nil, err
	}
	if err := registerOutputs(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// singleServer registers one instance on a fixed network interface with the Elastic IP
// (frontdoor.go, servercompute.go) and sets the outputs of that mode.
func (t *TrackingServer) singleServer(ctx *pulumi.Context, name string, args *TrackingServerArgs, role *instanceRole,
	groups *serverGroups, amiID string, bootDeps []pulumi.Resource, parent pulumi.ResourceOption) error {
	eip, err := newAddress(ctx, name, parent)
	if err != nil {
		return err
	}
	eni, err := newServerInterface(ctx, name, args, groups.server, parent)
	if err != nil {
		return err
	}
	assoc, err := associateAddress(ctx, name, eip, eni, parent)
	if err != nil {
		return err
	}
	// The address is the interface's before the first boot: the bootstrap reaches PyPI through it.
	doc := launchDocument(args, eip.PublicIp, eip.PublicDns)
	instance, err := newServerInstance(ctx, name, args, role, eni, doc, amiID, append(bootDeps, assoc), parent)
	if err != nil {
		return err
	}
	t.InstanceID = instance.ID().ToStringOutput()
	t.PublicIP = eip.PublicIp
	t.PublicDNS = eip.PublicDns
	t.PrivateIP = eni.PrivateIp
	open := len(args.AllowedCidrs) > 0
	switch {
	case !open:
		// Known at preview time: no address is involved.
		t.TrackingURI = pulumi.String(trackingURI(false, false, "", "")).ToStringOutput()
	case args.ClientsUsePrivateIP:
		// The interface's address, not the instance's: it survives a replacement.
		t.TrackingURI = eni.PrivateIp.ApplyT(func(ip string) string { return trackingURI(true, true, "", ip) }).(pulumi.StringOutput)
	default:
		t.TrackingURI = eip.PublicIp.ApplyT(func(ip string) string { return trackingURI(true, false, ip, "") }).(pulumi.StringOutput)
	}
	t.PortForwardCommand = t.InstanceID.ApplyT(func(id string) string {
		return PortForwardCommand(id, args.Region, TrackingPort)
	}).(pulumi.StringOutput)
	none := pulumi.String("").ToStringOutput()
	t.AutoScalingGroupName, t.LoadBalancerArnSuffix, t.TargetGroupArnSuffix, t.LoadBalancerDNSName = none, none, none, none
	return nil
}

// serverGroup registers the front door (frontdoor.go) and the Auto Scaling group behind it
// (servercompute.go) and sets the outputs of that mode.
func (t *TrackingServer) serverGroup(ctx *pulumi.Context, name string, args *TrackingServerArgs, role *instanceRole,
	groups *serverGroups, amiID string, bootDeps []pulumi.Resource, parent pulumi.ResourceOption) error {
	fd := args.FrontDoor
	if len(fd.ServerSubnetIDs) < 2 || len(fd.LoadBalancerSubnetIDs) < 2 {
		return fmt.Errorf("tracking server %q: a load balancer and its servers need subnets in at least two Availability Zones (servers %v, load balancer %v)",
			name, fd.ServerSubnetIDs, fd.LoadBalancerSubnetIDs)
	}
	if fd.MinServers < 1 || fd.MaxServers < fd.MinServers {
		return fmt.Errorf("tracking server %q: servers %d to %d is not a range of at least one", name, fd.MinServers, fd.MaxServers)
	}
	front, err := newLoadBalancer(ctx, name, args, groups.loadBalancer, parent)
	if err != nil {
		return err
	}
	doc := launchDocument(args, pulumi.String(""), pulumi.String(""))
	lt, err := newLaunchTemplate(ctx, name, args, role, groups.server, doc, amiID, parent)
	if err != nil {
		return err
	}
	group, err := newServerGroup(ctx, name, args, lt, front.targetGroup.Arn, append(bootDeps, front.listeners...), parent)
	if err != nil {
		return err
	}
	label := pulumi.Sprintf("%s/%s", front.alb.ArnSuffix, front.targetGroup.ArnSuffix)
	if err := newScalingPolicy(ctx, name, args, group, label, parent); err != nil {
		return err
	}
	t.AutoScalingGroupName = group.Name
	t.LoadBalancerArnSuffix = front.alb.ArnSuffix
	t.TargetGroupArnSuffix = front.targetGroup.ArnSuffix
	t.LoadBalancerDNSName = front.alb.DnsName
	t.TrackingURI = pulumi.String(FrontDoorURI(fd.DomainName)).ToStringOutput()
	t.PortForwardCommand = group.Name.ApplyT(func(g string) string {
		return GroupPortForwardCommand(g, args.Region, TrackingPort)
	}).(pulumi.StringOutput)
	return nil
}

// FrontDoorURI is the tracking URI behind a load balancer: "https://<domain>" (TLS terminates at
// the load balancer on 443, so the URI names no port).
func FrontDoorURI(domain string) string { return "https://" + domain }

// GroupPortForwardCommand is PortForwardCommand for the first in-service server of an Auto
// Scaling group, looked up by the AWS CLI when the command runs (servers come and go).
func GroupPortForwardCommand(group, region string, port int) string {
	lookup := fmt.Sprintf("$(aws autoscaling describe-auto-scaling-groups --region %s --auto-scaling-group-names %s --query \"AutoScalingGroups[0].Instances[?LifecycleState=='InService'] | [0].InstanceId\" --output text)",
		region, group)
	return PortForwardCommand(lookup, region, port)
}

// trackingURI is the URI clients use (always http://: nothing terminates TLS in front of
// TrackingPort, and https:// to a plain-HTTP port fails with an SSL EOF error):
//   - no network may reach the port: "http://localhost:5000" through the SSM port forward;
//   - every allowed block is private: "http://<private ip>:5000" (clients on a VPN or peered
//     network; the launcher adds the private IP to MLflow's allowed hosts from IMDSv2), the
//     fixed network interface's address, which a replaced instance keeps;
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
