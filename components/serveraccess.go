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

// newServerSecurityGroup registers the server's security group: all egress (PyPI, SSM, S3 over
// HTTPS; PostgreSQL to RDS), TrackingPort from each AllowedCidrs block, 22 from each SSHCidrs
// block when a key pair is set, and on the backend store's group 5432 from this group (Amazon
// VPC User Guide, "Security group rules").
func newServerSecurityGroup(ctx *pulumi.Context, name string, args *TrackingServerArgs, parent pulumi.ResourceOption) (*ec2.SecurityGroup, error) {
	sg, err := ec2.NewSecurityGroup(ctx, name+"-sg", &ec2.SecurityGroupArgs{
		VpcId:       pulumi.String(args.VpcID),
		Description: pulumi.String(serverSecurityGroupDescription),
		Tags:        pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent, pulumi.IgnoreChanges([]string{"description"}))
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
	// Configuration accepts IPv4 blocks only (the instance has no IPv6 address).
	ingress := func(suffix, cidr string, port int, what string) error {
		// URNs reserve "::", so the CIDR's punctuation becomes hyphens in the logical name.
		_, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-"+cidrName.ReplaceAllString(suffix, "-"), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: sg.ID(),
			Description:     pulumi.String(what),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(port),
			ToPort:          pulumi.Int(port),
			CidrIpv4:        pulumi.String(cidr),
		}, parent)
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
	return sg, nil
}
