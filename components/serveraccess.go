package components

import (
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

// SSMManagedInstanceCorePolicy is the AWS managed policy for Session Manager (without the
// partition prefix, see ManagedPolicyArn).
const SSMManagedInstanceCorePolicy = "AmazonSSMManagedInstanceCore"

// ManagedPolicyArn is the ARN of an AWS managed policy in a partition ("aws", "aws-cn", ...).
func ManagedPolicyArn(partition, policy string) string {
	return "arn:" + partition + ":iam::aws:policy/" + policy
}

// instanceRole is the tracking server's IAM role with its policies and instance profile.
type instanceRole struct {
	role    *iam.Role
	profile *iam.InstanceProfile
	// policies must exist before the instance boots (it reads the password, writes artifacts).
	policies []pulumi.Resource
}

// newInstanceRole registers the role EC2 assumes, its least-privilege inline policy
// (TrackingServerPolicy), the Session Manager managed policy and the instance profile (IAM User
// Guide, "Use an IAM role to grant permissions to applications running on Amazon EC2
// instances"), with TrackingServerAuthStatements when args.Auth is set and
// CloudWatchAgentStatements when args.Monitoring is.
func newInstanceRole(ctx *pulumi.Context, name string, args *TrackingServerArgs, objectKeys []string, parent pulumi.ResourceOption) (*instanceRole, error) {
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
	// With authentication the role also reads the MLflow passwords and the Flask secret key.
	authPath, secretKey := pulumi.StringInput(pulumi.String("")), pulumi.StringInput(pulumi.String(""))
	if args.Auth != nil {
		authPath, secretKey = args.AuthParameterPathArn, args.SecretKeyParameterArn
	}
	policy := pulumi.All(args.BucketArn, args.PasswordParameterArn, authPath, secretKey).ApplyT(func(v []any) (string, error) {
		doc, err := TrackingServerPolicy(v[0].(string), mlflowspec.ArtifactsPrefix, objectKeys, v[1].(string))
		if err != nil {
			return "", err
		}
		if args.Auth != nil {
			auth, err := TrackingServerAuthStatements(v[2].(string), v[3].(string))
			if err != nil {
				return "", err
			}
			doc.Statement = append(doc.Statement, auth...)
		}
		snapshot, err := TrackingServerSnapshotStatements(args.DBInstanceArn)
		if err != nil {
			return "", err
		}
		doc.Statement = append(doc.Statement, snapshot...)
		if args.Monitoring != nil {
			agent, err := CloudWatchAgentStatements(args.LogGroupArn, args.Monitoring.MetricsNamespace)
			if err != nil {
				return "", err
			}
			doc.Statement = append(doc.Statement, agent...)
		}
		return doc.JSON()
	}).(pulumi.StringOutput)
	rolePolicy, err := iam.NewRolePolicy(ctx, name+"-policy", &iam.RolePolicyArgs{Role: role.Name, Policy: policy}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server role policy: %w", err)
	}
	ssmCore, err := iam.NewRolePolicyAttachment(ctx, name+"-ssm-core", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: pulumi.String(ManagedPolicyArn(args.Partition, SSMManagedInstanceCorePolicy)),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server SSM policy attachment: %w", err)
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-profile", &iam.InstanceProfileArgs{Role: role.Name}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server instance profile: %w", err)
	}
	return &instanceRole{role: role, profile: profile, policies: []pulumi.Resource{rolePolicy, ssmCore}}, nil
}

var cidrName = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// serverSecurityGroupDescription is constant: EC2 cannot change a security group's description,
// so a description carrying a name would replace the group whenever the name changed.
const serverSecurityGroupDescription = "MLflow tracking server"

// serverGroups are the security groups of the tracking server: the servers' own, and with a
// front door the load balancer's (nil without).
type serverGroups struct {
	server, loadBalancer *ec2.SecurityGroup
}

// loadBalancerSecurityGroupDescription is constant for the reason serverSecurityGroupDescription is.
const loadBalancerSecurityGroupDescription = "MLflow tracking server load balancer"

