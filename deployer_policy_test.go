package main

// Deployer policy tests: docs/deployer-policy.json and docs/deployer-iam-policy.json (the
// deploy role's two managed policies: AWS resources, and IAM) and
// docs/tracking-server-boundary.json (the permissions boundary of the tracking server's role)
// against the mocked resource graphs of the dev, prod and local stacks.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/components"
)

const (
	boundaryPolicyPath = "docs/tracking-server-boundary.json"
	// deployerPolicies names both deployer policy files in messages about their sum.
	deployerPolicies = deployerPolicyPath + " + " + deployerIAMPolicyPath + " + " + deployerMonitoringPolicyPath
)

// crud lists the IAM actions of the AWS API calls the Pulumi AWS provider (v6, bridging the
// Terraform AWS provider) makes to create, read (refresh, and the read after every create and
// update), update and delete one resource type, from the Terraform provider's resource code
// (internal/service/<service>/<resource>.go). An update lists the calls for the arguments
// this program sets and tags.
type crud struct{ Create, Read, Update, Delete []string }

// deployerActions maps every resource type the program registers to its CRUD actions. A type
// missing here fails TestDeployerPolicyCoversEveryToken; an action dropped from the policy
// fails it too, and an action the policy grants that nothing here needs fails
// TestDeployerPolicyGrantsNothingUnused.
var deployerActions = map[string]crud{
	// aws_s3_bucket: the read fetches every bucket sub-configuration (HeadBucket is
	// s3:ListBucket); tags are put after CreateBucket. Emptying a force-destroy bucket is in
	// forceDestroyActions.
	"aws:s3/bucketV2:BucketV2": {
		Create: []string{"s3:CreateBucket", "s3:PutBucketTagging", "s3:ListBucket"},
		Read: []string{"s3:ListBucket", "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketCORS",
			"s3:GetBucketWebsite", "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration",
			"s3:GetBucketRequestPayment", "s3:GetBucketLogging", "s3:GetLifecycleConfiguration",
			"s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration",
			"s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging"},
		Update: []string{"s3:PutBucketTagging"},
		Delete: []string{"s3:DeleteBucket"},
	},
	// Delete*Configuration/Controls/Block APIs are authorized by the matching s3:Put* action.
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls": {
		Create: []string{"s3:PutBucketOwnershipControls"}, Read: []string{"s3:GetBucketOwnershipControls"},
		Update: []string{"s3:PutBucketOwnershipControls"}, Delete: []string{"s3:PutBucketOwnershipControls"},
	},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
		Create: []string{"s3:PutBucketPublicAccessBlock"}, Read: []string{"s3:GetBucketPublicAccessBlock"},
		Update: []string{"s3:PutBucketPublicAccessBlock"}, Delete: []string{"s3:PutBucketPublicAccessBlock"},
	},
	// Deleting the resource suspends versioning.
	"aws:s3/bucketVersioningV2:BucketVersioningV2": {
		Create: []string{"s3:PutBucketVersioning"}, Read: []string{"s3:GetBucketVersioning"},
		Update: []string{"s3:PutBucketVersioning"}, Delete: []string{"s3:PutBucketVersioning"},
	},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": {
		Create: []string{"s3:PutEncryptionConfiguration"}, Read: []string{"s3:GetEncryptionConfiguration"},
		Update: []string{"s3:PutEncryptionConfiguration"}, Delete: []string{"s3:PutEncryptionConfiguration"},
	},
	"aws:s3/bucketPolicy:BucketPolicy": {
		Create: []string{"s3:PutBucketPolicy"}, Read: []string{"s3:GetBucketPolicy"},
		Update: []string{"s3:PutBucketPolicy"}, Delete: []string{"s3:DeleteBucketPolicy"},
	},
	// aws_s3_object (the server's dependency lock under bootstrap/): PutObject with the
	// default tags needs s3:PutObjectTagging; the read is HeadObject (s3:GetObject) and the tag
	// list; in a versioned bucket the delete removes every version of the key.
	"aws:s3/bucketObjectv2:BucketObjectv2": {
		Create: []string{"s3:PutObject", "s3:PutObjectTagging"},
		Read:   []string{"s3:GetObject", "s3:GetObjectTagging"},
		Update: []string{"s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObjectTagging"},
		Delete: []string{"s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion"},
	},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": {
		Create: []string{"s3:PutLifecycleConfiguration"}, Read: []string{"s3:GetLifecycleConfiguration"},
		Update: []string{"s3:PutLifecycleConfiguration"}, Delete: []string{"s3:PutLifecycleConfiguration"},
	},
	// aws_ssm_parameter: PutParameter with tags; the read adds DescribeParameters (tier,
	// description, data type) and the tag list.
	"aws:ssm/parameter:Parameter": {
		Create: []string{"ssm:PutParameter", "ssm:AddTagsToResource"},
		Read:   []string{"ssm:GetParameter", "ssm:DescribeParameters", "ssm:ListTagsForResource"},
		Update: []string{"ssm:PutParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource"},
		Delete: []string{"ssm:DeleteParameter"},
	},
	// aws_security_group: tagged on create, then the default allow-all egress is revoked;
	// delete first looks for lingering network interfaces.
	"aws:ec2/securityGroup:SecurityGroup": {
		Create: []string{"ec2:CreateSecurityGroup", "ec2:CreateTags", "ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupEgress"},
		Read:   []string{"ec2:DescribeSecurityGroups"},
		Update: []string{"ec2:CreateTags", "ec2:DeleteTags"},
		Delete: []string{"ec2:DescribeNetworkInterfaces", "ec2:DeleteSecurityGroup"},
	},
	// aws_vpc_security_group_{egress,ingress}_rule: Authorize with a security-group-rule tag
	// specification, read by rule ID, ModifySecurityGroupRules, Revoke by rule ID.
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
		Create: []string{"ec2:AuthorizeSecurityGroupEgress", "ec2:CreateTags"},
		Read:   []string{"ec2:DescribeSecurityGroupRules"},
		Update: []string{"ec2:ModifySecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags"},
		Delete: []string{"ec2:RevokeSecurityGroupEgress"},
	},
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
		Create: []string{"ec2:AuthorizeSecurityGroupIngress", "ec2:CreateTags"},
		Read:   []string{"ec2:DescribeSecurityGroupRules"},
		Update: []string{"ec2:ModifySecurityGroupRules", "ec2:CreateTags", "ec2:DeleteTags"},
		Delete: []string{"ec2:RevokeSecurityGroupIngress"},
	},
	"aws:rds/subnetGroup:SubnetGroup": {
		Create: []string{"rds:CreateDBSubnetGroup", "rds:AddTagsToResource"},
		Read:   []string{"rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"},
		Update: []string{"rds:ModifyDBSubnetGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"},
		Delete: []string{"rds:DeleteDBSubnetGroup"},
	},
	// aws_db_parameter_group: parameters are set by ModifyDBParameterGroup after the create;
	// the read lists the user-set parameters; removing one resets it.
	"aws:rds/parameterGroup:ParameterGroup": {
		Create: []string{"rds:CreateDBParameterGroup", "rds:AddTagsToResource", "rds:ModifyDBParameterGroup"},
		Read:   []string{"rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"},
		Update: []string{"rds:ModifyDBParameterGroup", "rds:ResetDBParameterGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"},
		Delete: []string{"rds:DeleteDBParameterGroup"},
	},
	// aws_db_instance: in an account that never used RDS, CreateDBInstance creates the RDS
	// service-linked role with the caller's rights; the final snapshot of a protected stack
	// is taken by DeleteDBInstance and authorized on the snapshot ARN.
	"aws:rds/instance:Instance": {
		Create: []string{"rds:CreateDBInstance", "rds:AddTagsToResource", "rds:DescribeDBInstances", "iam:CreateServiceLinkedRole"},
		Read:   []string{"rds:DescribeDBInstances"}, // tags come with the instance (TagList)
		Update: []string{"rds:ModifyDBInstance", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"},
		Delete: []string{"rds:DeleteDBInstance", "rds:CreateDBSnapshot", "rds:DescribeDBInstances"},
	},
	// aws_iam_role: tags on CreateRole need iam:TagRole; the read lists inline and attached
	// policies (tags come with GetRole); the delete removes the role from its instance
	// profiles and deletes or detaches the policies still listed in its state.
	"aws:iam/role:Role": {
		Create: []string{"iam:CreateRole", "iam:TagRole", "iam:GetRole"},
		Read:   []string{"iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"},
		Update: []string{"iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
			"iam:PutRolePermissionsBoundary", "iam:TagRole", "iam:UntagRole"},
		Delete: []string{"iam:ListInstanceProfilesForRole", "iam:RemoveRoleFromInstanceProfile",
			"iam:ListRolePolicies", "iam:DeleteRolePolicy", "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy", "iam:DeleteRole"},
	},
	"aws:iam/rolePolicy:RolePolicy": {
		Create: []string{"iam:PutRolePolicy"}, Read: []string{"iam:GetRolePolicy"},
		Update: []string{"iam:PutRolePolicy"}, Delete: []string{"iam:DeleteRolePolicy"},
	},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
		Create: []string{"iam:AttachRolePolicy"}, Read: []string{"iam:ListAttachedRolePolicies"},
		Update: nil, Delete: []string{"iam:DetachRolePolicy"}, // every argument forces replacement
	},
	// AddRoleToInstanceProfile passes the role: iam:PassRole.
	"aws:iam/instanceProfile:InstanceProfile": {
		Create: []string{"iam:CreateInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:PassRole", "iam:GetInstanceProfile"},
		Read:   []string{"iam:GetInstanceProfile"},
		Update: []string{"iam:RemoveRoleFromInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:PassRole", "iam:TagInstanceProfile", "iam:UntagInstanceProfile"},
		Delete: []string{"iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"},
	},
	// aws_eip: tagged on AllocateAddress; the read includes the PTR record attribute; the
	// delete disassociates first when still associated.
	"aws:ec2/eip:Eip": {
		Create: []string{"ec2:AllocateAddress", "ec2:CreateTags", "ec2:DescribeAddresses"},
		Read:   []string{"ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"},
		Update: []string{"ec2:CreateTags", "ec2:DeleteTags"},
		Delete: []string{"ec2:DisassociateAddress", "ec2:ReleaseAddress"},
	},
	// aws_instance: the create reads the AMI's root device; the read takes the instance type
	// (burstable credit specification), the launch template tag (DescribeTags), the attributes
	// (API stop/termination, user data, shutdown behaviour) and the block devices; an
	// instance type change stops, modifies and starts the instance.
	"aws:ec2/instance:Instance": {
		Create: []string{"ec2:DescribeImages", "ec2:RunInstances", "ec2:CreateTags", "iam:PassRole", "ec2:DescribeInstances"},
		Read: []string{"ec2:DescribeInstances", "ec2:DescribeInstanceTypes", "ec2:DescribeTags",
			"ec2:DescribeInstanceAttribute", "ec2:DescribeInstanceCreditSpecifications", "ec2:DescribeVolumes"},
		Update: []string{"ec2:ModifyInstanceAttribute", "ec2:ModifyInstanceMetadataOptions", "ec2:StopInstances",
			"ec2:StartInstances", "ec2:CreateTags", "ec2:DeleteTags"},
		Delete: []string{"ec2:TerminateInstances", "ec2:DescribeInstances"},
	},
	// aws_network_interface (the single server's fixed interface): tagged on create; the update
	// sets security groups and description; the delete detaches a lingering attachment.
	"aws:ec2/networkInterface:NetworkInterface": {
		Create: []string{"ec2:CreateNetworkInterface", "ec2:CreateTags", "ec2:DescribeNetworkInterfaces"},
		Read:   []string{"ec2:DescribeNetworkInterfaces"},
		Update: []string{"ec2:ModifyNetworkInterfaceAttribute", "ec2:CreateTags", "ec2:DeleteTags"},
		Delete: []string{"ec2:DetachNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces"},
	},
	"aws:ec2/eipAssociation:EipAssociation": {
		Create: []string{"ec2:AssociateAddress", "ec2:DescribeAddresses"},
		Read:   []string{"ec2:DescribeAddresses"},
		Update: nil, // every argument forces replacement
		Delete: []string{"ec2:DisassociateAddress"},
	},
	// aws_cloudwatch_log_group: CreateLogGroup with tags (logs:TagResource), then the retention;
	// the read lists the group by name prefix and its tags.
	"aws:cloudwatch/logGroup:LogGroup": {
		Create: []string{"logs:CreateLogGroup", "logs:TagResource", "logs:PutRetentionPolicy", "logs:DescribeLogGroups"},
		Read:   []string{"logs:DescribeLogGroups", "logs:ListTagsForResource"},
		Update: []string{"logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource"},
		Delete: []string{"logs:DeleteLogGroup"},
	},
	// aws_sns_topic: CreateTopic with tags and attributes; the read takes every attribute.
	"aws:sns/topic:Topic": {
		Create: []string{"sns:CreateTopic", "sns:TagResource", "sns:SetTopicAttributes", "sns:GetTopicAttributes"},
		Read:   []string{"sns:GetTopicAttributes", "sns:ListTagsForResource"},
		Update: []string{"sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource"},
		Delete: []string{"sns:DeleteTopic"},
	},
	// aws_sns_topic_subscription (with alarmEmail): an email subscription stays pending until
	// its owner confirms it.
	"aws:sns/topicSubscription:TopicSubscription": {
		Create: []string{"sns:Subscribe", "sns:GetSubscriptionAttributes"},
		Read:   []string{"sns:GetSubscriptionAttributes"},
		Update: []string{"sns:SetSubscriptionAttributes"},
		Delete: []string{"sns:Unsubscribe"},
	},
	// aws_cloudwatch_metric_alarm: PutMetricAlarm with tags; the read is DescribeAlarms and the
	// tag list.
	"aws:cloudwatch/metricAlarm:MetricAlarm": {
		Create: []string{"cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:DescribeAlarms"},
		Read:   []string{"cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"},
		Update: []string{"cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"},
		Delete: []string{"cloudwatch:DeleteAlarms"},
	},
	"aws:cloudwatch/dashboard:Dashboard": {
		Create: []string{"cloudwatch:PutDashboard", "cloudwatch:GetDashboard"},
		Read:   []string{"cloudwatch:GetDashboard"},
		Update: []string{"cloudwatch:PutDashboard"},
		Delete: []string{"cloudwatch:DeleteDashboards"},
	},
	"random:index/randomPassword:RandomPassword": {},
	"random:index/randomId:RandomId":             {},

	// The front door (stacks with domainName; granted by docs/deployer-frontdoor-policy.json,
	// TestDeployerFrontDoorPolicy). aws_launch_template: tagged on create, each change a new
	// version made the default.
	"aws:ec2/launchTemplate:LaunchTemplate": {
		Create: []string{"ec2:CreateLaunchTemplate", "ec2:CreateTags", "ec2:DescribeLaunchTemplates"},
		Read:   []string{"ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"},
		Update: []string{"ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:CreateTags", "ec2:DeleteTags"},
		Delete: []string{"ec2:DeleteLaunchTemplate"},
	},
	// aws_autoscaling_group: the create launches from the template (the caller's
	// ec2:RunInstances and iam:PassRole are checked) and waits for healthy targets; the update
	// starts an instance refresh; the delete scales to zero and waits.
	"aws:autoscaling/group:Group": {
		Create: []string{"autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags", "autoscaling:EnableMetricsCollection",
			"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities", "elasticloadbalancing:DescribeTargetHealth",
			"ec2:RunInstances", "iam:PassRole", "iam:CreateServiceLinkedRole"},
		Read: []string{"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeTrafficSources", "autoscaling:DescribeWarmPool",
			"autoscaling:DescribeInstanceRefreshes"},
		Update: []string{"autoscaling:UpdateAutoScalingGroup", "autoscaling:StartInstanceRefresh", "autoscaling:CancelInstanceRefresh",
			"autoscaling:DescribeInstanceRefreshes", "autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags",
			"autoscaling:AttachTrafficSources", "autoscaling:DetachTrafficSources", "autoscaling:EnableMetricsCollection",
			"autoscaling:DisableMetricsCollection", "elasticloadbalancing:DescribeTargetHealth"},
		Delete: []string{"autoscaling:UpdateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup", "autoscaling:DescribeAutoScalingGroups",
			"autoscaling:DescribeScalingActivities"},
	},
	"aws:autoscaling/policy:Policy": {
		Create: []string{"autoscaling:PutScalingPolicy"}, Read: []string{"autoscaling:DescribePolicies"},
		Update: []string{"autoscaling:PutScalingPolicy"}, Delete: []string{"autoscaling:DeletePolicy"},
	},
	// aws_lb: the first load balancer of an account creates the ELB service-linked role.
	"aws:lb/loadBalancer:LoadBalancer": {
		Create: []string{"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:AddTags", "elasticloadbalancing:ModifyLoadBalancerAttributes",
			"elasticloadbalancing:DescribeLoadBalancers", "iam:CreateServiceLinkedRole"},
		Read: []string{"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:DescribeTags"},
		Update: []string{"elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
			"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"},
		Delete: []string{"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DescribeLoadBalancers"},
	},
	"aws:lb/targetGroup:TargetGroup": {
		Create: []string{"elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags", "elasticloadbalancing:ModifyTargetGroupAttributes"},
		Read:   []string{"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTags"},
		Update: []string{"elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:AddTags",
			"elasticloadbalancing:RemoveTags"},
		Delete: []string{"elasticloadbalancing:DeleteTargetGroup"},
	},
	"aws:lb/listener:Listener": {
		Create: []string{"elasticloadbalancing:CreateListener", "elasticloadbalancing:AddTags"},
		Read:   []string{"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerAttributes", "elasticloadbalancing:DescribeTags"},
		Update: []string{"elasticloadbalancing:ModifyListener", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"},
		Delete: []string{"elasticloadbalancing:DeleteListener"},
	},
	"aws:acm/certificate:Certificate": {
		Create: []string{"acm:RequestCertificate", "acm:AddTagsToCertificate", "acm:DescribeCertificate"},
		Read:   []string{"acm:DescribeCertificate", "acm:ListTagsForCertificate"},
		Update: []string{"acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"},
		Delete: []string{"acm:DeleteCertificate"},
	},
	// aws_acm_certificate_validation waits until the certificate is issued; its delete only
	// forgets it (no API call), listed as the read it is.
	"aws:acm/certificateValidation:CertificateValidation": {
		Create: []string{"acm:DescribeCertificate"}, Read: []string{"acm:DescribeCertificate"}, Delete: []string{"acm:DescribeCertificate"},
	},
	"aws:route53/record:Record": {
		Create: []string{"route53:GetHostedZone", "route53:ChangeResourceRecordSets", "route53:GetChange", "route53:ListResourceRecordSets"},
		Read:   []string{"route53:ListResourceRecordSets"},
		Update: []string{"route53:ChangeResourceRecordSets", "route53:GetChange"},
		Delete: []string{"route53:ChangeResourceRecordSets", "route53:GetChange", "route53:ListResourceRecordSets"},
	},
}