// newServerSecurityGroups registers the security groups (Amazon VPC User Guide, "Security group
// rules"; Elastic Load Balancing User Guide, "Security groups for your Application Load
// Balancer"):
//   - the servers' group: all egress (PyPI, SSM, S3 over HTTPS; PostgreSQL to RDS), 22 from each
//     SSHCidrs block when a key pair is set, and TrackingPort from each AllowedCidrs block
//     without a front door, or from the load balancer's group only with one;
//   - with a front door, the load balancer's group: 443 and 80 from each AllowedCidrs block, and
//     egress only to TrackingPort of the servers' group (targets and health checks);
//   - on the backend store's group, 5432 from the servers' group.
func newServerSecurityGroups(ctx *pulumi.Context, name string, args *TrackingServerArgs, parent pulumi.ResourceOption) (*serverGroups, error) {
	group := func(logical, tag, description string) (*ec2.SecurityGroup, error) {
		return ec2.NewSecurityGroup(ctx, logical, &ec2.SecurityGroupArgs{
			VpcId:       pulumi.String(args.VpcID),
			Description: pulumi.String(description),
			Tags:        pulumi.StringMap{"Name": pulumi.String(tag)},
		}, parent, pulumi.IgnoreChanges([]string{"description"}))
	}
	sg, err := group(name+"-sg", name, serverSecurityGroupDescription)
	if err != nil {
		return nil, fmt.Errorf("tracking server security group: %w", err)
	}
	groups := &serverGroups{server: sg}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-egress", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: sg.ID(),
		Description:     pulumi.String("HTTPS to PyPI, SSM and S3; PostgreSQL to RDS"),
		IpProtocol:      pulumi.String("-1"),
		CidrIpv4:        pulumi.String("0.0.0.0/0"),
	}, parent); err != nil {
		return nil, fmt.Errorf("tracking server egress rule: %w", err)
	}
	// Configuration accepts IPv4 blocks only (the instance has no IPv6 address).
	ingress := func(group pulumi.IDOutput, suffix, cidr string, port int, what string) error {
		// URNs reserve "::", so the CIDR's punctuation becomes hyphens in the logical name.
		_, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-"+cidrName.ReplaceAllString(suffix, "-"), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: group,
			Description:     pulumi.String(what),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(port),
			ToPort:          pulumi.Int(port),
			CidrIpv4:        pulumi.String(cidr),
		}, parent)
		return err
	}
	if args.FrontDoor == nil {
		for _, cidr := range args.AllowedCidrs {
			if err := ingress(sg.ID(), "mlflow-"+cidr, cidr, TrackingPort, "MLflow from "+cidr); err != nil {
				return nil, fmt.Errorf("tracking server ingress from %s: %w", cidr, err)
			}
		}
	} else {
		lb, err := group(name+"-lb-sg", name+"-lb", loadBalancerSecurityGroupDescription)
		if err != nil {
			return nil, fmt.Errorf("load balancer security group: %w", err)
		}
		groups.loadBalancer = lb
		for _, cidr := range args.AllowedCidrs {
			for _, port := range []int{HTTPSPort, HTTPPort} {
				if err := ingress(lb.ID(), fmt.Sprintf("lb-%d-%s", port, cidr), cidr, port, fmt.Sprintf("HTTP%s from %s", map[int]string{HTTPSPort: "S"}[port], cidr)); err != nil {
					return nil, fmt.Errorf("load balancer ingress %d from %s: %w", port, cidr, err)
				}
			}
		}
		if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-lb-to-servers", &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId:           lb.ID(),
			Description:               pulumi.String("MLflow and its health check on the tracking servers"),
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(TrackingPort),
			ToPort:                    pulumi.Int(TrackingPort),
			ReferencedSecurityGroupId: sg.ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("load balancer egress to the servers: %w", err)
		}
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-from-lb", &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId:           sg.ID(),
			Description:               pulumi.String("MLflow from the load balancer only"),
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(TrackingPort),
			ToPort:                    pulumi.Int(TrackingPort),
			ReferencedSecurityGroupId: lb.ID(),
		}, parent); err != nil {
			return nil, fmt.Errorf("tracking server ingress from the load balancer: %w", err)
		}
	}
	if args.SSHKeyName != "" {
		for _, cidr := range args.SSHCidrs {
			if err := ingress(sg.ID(), "ssh-"+cidr, cidr, 22, "SSH from "+cidr); err != nil {
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
	return groups, nil
}