// deployerInvokes maps every data source the program calls to its IAM actions.
var deployerInvokes = map[string][]string{
	// aws_vpc: DescribeVpcs, three DescribeVpcAttribute calls (DNS support, DNS hostnames,
	// address usage metrics) and the main route table (a denial there is only logged).
	"aws:ec2/getVpc:getVpc":                                     {"ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeRouteTables"},
	"aws:ec2/getSubnets:getSubnets":                             {"ec2:DescribeSubnets"},
	"aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": {"ec2:DescribeInstanceTypeOfferings"},
	"aws:ssm/getParameter:getParameter":                         {"ssm:GetParameter"},
	"aws:ssm/getParametersByPath:getParametersByPath":           {"ssm:GetParametersByPath"},
	// aws_route53_zone by id: GetHostedZone, then the zone's tags.
	"aws:route53/getZone:getZone":                   {"route53:GetHostedZone", "route53:ListTagsForResource"},
	"aws:index/getCallerIdentity:getCallerIdentity": {"sts:GetCallerIdentity"},
}

// deployerFrontDoorPolicyPath is the third deployer policy, for stacks with domainName.
const deployerFrontDoorPolicyPath = "docs/deployer-frontdoor-policy.json"

// localInvokes are data sources answered inside the provider, with no AWS call:
// aws_elb_service_account is a table of the Elastic Load Balancing accounts per Region.
var localInvokes = []string{"aws:elb/getServiceAccount:getServiceAccount"}

// forceDestroyActions empty a bucket with forceDestroy (protectData false) before
// DeleteBucket; the policy may grant them only on such stacks' buckets.
var forceDestroyActions = []string{"s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion"}

func (c crud) all() []string {
	return slices.Concat(c.Create, c.Read, c.Update, c.Delete)
}

// iamPolicy is the subset of an IAM policy document the tests read.
type iamPolicy struct {
	Version   string         `json:"Version"`
	Statement []iamStatement `json:"Statement"`
}

type iamStatement struct {
	Sid       string                    `json:"Sid"`
	Effect    string                    `json:"Effect"`
	Action    []string                  `json:"Action"`
	NotAction []string                  `json:"NotAction"`
	Resource  []string                  `json:"Resource"`
	Condition map[string]map[string]any `json:"Condition"`
}

// condition returns a condition's values (a string or a list of strings) as a list.
func (s iamStatement) condition(operator, key string) []string {
	switch v := s.Condition[operator][key].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

func (s iamStatement) grants(action string) bool {
	return slices.ContainsFunc(s.Action, func(a string) bool { return iamGlob(a, action, true) })
}

func loadPolicy(t *testing.T, path string) iamPolicy {
	t.Helper()
	var p iamPolicy
	decodePolicyFile(t, path, &p, func() (string, int) { return p.Version, len(p.Statement) })
	return p
}

// decodePolicyFile decodes the IAM policy document at path into v, refusing unknown fields, and
// fails unless shape (called after decoding) reports version 2012-10-17 and some statements.
func decodePolicyFile(t *testing.T, path string, v any, shape func() (version string, statements int)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if version, n := shape(); version != "2012-10-17" || n == 0 {
		t.Fatalf("%s: version %q with %d statements", path, version, n)
	}
}

// loadDeployerPolicy returns the deploy role's three policies as one: IAM evaluates the
// statements of all policies attached to a role together.
func loadDeployerPolicy(t *testing.T) iamPolicy {
	p := loadPolicy(t, deployerPolicyPath)
	p.Statement = append(p.Statement, loadPolicy(t, deployerIAMPolicyPath).Statement...)
	p.Statement = append(p.Statement, loadPolicy(t, deployerMonitoringPolicyPath).Statement...)
	return p
}

// TestDeployerPoliciesSplitByService: every IAM action is in docs/deployer-iam-policy.json and
// only there, so the IAM rights can be reviewed on one page.
func TestDeployerPoliciesSplitByService(t *testing.T) {
	for path, wantIAM := range map[string]bool{deployerPolicyPath: false, deployerIAMPolicyPath: true, deployerMonitoringPolicyPath: false} {
		for _, s := range loadPolicy(t, path).Statement {
			for _, a := range s.Action {
				if isIAM := strings.HasPrefix(strings.ToLower(a), "iam:"); isIAM != wantIAM {
					t.Errorf("%s: statement %q has %s; IAM actions belong in %s, all others in %s", path, s.Sid, a, deployerIAMPolicyPath, deployerPolicyPath)
				}
			}
		}
	}
}

// iamGlob reports whether s matches an IAM pattern with * and ? wildcards.
func iamGlob(pattern, s string, foldCase bool) bool {
	var re strings.Builder
	re.WriteString("^")
	if foldCase {
		re.WriteString("(?i)")
	}
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(s)
}

// allows reports whether the policy grants action on resource: an Allow statement matches
// (its conditions ignored) and no unconditional Deny statement matches. Resource "" matches
// any statement resource.
func (p iamPolicy) allows(action, resource string) bool {
	matches := func(s iamStatement) bool {
		return s.grants(action) && (resource == "" || slices.ContainsFunc(s.Resource, func(r string) bool { return iamGlob(r, resource, false) }))
	}
	allowed := false
	for _, s := range p.Statement {
		switch {
		case s.Effect == "Deny" && len(s.Condition) == 0 && resource != "" && matches(s):
			return false
		case s.Effect == "Allow" && matches(s):
			allowed = true
		}
	}
	return allowed
}

// deliveryGraph runs a stack's real config under the mocks, failing the test on error.
func deliveryGraph(t *testing.T, stack string) *graph {
	t.Helper()
	g := runStack(t, stack, stackConfig(t, stack))
	if g.err != nil {
		t.Fatalf("%s: deploy failed under mocks: %v", stack, g.err)
	}
	return g
}

// graphTokens returns the custom resource type tokens and the invoke tokens of a graph.
func graphTokens(g *graph) (resources, invokes []string) {
	for _, r := range g.resources {
		if r.Custom && !strings.HasPrefix(r.Type, "pulumi:") && !slices.Contains(resources, r.Type) {
			resources = append(resources, r.Type)
		}
	}
	for _, call := range g.invokes {
		tok, _, _ := strings.Cut(call, " ")
		if !slices.Contains(invokes, tok) {
			invokes = append(invokes, tok)
		}
	}
	return resources, invokes
}

// TestDeployerPolicyCoversEveryToken: every resource type of the dev, prod and local graphs
// has create, read, update and delete actions in deployerActions, every invoke has its
// actions in deployerInvokes, and the policy allows each of them.
func TestDeployerPolicyCoversEveryToken(t *testing.T) {
	policy := loadDeployerPolicy(t)
	for _, stack := range deliveryStacks {
		g := deliveryGraph(t, stack)
		resources, invokes := graphTokens(g)
		if len(resources) < 15 || len(invokes) < 4 {
			t.Fatalf("%s: only %d resource types and %d invokes recorded", stack, len(resources), len(invokes))
		}
		for _, tok := range resources {
			c, ok := deployerActions[tok]
			if !ok {
				t.Errorf("%s: resource type %s is not in deployerActions: add the IAM actions of its create, read, update and delete, and grant them in %s", stack, tok, deployerPolicies)
				continue
			}
			if strings.HasPrefix(tok, "aws:") && (len(c.Create) == 0 || len(c.Read) == 0 || len(c.Delete) == 0) {
				t.Errorf("%s: AWS resource type %s lacks create, read or delete actions: %+v", stack, tok, c)
			}
			for phase, actions := range map[string][]string{"create": c.Create, "read": c.Read, "update": c.Update, "delete": c.Delete} {
				for _, a := range actions {
					if !policy.allows(a, "") {
						t.Errorf("%s: the %s of %s calls %s, which %s does not allow", stack, phase, tok, a, deployerPolicies)
					}
				}
			}
		}
		for _, tok := range invokes {
			actions, ok := deployerInvokes[tok]
			if !ok || len(actions) == 0 {
				t.Errorf("%s: invoke %s is not in deployerInvokes: add its IAM actions and grant them in %s", stack, tok, deployerPolicies)
			}
			for _, a := range actions {
				if !policy.allows(a, "") {
					t.Errorf("%s: invoke %s calls %s, which %s does not allow", stack, tok, a, deployerPolicies)
				}
			}
		}
	}
}

// TestDeployerPolicyGrantsNothingUnused: every action an Allow statement grants is called by
// some resource's create, read, update or delete, an invoke, or a force-destroy.
func TestDeployerPolicyGrantsNothingUnused(t *testing.T) {
	used := slices.Clone(forceDestroyActions)
	for _, c := range deployerActions {
		used = append(used, c.all()...)
	}
	for _, actions := range deployerInvokes {
		used = append(used, actions...)
	}
	for _, s := range loadDeployerPolicy(t).Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			if !slices.ContainsFunc(used, func(u string) bool { return iamGlob(a, u, true) }) {
				t.Errorf("statement %q grants %s, which no resource or invoke of the program calls", s.Sid, a)
			}
			if strings.Contains(a, "*") {
				t.Errorf("statement %q: action pattern %s; name each action", s.Sid, a)
			}
		}
	}
}

// roleArn is the ARN IAM gives the tracking server's role (path and auto-name suffix as the
// mocks give them).
func roleArn(r recorded) string {
	return fmt.Sprintf("arn:aws:iam::%s:role%s%s-a1b2c3d", mockAccount, r.str("path"), r.Name)
}

// TestDeployerPolicyScopesTheStacksResources: the policy's resource patterns match the ARNs
// the dev, prod and local graphs actually create (names as the mocks give them), and not
// other names.
func TestDeployerPolicyScopesTheStacksResources(t *testing.T) {
	policy := loadDeployerPolicy(t)
	const account = mockAccount
	for _, stack := range deliveryStacks {
		g := deliveryGraph(t, stack)
		region := stackConfig(t, stack)["aws:region"]
		want := map[string][]string{} // ARN -> actions that must be allowed on it
		add := func(arn string, actions ...string) { want[arn] = append(want[arn], actions...) }
		for _, r := range g.resources {
			switch r.Type {
			case "aws:s3/bucketV2:BucketV2":
				name := r.str("bucket")
				if name == "" {
					name = r.str("bucketPrefix") + "20261130103300000000000001"
				}
				add("arn:aws:s3:::"+name, "s3:CreateBucket", "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucket")
			case "aws:s3/bucketObjectv2:BucketObjectv2":
				if r.str("bucket") == "" || r.str("key") == "" {
					t.Errorf("%s: object %s without bucket or key under the mocks", stack, r.Name)
				}
				for _, a := range deployerActions[r.Type].all() {
					if strings.Contains(a, "Object") { // object-level; s3:ListBucketVersions is on the bucket
						add("arn:aws:s3:::"+r.str("bucket")+"/"+r.str("key"), a)
					} else {
						add("arn:aws:s3:::"+r.str("bucket"), a)
					}
				}
			case "aws:ssm/parameter:Parameter":
				add(fmt.Sprintf("arn:aws:ssm:%s:%s:parameter%s", region, account, r.str("name")), "ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter")
			case "aws:rds/instance:Instance":
				add(fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", region, account, r.str("identifier")), "rds:CreateDBInstance", "rds:ModifyDBInstance", "rds:DeleteDBInstance")
				if snap := r.str("finalSnapshotIdentifier"); snap != "" {
					add(fmt.Sprintf("arn:aws:rds:%s:%s:snapshot:%s", region, account, snap), "rds:CreateDBSnapshot")
				}
			case "aws:rds/subnetGroup:SubnetGroup":
				add(fmt.Sprintf("arn:aws:rds:%s:%s:subgrp:%s-a1b2c3d", region, account, r.Name), "rds:CreateDBSubnetGroup", "rds:DeleteDBSubnetGroup")
			case "aws:rds/parameterGroup:ParameterGroup":
				add(fmt.Sprintf("arn:aws:rds:%s:%s:pg:%s-a1b2c3d", region, account, r.Name), "rds:CreateDBParameterGroup", "rds:DeleteDBParameterGroup")
			case "aws:iam/role:Role":
				add(roleArn(r), "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:GetRole", "iam:DeleteRole", "iam:PassRole")
			case "aws:cloudwatch/logGroup:LogGroup":
				add(fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", region, account, r.str("name")), "logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup")
			case "aws:sns/topic:Topic":
				add(fmt.Sprintf("arn:aws:sns:%s:%s:%s-a1b2c3d", region, account, r.Name), "sns:CreateTopic", "sns:GetTopicAttributes", "sns:DeleteTopic")
			case "aws:cloudwatch/metricAlarm:MetricAlarm":
				add(fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s-a1b2c3d", region, account, r.Name), "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms")
			case "aws:cloudwatch/dashboard:Dashboard":
				add(fmt.Sprintf("arn:aws:cloudwatch::%s:dashboard/%s", account, r.str("dashboardName")), "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards")
			case "aws:iam/instanceProfile:InstanceProfile":
				add(fmt.Sprintf("arn:aws:iam::%s:instance-profile/%s-a1b2c3d", account, r.Name), "iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile")
			}
		}
		for _, call := range g.invokes {
			if tok, name, ok := strings.Cut(call, " "); ok && tok == "aws:ssm/getParameter:getParameter" {
				add(fmt.Sprintf("arn:aws:ssm:%s::parameter%s", region, name), "ssm:GetParameter")
			}
		}
		add("arn:aws:iam::"+account+":role/aws-service-role/rds.amazonaws.com/AWSServiceRoleForRDS", "iam:CreateServiceLinkedRole")
		if len(want) < 8 {
			t.Fatalf("%s: only %d ARNs derived from the graph", stack, len(want))
		}
		for arn, actions := range want {
			for _, a := range actions {
				if !policy.allows(a, arn) {
					t.Errorf("%s: %s does not allow %s on %s", stack, deployerPolicies, a, arn)
				}
			}
		}
	}
	// And not beyond the project's names: in particular no IAM write on a role outside the
	// path, whatever its name.
	for _, outside := range []struct{ action, arn string }{
		{"ssm:PutParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/other-app/db-password"},
		{"ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/other-app/db-password"},
		{"rds:DeleteDBInstance", "arn:aws:rds:us-east-1:123456789012:db:billing-prod"},
		{"s3:DeleteBucket", "arn:aws:s3:::company-data-lake"},
		{"s3:DeleteObject", "arn:aws:s3:::company-data-lake/key"},
		{"iam:CreateRole", "arn:aws:iam::123456789012:role/Admin"},
		{"iam:PutRolePolicy", "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"},
		{"iam:PassRole", "arn:aws:iam::123456789012:role/Admin"},
		// Roles named like the project but not on its path (an admin's "mlflow-admin", CI's
		// own deploy role).
		{"iam:PassRole", "arn:aws:iam::123456789012:role/mlflow-admin"},
		{"iam:UpdateAssumeRolePolicy", "arn:aws:iam::123456789012:role/mlflow-admin"},
		{"iam:PutRolePolicy", "arn:aws:iam::123456789012:role/github/mlflow-aws-deploy"},
		{"iam:AttachRolePolicy", "arn:aws:iam::123456789012:role/mlflow-aws-deploy"},
		{"iam:CreateServiceLinkedRole", "arn:aws:iam::123456789012:role/aws-service-role/ec2.amazonaws.com/AWSServiceRoleForEC2"},
		{"logs:DeleteLogGroup", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/billing"},
		{"sns:DeleteTopic", "arn:aws:sns:us-east-1:123456789012:billing-alerts"},
		{"cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing-cpu"},
		{"cloudwatch:DeleteDashboards", "arn:aws:cloudwatch::123456789012:dashboard/billing"},
		{"iam:CreatePolicyVersion", components.BoundaryPolicyArn("aws", "123456789012")},
		{"iam:DeletePolicy", components.BoundaryPolicyArn("aws", "123456789012")},
		{"iam:SetDefaultPolicyVersion", components.BoundaryPolicyArn("aws", "123456789012")},
	} {
		if policy.allows(outside.action, outside.arn) {
			t.Errorf("%s allows %s on %s, outside the project", deployerPolicies, outside.action, outside.arn)
		}
	}
}

// boundaryCondition is the condition value the deployer's role-changing statements require:
// the boundary policy in the deployer's own account.
var boundaryCondition = components.BoundaryPolicyArn("aws", "${aws:PrincipalAccount}")

// roleWriteActions can give a role permissions; each must require the boundary.
var roleWriteActions = []string{
	"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRolePolicy",
	"iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
}

// boundaryProblems returns every way the policy lets the deployer escape the permissions
// boundary: a role-writing action without the iam:PermissionsBoundary condition equal to
// boundaryCondition, any right to remove a boundary, or any right to create or change the
// boundary policy (which an administrator owns).
func boundaryProblems(p iamPolicy) []string {
	var out []string
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range roleWriteActions {
			if s.grants(a) && !slices.Equal(s.condition("StringEquals", "iam:PermissionsBoundary"), []string{boundaryCondition}) {
				out = append(out, fmt.Sprintf("statement %q grants %s without the condition iam:PermissionsBoundary = %s", s.Sid, a, boundaryCondition))
			}
		}
		for _, a := range []string{"iam:DeleteRolePermissionsBoundary", "iam:CreatePolicy", "iam:CreatePolicyVersion",
			"iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AttachUserPolicy",
			"iam:PutUserPolicy", "iam:CreateUser", "iam:CreateAccessKey", "iam:UpdateAccessKey"} {
			if s.grants(a) {
				out = append(out, fmt.Sprintf("statement %q grants %s", s.Sid, a))
			}
		}
		if s.grants("iam:PassRole") && !slices.Equal(s.Resource, []string{"arn:aws:iam::*:role" + components.RolePath + "*"}) {
			out = append(out, fmt.Sprintf("statement %q: iam:PassRole on %v, want only roles on the path %s", s.Sid, s.Resource, components.RolePath))
		}
	}
	return out
}

// TestDeployerPolicyOnlyCreatesBoundedRoles: the policy gives roles permissions only under
// the boundary, and cannot touch the boundary. The check is run on mutated copies of the
// policy too, so it is known to fail when the condition goes missing.
func TestDeployerPolicyOnlyCreatesBoundedRoles(t *testing.T) {
	policy := loadDeployerPolicy(t)
	for _, p := range boundaryProblems(policy) {
		t.Error(p)
	}
	for _, a := range roleWriteActions {
		if !policy.allows(a, "arn:aws:iam::123456789012:role"+components.RolePath+"mlflow-dev-server-role-a1b2c3d") {
			t.Errorf("%s does not allow %s on the tracking server role at all", deployerIAMPolicyPath, a)
		}
	}
	// Explicit denies keep the boundary even if another policy is attached to the deploy role.
	for _, a := range []string{"iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion", "iam:DeleteRolePermissionsBoundary"} {
		denied := slices.ContainsFunc(policy.Statement, func(s iamStatement) bool {
			return s.Effect == "Deny" && len(s.Condition) == 0 && s.grants(a) &&
				slices.ContainsFunc(s.Resource, func(r string) bool {
					return iamGlob(r, components.BoundaryPolicyArn("aws", "123456789012"), false) || r == "*"
				})
		})
		if !denied {
			t.Errorf("%s: no unconditional Deny of %s on the boundary policy", deployerIAMPolicyPath, a)
		}
	}

	mutations := map[string]func(*iamStatement){
		"condition removed": func(s *iamStatement) { s.Condition = nil },
		"other boundary": func(s *iamStatement) {
			s.Condition = map[string]map[string]any{"StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"}}
		},
		"StringLike on any policy": func(s *iamStatement) {
			s.Condition = map[string]map[string]any{"StringLike": {"iam:PermissionsBoundary": "*"}}
		},
	}
	for name, mutate := range mutations {
		for i, s := range policy.Statement {
			if !slices.ContainsFunc(roleWriteActions, s.grants) {
				continue
			}
			mutated := iamPolicy{Version: policy.Version, Statement: slices.Clone(policy.Statement)}
			mutate(&mutated.Statement[i])
			if len(boundaryProblems(mutated)) == 0 {
				t.Errorf("boundaryProblems finds nothing in statement %q with the boundary %s", s.Sid, name)
			}
		}
	}
}

// TestTrackingServerRoleCarriesTheBoundary: under the mocks the role of every stack is on
// the project's IAM path with the boundary the deployer policy requires, in the deploying
// account.
func TestTrackingServerRoleCarriesTheBoundary(t *testing.T) {
	for _, stack := range deliveryStacks {
		g := deliveryGraph(t, stack)
		role := g.one(t, "aws:iam/role:Role")
		if got, want := role.str("permissionsBoundary"), components.BoundaryPolicyArn("aws", mockAccount); got != want {
			t.Errorf("%s: role %s has permissionsBoundary %q, want %q", stack, role.Name, got, want)
		}
		if got := role.str("path"); got != components.RolePath {
			t.Errorf("%s: role %s has path %q, want %q", stack, role.Name, got, components.RolePath)
		}
		if !slices.ContainsFunc(g.invokes, func(c string) bool { return strings.HasPrefix(c, "aws:index/getCallerIdentity") }) {
			t.Errorf("%s: the account of the boundary ARN was not looked up: %v", stack, g.invokes)
		}
	}
	if got := components.BoundaryPolicyArn("aws-cn", "123456789012"); got != "arn:aws-cn:iam::123456789012:policy/mlflow-aws-tracking-server-boundary" {
		t.Errorf("BoundaryPolicyArn in aws-cn = %q", got)
	}
}

// ssmManagedInstanceCore is what the AWS managed policy AmazonSSMManagedInstanceCore grants
// (AWS Managed Policy Reference, version 3), less ssm:GetParameter(s) on "*", which the
// boundary narrows to the project's parameters.
var ssmManagedInstanceCore = []string{
	"ssm:DescribeAssociation", "ssm:GetDeployablePatchSnapshotForInstance", "ssm:GetDocument",
	"ssm:DescribeDocument", "ssm:GetManifest", "ssm:ListAssociations", "ssm:ListInstanceAssociations",
	"ssm:PutInventory", "ssm:PutComplianceItems", "ssm:PutConfigurePackageResult",
	"ssm:UpdateAssociationStatus", "ssm:UpdateInstanceAssociationStatus", "ssm:UpdateInstanceInformation",
	"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
	"ssmmessages:OpenDataChannel", "ec2messages:AcknowledgeMessage", "ec2messages:DeleteMessage",
	"ec2messages:FailMessage", "ec2messages:GetEndpoint", "ec2messages:GetMessages", "ec2messages:SendReply",
}

// TestBoundaryAllowsTheServerAndNothingElse: docs/tracking-server-boundary.json lets through
// every action of the tracking server's inline policy on the dev, prod and local resources
// and Session Manager, and nothing of IAM, STS, EC2 or other data: no "*" action, no
// parameter or bucket outside the project's names.
func TestBoundaryAllowsTheServerAndNothingElse(t *testing.T) {
	boundary := loadPolicy(t, boundaryPolicyPath)
	for _, stack := range deliveryStacks {
		g := deliveryGraph(t, stack)
		inline := g.one(t, "aws:iam/rolePolicy:RolePolicy")
		var doc iamPolicy
		if err := json.Unmarshal([]byte(inline.str("policy")), &doc); err != nil {
			t.Fatalf("%s: role policy: %v", stack, err)
		}
		n := 0
		for _, s := range doc.Statement {
			for _, a := range s.Action {
				for _, r := range s.Resource {
					n++
					if !boundary.allows(a, r) {
						t.Errorf("%s: the boundary blocks %s on %s, which the tracking server needs", stack, a, r)
					}
				}
			}
		}
		if n < 5 {
			t.Fatalf("%s: only %d action/resource pairs in the role policy", stack, n)
		}
	}
	for _, a := range ssmManagedInstanceCore {
		if !boundary.allows(a, "*") {
			t.Errorf("the boundary blocks %s, which Session Manager needs", a)
		}
	}
	for _, denied := range []struct{ action, arn string }{
		{"iam:CreateRole", "arn:aws:iam::123456789012:role/x"},
		{"iam:PassRole", "*"},
		{"sts:AssumeRole", "*"},
		{"ec2:RunInstances", "*"},
		{"s3:GetObject", "arn:aws:s3:::company-data-lake/key"},
		{"s3:ListAllMyBuckets", "*"},
		{"ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/other-app/db-password"},
		{"ssm:GetParameters", "*"},
		{"kms:Decrypt", "*"},
		{"secretsmanager:GetSecretValue", "*"},
	} {
		if boundary.allows(denied.action, denied.arn) {
			t.Errorf("%s allows %s on %s", boundaryPolicyPath, denied.action, denied.arn)
		}
	}
	for _, s := range boundary.Statement {
		if s.Effect != "Allow" || len(s.NotAction) > 0 || len(s.Condition) > 0 {
			t.Errorf("%s: statement %q: want plain Allow statements", boundaryPolicyPath, s.Sid)
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				t.Errorf("%s: statement %q: action pattern %s; name each action", boundaryPolicyPath, s.Sid, a)
			}
		}
	}
}

// TestDeployerPolicyEc2ChangesOnlyTheProjects: EC2 tags are written only on create or on
// resources already tagged project=mlflow-aws; every other EC2 change is scoped by that
// tag, or to security group rules (whose group must carry the tag too) and network
// interfaces; only CreateSecurityGroup and AllocateAddress run unconditioned on "*", and
// RunInstances joins only the project's security groups.
func TestDeployerPolicyEc2ChangesOnlyTheProjects(t *testing.T) {
	createOnly := []string{"ec2:RunInstances", "ec2:CreateSecurityGroup", "ec2:AllocateAddress", "ec2:CreateNetworkInterface"} // RunInstances, CreateNetworkInterface: checked below
	for _, s := range loadDeployerPolicy(t).Statement {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Action {
			if !strings.HasPrefix(a, "ec2:") || strings.HasPrefix(a, "ec2:Describe") || slices.Contains(createOnly, a) {
				continue
			}
			tagged := slices.Equal(s.condition("StringEquals", "aws:ResourceTag/project"), []string{"mlflow-aws"})
			onCreate := len(s.condition("StringEquals", "ec2:CreateAction")) > 0
			switch {
			case a == "ec2:CreateTags" && (tagged || onCreate):
			case tagged:
			case !slices.Contains(s.Resource, "*") && !slices.ContainsFunc(s.Resource, func(r string) bool {
				return !strings.HasPrefix(r, "arn:aws:ec2:*:*:security-group-rule/") && !strings.HasPrefix(r, "arn:aws:ec2:*:*:network-interface/")
			}):
			default:
				t.Errorf("statement %q: %s on %v is not limited to resources tagged project=mlflow-aws", s.Sid, a, s.Resource)
			}
			if onCreate {
				for _, act := range s.condition("StringEquals", "ec2:CreateAction") {
					if !slices.Contains(append(createOnly, "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress"), "ec2:"+act) {
						t.Errorf("statement %q: tags on create by %s, which the program does not call", s.Sid, act)
					}
				}
			}
		}
	}
	// RunInstances: the instance may join only security groups tagged by the project (a
	// foreign group could let it into another application's network); the other resources it
	// touches are named by type.
	policy := loadDeployerPolicy(t)
	const foreignGroup = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0f0f0f0f0f0f0f0f0"
	runs := 0
	for _, s := range policy.Statement {
		if s.Effect != "Allow" || !s.grants("ec2:RunInstances") {
			continue
		}
		runs++
		if slices.ContainsFunc(s.Resource, func(r string) bool { return iamGlob(r, foreignGroup, false) }) &&
			!slices.Equal(s.condition("StringEquals", "aws:ResourceTag/project"), []string{"mlflow-aws"}) {
			t.Errorf("statement %q: ec2:RunInstances on %v lets the instance join any security group", s.Sid, s.Resource)
		}
	}
	for _, arn := range []string{
		"arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0",
		"arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0",
		"arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0123456789abcdef0",
		"arn:aws:ec2:us-east-1:123456789012:subnet/" + mockSubnets[0],
		"arn:aws:ec2:us-east-1::image/" + mockAMI,
		foreignGroup, // allowed by a statement whose tag condition the loop above checked
	} {
		if !policy.allows("ec2:RunInstances", arn) {
			t.Errorf("ec2:RunInstances is not allowed on %s, which the launch touches", arn)
		}
	}
	if runs == 0 {
		t.Error("no statement grants ec2:RunInstances")
	}

	// Every stack file tags everything project=mlflow-aws, which those conditions rely on.
	for _, stack := range deliveryStacks {
		var file struct {
			Config map[string]any `yaml:"config"`
		}
		readYAML(t, "Pulumi."+stack+".yaml", &file)
		tags, _ := file.Config["aws:defaultTags"].(map[string]any)["tags"].(map[string]any)
		if tags["project"] != "mlflow-aws" {
			t.Errorf("Pulumi.%s.yaml: aws:defaultTags.tags.project = %v, want mlflow-aws", stack, tags["project"])
		}
	}
}

// TestDeployerPolicyDeletesObjectsOnlyOfForceDestroyBuckets: the policy can empty a bucket
// on destroy only when the stack's bucket has forceDestroy (dev); prod's data stays out of
// the deployer's reach.
func TestDeployerPolicyDeletesObjectsOnlyOfForceDestroyBuckets(t *testing.T) {
	policy := loadDeployerPolicy(t)
	seen := map[bool]bool{}
	for _, stack := range []string{"dev", "prod"} { // the stacks that reach AWS
		g := deliveryGraph(t, stack)
		b := g.one(t, "aws:s3/bucketV2:BucketV2")
		name := b.str("bucket")
		if name == "" {
			name = b.str("bucketPrefix") + "20261130103300000000000001"
		}
		force, _ := b.boolean("forceDestroy")
		seen[force] = true
		for _, a := range []string{"s3:DeleteObject", "s3:DeleteObjectVersion"} {
			if got := policy.allows(a, "arn:aws:s3:::"+name+"/artifacts/model.pkl"); got != force {
				t.Errorf("%s: %s on bucket %s (forceDestroy %v) allowed = %v, want %v", stack, a, name, force, got, force)
			}
		}
		if !policy.allows("s3:ListBucketVersions", "arn:aws:s3:::"+name) {
			t.Errorf("%s: s3:ListBucketVersions not allowed on %s", stack, name)
		}
	}
	if !seen[true] || !seen[false] {
		t.Errorf("want one force-destroy stack and one protected stack among dev and prod, got %v", seen)
	}
}

// TestDeployerPolicyIsLeastPrivilege: no wildcard-only or service-wide actions, no NotAction,
// every statement names resources, IAM actions never on "*" (but for denies), iam:PassRole
// once, on the role path, only to EC2, the instance role gets no managed policy but Session
// Manager's, and the RDS service-linked role is the only one the deployer may create.
func TestDeployerPolicyIsLeastPrivilege(t *testing.T) {
	policy := loadDeployerPolicy(t)
	serviceWide := regexp.MustCompile(`^[a-z0-9-]+:\*$`)
	passRole := 0
	for _, s := range policy.Statement {
		if (s.Effect != "Allow" && s.Effect != "Deny") || len(s.NotAction) > 0 || len(s.Action) == 0 || len(s.Resource) == 0 {
			t.Errorf("statement %q: want Effect Allow or Deny with Action and Resource and no NotAction", s.Sid)
		}
		if s.Effect == "Deny" {
			continue
		}
		for _, a := range s.Action {
			if a == "*" || serviceWide.MatchString(a) {
				t.Errorf("statement %q: action %q grants a whole service", s.Sid, a)
			}
			if iamGlob(a, "iam:PassRole", true) {
				passRole++
				if !slices.Equal(s.condition("StringEquals", "iam:PassedToService"), []string{"ec2.amazonaws.com"}) {
					t.Errorf("statement %q: iam:PassRole without iam:PassedToService ec2.amazonaws.com", s.Sid)
				}
			}
			if iamGlob(a, "iam:AttachRolePolicy", true) && !slices.Equal(s.condition("ArnEquals", "iam:PolicyARN"), []string{"arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}) {
				t.Errorf("statement %q: iam:AttachRolePolicy not limited to AmazonSSMManagedInstanceCore", s.Sid)
			}
			if iamGlob(a, "iam:CreateServiceLinkedRole", true) && !slices.Equal(s.condition("StringEquals", "iam:AWSServiceName"), []string{"rds.amazonaws.com"}) {
				t.Errorf("statement %q: iam:CreateServiceLinkedRole not limited to rds.amazonaws.com", s.Sid)
			}
			if strings.HasPrefix(strings.ToLower(a), "iam:") && slices.Contains(s.Resource, "*") {
				t.Errorf("statement %q: IAM action %s on every resource", s.Sid, a)
			}
		}
	}
	if passRole != 1 {
		t.Errorf("iam:PassRole appears in %d statements, want exactly 1", passRole)
	}
	if problems := boundaryProblems(policy); len(problems) > 0 {
		t.Errorf("boundary: %v", problems)
	}
}

// maxManagedPolicyChars is IAM's size limit of a customer managed policy, counted without
// whitespace (IAM User Guide, "IAM and AWS STS quotas"); both documents must fit one.
const maxManagedPolicyChars = 6144

// TestPoliciesFitOneManagedPolicy: the deployer's two policies and the boundary can each be
// created as one customer managed policy (`aws iam create-policy` refuses larger documents).
func TestPoliciesFitOneManagedPolicy(t *testing.T) {
	for _, path := range []string{deployerPolicyPath, deployerIAMPolicyPath, deployerMonitoringPolicyPath, deployerFrontDoorPolicyPath, boundaryPolicyPath} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n := len(regexp.MustCompile(`\s`).ReplaceAll(b, nil))
		if n > maxManagedPolicyChars {
			t.Errorf("%s: %d characters without whitespace, IAM's managed policy limit is %d", path, n, maxManagedPolicyChars)
		}
	}
}
