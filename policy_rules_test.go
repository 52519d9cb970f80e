package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// Policy rules as tests: the rules of widely used AWS policy sets that apply to what
// this program creates, checked over the mocked graph of dev, prod and a config with every
// option changed. Each rule names its sources: the Pulumi AWSGuard policy name
// (pulumi/pulumi-policy-aws), the checkov check id, the CIS AWS Foundations Benchmark control
// or the AWS Foundational Security Best Practices (FSBP) control.
type policyRule struct {
	name   string
	source string
	// check returns "" when the graph passes, else what fails.
	check func(g *graph, cfg map[string]string) string
}

var policyRules = []policyRule{
	{"RDS storage encrypted", "AWSGuard rds-storage-encrypted; checkov CKV_AWS_16; FSBP RDS.3", func(g *graph, _ map[string]string) string {
		return wantBool(g, typeDB, "storageEncrypted", true)
	}},
	{"RDS not publicly accessible", "AWSGuard rds-instance-public-access-check; checkov CKV_AWS_17; FSBP RDS.2", func(g *graph, _ map[string]string) string {
		return wantBool(g, typeDB, "publiclyAccessible", false)
	}},
	{"RDS backups on (prod >= 7 days)", "AWSGuard rds-instance-backup-enabled; checkov CKV_AWS_133; FSBP RDS.11", func(g *graph, cfg map[string]string) string {
		days := g.resourcesOf(typeDB)[0].number("backupRetentionPeriod")
		if days < 1 || (cfg["mlflow-aws:protectData"] == "true" && days < 7) {
			return fmt.Sprintf("backup retention %v days", days)
		}
		return ""
	}},
	{"RDS Multi-AZ in protected stacks", "checkov CKV_AWS_157; FSBP RDS.5", func(g *graph, cfg map[string]string) string {
		if cfg["mlflow-aws:protectData"] == "true" {
			return wantBool(g, typeDB, "multiAz", true)
		}
		return ""
	}},
	{"RDS deletion protection in protected stacks", "checkov CKV_AWS_293; FSBP RDS.8", func(g *graph, cfg map[string]string) string {
		if cfg["mlflow-aws:protectData"] == "true" {
			return wantBool(g, typeDB, "deletionProtection", true)
		}
		return ""
	}},
	{"RDS connections require TLS (rds.force_ssl=1)", "FSBP RDS (encryption in transit); Amazon RDS User Guide, PostgreSQL SSL", func(g *graph, _ map[string]string) string {
		for _, p := range g.resourcesOf(typeParamGroup)[0].input("parameters").ArrayValue() {
			o := p.ObjectValue()
			if o["name"].StringValue() == "rds.force_ssl" && o["value"].StringValue() == "1" {
				return ""
			}
		}
		return "rds.force_ssl is not 1"
	}},
	{"EBS volumes encrypted", "AWSGuard encrypted-volumes; checkov CKV_AWS_8; FSBP EC2.3", func(g *graph, _ map[string]string) string {
		for _, l := range serverLaunches(g) {
			if !l.encrypted {
				return l.name + ": a volume is not encrypted"
			}
		}
		return ""
	}},
	{"EBS data volume for the artifact spool, encrypted", "peer policy pack (no EBS data volume; C8); AWS Config encrypted-volumes; checkov CKV_AWS_8; FSBP EC2.3", spoolVolumeProblem},
	{"IMDSv2 required", "checkov CKV_AWS_79, CKV_AWS_341; FSBP EC2.8, AutoScaling.3", func(g *graph, _ map[string]string) string {
		for _, l := range serverLaunches(g) {
			if l.httpTokens != "required" || l.hops != 1 {
				return fmt.Sprintf("%s: httpTokens = %s, hop limit %v", l.name, l.httpTokens, l.hops)
			}
		}
		return ""
	}},
	{"No secrets in user data", "checkov CKV_AWS_46", func(g *graph, _ map[string]string) string {
		ud := ""
		for _, l := range serverLaunches(g) {
			ud += l.userData
		}
		if strings.Contains(ud, mockPassword) {
			return "user data contains the generated password"
		}
		for _, re := range secretPatterns {
			if m := re.FindString(ud); m != "" {
				return "user data contains a secret-like value: " + m
			}
		}
		return ""
	}},
	{"SSM parameters encrypted (SecureString)", "checkov CKV2_AWS_34", func(g *graph, _ map[string]string) string {
		for _, r := range g.resourcesOf(typeParameter) {
			if r.str("type") != "SecureString" || !r.Inputs["value"].IsSecret() {
				return fmt.Sprintf("parameter %s is %q (secret value: %v)", r.str("name"), r.str("type"), r.Inputs["value"].IsSecret())
			}
		}
		return ""
	}},
	{"No ingress from anywhere unless configured", "CIS AWS Foundations 5.2/5.3; checkov CKV_AWS_24, CKV_AWS_260, CKV_AWS_277; FSBP EC2.18/EC2.19", func(g *graph, cfg map[string]string) string {
		configured := append(list(nil, cfg["mlflow-aws:allowedCidrs"]), list(nil, cfg["mlflow-aws:sshCidrs"])...)
		for _, r := range g.resourcesOf(typeIngress) {
			cidr := r.str("cidrIpv4") + r.str("cidrIpv6")
			if cidr == "" && r.str("referencedSecurityGroupId") != "" {
				continue
			}
			if !slices.Contains(configured, cidr) {
				return fmt.Sprintf("ingress %s from %q is not configured", r.Name, cidr)
			}
		}
		return ""
	}},
	{"S3 public access fully blocked", "AWSGuard s3-bucket-public-read/write-prohibited; checkov CKV_AWS_53..56, CKV2_AWS_6; FSBP S3.8", func(g *graph, _ map[string]string) string {
		for _, k := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if s := wantBool(g, typePublicAccess, k, true); s != "" {
				return s
			}
		}
		return ""
	}},
	{"S3 ACLs disabled (BucketOwnerEnforced)", "FSBP S3.12", func(g *graph, _ map[string]string) string {
		if v := g.resourcesOf(typeOwnership)[0].str("rule.objectOwnership"); v != "BucketOwnerEnforced" {
			return "object ownership " + v
		}
		return ""
	}},
	{"S3 requests require TLS", "AWSGuard/AWS Config s3-bucket-ssl-requests-only; FSBP S3.5", func(g *graph, _ map[string]string) string {
		var policy struct {
			Statement []struct {
				Effect    string
				Resource  []string
				Condition map[string]map[string]string
			}
		}
		if err := json.Unmarshal([]byte(g.resourcesOf(typeBucketPolicy)[0].str("policy")), &policy); err != nil {
			return "bucket policy is not JSON: " + err.Error()
		}
		arn := "arn:aws:s3:::" + g.outputs["artifactBucketName"]
		for _, st := range policy.Statement {
			if st.Effect == "Deny" && st.Condition["Bool"]["aws:SecureTransport"] == "false" &&
				slices.Contains(st.Resource, arn) && slices.Contains(st.Resource, arn+"/*") {
				return ""
			}
		}
		return "bucket policy does not deny requests without TLS on the bucket and its objects"
	}},
	{"S3 default encryption", "AWS Config s3-bucket-server-side-encryption-enabled; checkov CKV_AWS_19", func(g *graph, _ map[string]string) string {
		if n := len(g.byType(typeEncryption)); n == 0 || n != len(g.byType(typeBucket)) {
			return fmt.Sprintf("%d encryption configurations for %d buckets", n, len(g.byType(typeBucket)))
		}
		return ""
	}},
	{"S3 versioning", "AWS Config s3-bucket-versioning-enabled; checkov CKV_AWS_21", func(g *graph, _ map[string]string) string {
		if v := g.resourcesOf(typeVersioning)[0].str("versioningConfiguration.status"); v != "Enabled" {
			return "versioning " + v
		}
		return ""
	}},
	{"S3 aborts incomplete multipart uploads", "checkov CKV_AWS_300", func(g *graph, _ map[string]string) string {
		for _, r := range g.resourcesOf(typeLifecycle)[0].input("rules").ArrayValue() {
			if a := r.ObjectValue()["abortIncompleteMultipartUpload"]; a.IsObject() {
				return ""
			}
		}
		return "no abort rule"
	}},
	{"IAM: no wildcard actions", "checkov CKV_AWS_62/CKV_AWS_63; CIS AWS Foundations 1.16; FSBP IAM.1", func(g *graph, _ map[string]string) string {
		for _, st := range rolePolicyStatements(g) {
			for _, a := range st.Action {
				if a == "*" || strings.HasSuffix(a, ":*") {
					return "action " + a
				}
			}
		}
		return ""
	}},
	{"IAM: no wildcard resource on data-plane actions", "checkov CKV_AWS_355, CKV_AWS_288, CKV_AWS_290", func(g *graph, _ map[string]string) string {
		for _, st := range rolePolicyStatements(g) {
			if st.Effect == "Allow" && slices.Contains(st.Resource, "*") && !unrestrictable(st) {
				return fmt.Sprintf("actions %v on *", st.Action)
			}
		}
		return ""
	}},
	{"Instance uses a role, not long-lived keys", "CIS AWS Foundations 1.18 (IAM instance roles); FSBP EC2.* ", func(g *graph, _ map[string]string) string {
		for _, l := range serverLaunches(g) {
			if l.profile == "" {
				return l.name + ": no instance profile"
			}
			if strings.Contains(l.userData, "aws configure") {
				return l.name + ": user data runs aws configure"
			}
		}
		return ""
	}},
}

// serverLaunch is what the policy rules read of how a server starts: the single instance's
// inputs or the launch template's.
type serverLaunch struct {
	name              string
	encrypted         bool // every EBS volume
	httpTokens        string
	hops              float64
	userData, profile string
	monitoring        bool // EC2 detailed monitoring
}

// serverLaunches returns the launch of every server: the instance, or the launch template
// with a front door (an empty launch when the graph has neither, which fails every rule).
func serverLaunches(g *graph) []serverLaunch {
	var out []serverLaunch
	for _, r := range g.byType(typeInstance) {
		enc, _ := r.boolean("rootBlockDevice.encrypted")
		for _, d := range arrayOf(r.input("ebsBlockDevices")) {
			enc = enc && field(d, "encrypted").IsBool() && field(d, "encrypted").BoolValue()
		}
		mon, _ := r.boolean("monitoring")
		out = append(out, serverLaunch{name: r.Name, encrypted: enc, httpTokens: r.str("metadataOptions.httpTokens"),
			hops: r.number("metadataOptions.httpPutResponseHopLimit"), userData: r.userData(), profile: r.str("iamInstanceProfile"), monitoring: mon})
	}
	for _, r := range g.byType(typeLaunchTmpl) {
		devices := arrayOf(r.input("blockDeviceMappings"))
		enc := len(devices) > 0
		for _, d := range devices {
			enc = enc && strOf(field(field(d, "ebs"), "encrypted")) == "true"
		}
		ud, _ := userdata.DecodeFromEC2(r.str("userData"))
		mon, _ := r.boolean("monitoring.enabled")
		out = append(out, serverLaunch{name: r.Name, encrypted: enc, httpTokens: r.str("metadataOptions.httpTokens"),
			hops: r.number("metadataOptions.httpPutResponseHopLimit"), userData: ud, profile: r.str("iamInstanceProfile.name"), monitoring: mon})
	}
	if len(out) == 0 {
		out = append(out, serverLaunch{name: "no server"})
	}
	return out
}

// frontDoorRules are the load balancer and Auto Scaling rules; each passes a graph without a
// front door (nothing to check) unless it says otherwise.
var frontDoorRules = []policyRule{
	{"ALB HTTPS listener with a TLS 1.2+ (1.3) policy", "checkov CKV_AWS_2, CKV_AWS_103; FSBP ELB.17 (predefined policy)", func(g *graph, _ map[string]string) string {
		for _, l := range g.byType(typeListener) {
			if l.number("port") == 443 && (l.str("protocol") != "HTTPS" || l.str("sslPolicy") != components.TLSPolicy || l.str("certificateArn") == "") {
				return fmt.Sprintf("listener %s: %s %s cert %q", l.Name, l.str("protocol"), l.str("sslPolicy"), l.str("certificateArn"))
			}
		}
		return ""
	}},
	{"ALB HTTP redirects to HTTPS", "checkov CKV_AWS_2, CKV2_AWS_20; FSBP ELB.1", func(g *graph, _ map[string]string) string {
		for _, l := range g.byType(typeListener) {
			if l.str("protocol") != "HTTP" {
				continue
			}
			a := at(l.input("defaultActions"), 0)
			r := field(a, "redirect")
			if strOf(field(a, "type")) != "redirect" || strOf(field(r, "protocol")) != "HTTPS" || strOf(field(r, "port")) != "443" {
				return fmt.Sprintf("HTTP listener %s action %v", l.Name, a)
			}
		}
		return ""
	}},
	{"ALB drops invalid header fields", "checkov CKV_AWS_131; FSBP ELB.4", func(g *graph, _ map[string]string) string {
		return wantBoolIfAny(g, typeLB, "dropInvalidHeaderFields", true)
	}},
	{"ALB deletion protection in protected stacks", "checkov CKV_AWS_150; FSBP ELB.6", func(g *graph, cfg map[string]string) string {
		if cfg["mlflow-aws:protectData"] == "true" {
			return wantBoolIfAny(g, typeLB, "enableDeletionProtection", true)
		}
		return ""
	}},
	{"ALB access logs when albAccessLogs", "AWSGuard elb-access-logging-enabled; checkov CKV_AWS_91; FSBP ELB.5 (advisory: on request)", func(g *graph, cfg map[string]string) string {
		if cfg["mlflow-aws:albAccessLogs"] == "true" {
			return wantBoolIfAny(g, typeLB, "accessLogs.enabled", true) + map[bool]string{true: "no load balancer"}[len(g.byType(typeLB)) == 0]
		}
		return ""
	}},
	{"ALB in two or more Availability Zones", "FSBP ELB.13", func(g *graph, _ map[string]string) string {
		for _, r := range g.byType(typeLB) {
			if n := len(arrayOf(r.input("subnets"))); n < 2 {
				return fmt.Sprintf("load balancer in %d subnets", n)
			}
		}
		return ""
	}},
	{"Only the load balancer reaches 5000", "CIS AWS Foundations 5.2; checkov CKV_AWS_260 (with a front door)", func(g *graph, _ map[string]string) string {
		lbGroup := ""
		for _, sg := range g.byType(typeSG) {
			if strings.HasSuffix(sg.Name, "-lb-sg") {
				lbGroup = fakeID("sg-", sg.Name)
			}
		}
		if len(g.byType(typeLB)) == 0 {
			return ""
		}
		for _, r := range g.byType(typeIngress) {
			from, to := r.number("fromPort"), r.number("toPort")
			if from <= components.TrackingPort && components.TrackingPort <= to && (lbGroup == "" || r.str("referencedSecurityGroupId") != lbGroup) {
				return fmt.Sprintf("ingress %s opens %v-%v to %q%q", r.Name, from, to, r.str("cidrIpv4"), r.str("referencedSecurityGroupId"))
			}
		}
		return ""
	}},
	{"ASG from a launch template in 2+ zones", "checkov CKV_AWS_315; FSBP AutoScaling.2", func(g *graph, _ map[string]string) string {
		for _, r := range g.byType(typeASG) {
			if r.str("launchTemplate.id") == "" || len(arrayOf(r.input("vpcZoneIdentifiers"))) < 2 {
				return fmt.Sprintf("group %s: launch template %q, %d subnets", r.Name, r.str("launchTemplate.id"), len(arrayOf(r.input("vpcZoneIdentifiers"))))
			}
		}
		return ""
	}},
	{"ASG uses ELB health checks, waits for capacity", "checkov CKV2_AWS_15; FSBP AutoScaling.1", func(g *graph, _ map[string]string) string {
		for _, r := range g.byType(typeASG) {
			if r.str("healthCheckType") != "ELB" || r.number("waitForElbCapacity") < 1 || len(arrayOf(r.input("targetGroupArns"))) == 0 {
				return fmt.Sprintf("group %s: health check %q, waitForElbCapacity %v", r.Name, r.str("healthCheckType"), r.number("waitForElbCapacity"))
			}
		}
		return ""
	}},
	{"Target group checks /health", "AWS ELB User Guide, target group health checks", func(g *graph, _ map[string]string) string {
		for _, r := range g.byType(typeTG) {
			if r.str("healthCheck.path") != components.HealthCheckPath {
				return "health check path " + r.str("healthCheck.path")
			}
		}
		return ""
	}},
	{"EC2 detailed monitoring", "AWSGuard ec2-instance-detailed-monitoring-enabled; checkov CKV_AWS_126", func(g *graph, cfg map[string]string) string {
		if cfg["mlflow-aws:detailedMonitoring"] == "false" {
			return "" // configured off, knowingly (the default is on)
		}
		for _, l := range serverLaunches(g) {
			if !l.monitoring {
				return l.name + ": detailed monitoring off"
			}
		}
		return ""
	}},
	{"EC2 status checks: the single server recovers and reboots, a group's alarm notifies", "AWS Well-Architected REL (automated recovery); Amazon EC2 User Guide, alarm actions", func(g *graph, cfg map[string]string) string {
		if len(g.byType(typeInstance)) == 0 {
			// A front door's group replaces an unhealthy server itself (ELB health checks, a
			// front-door rule); its status-check alarm tells a person.
			for _, a := range g.byType(typeAlarm) {
				if strings.HasPrefix(a.str("metricName"), "StatusCheckFailed") && a.str("dimensions.AutoScalingGroupName") != "" {
					if len(a.input("alarmActions").ArrayValue()) == 0 {
						return fmt.Sprintf("alarm %s notifies nobody", a.Name)
					}
					return ""
				}
			}
			return "no status-check alarm on the Auto Scaling group"
		}
		region := cfg["aws:region"]
		want := map[string]string{"StatusCheckFailed_System": "arn:aws:automate:" + region + ":ec2:recover", "StatusCheckFailed_Instance": "arn:aws:automate:" + region + ":ec2:reboot"}
		for _, a := range g.byType(typeAlarm) {
			action, ok := want[a.str("metricName")]
			if !ok {
				continue
			}
			if a.str("dimensions.InstanceId") == "" || !slices.ContainsFunc(a.input("alarmActions").ArrayValue(), func(v resource.PropertyValue) bool { return v.IsString() && v.StringValue() == action }) {
				return fmt.Sprintf("alarm %s on %s lacks the action %s on the instance", a.Name, a.str("metricName"), action)
			}
			delete(want, a.str("metricName"))
		}
		if len(want) > 0 {
			return fmt.Sprintf("no alarm on %v", slices.Sorted(maps.Keys(want)))
		}
		return ""
	}},
	{"Log group retention set (1 year in protected stacks)", "checkov CKV_AWS_338 (>= 1 year), CKV_AWS_66", func(g *graph, cfg map[string]string) string {
		for _, r := range g.resourcesOf(typeLogGroup) {
			days := r.number("retentionInDays")
			if days <= 0 || (cfg["mlflow-aws:protectData"] == "true" && days < 365) {
				return fmt.Sprintf("log group %s keeps logs %v days", r.str("name"), days)
			}
		}
		return ""
	}},
	{"Alarm topic deliverable: not the aws/sns key", "checkov CKV_AWS_26 knowingly not met: CloudWatch cannot publish to a topic under aws/sns (CloudWatch User Guide); messages hold no data", func(g *graph, _ map[string]string) string {
		for _, r := range g.resourcesOf(typeTopic) {
			if k := r.str("kmsMasterKeyId"); strings.Contains(k, "aws/sns") || r.Type == "" {
				return fmt.Sprintf("topic %s: key %q (or no topic)", r.Name, k)
			}
		}
		return ""
	}},
	{"Every alarm notifies the alarm topic", "CIS AWS Foundations 4.x (alarm to SNS); FSBP CloudWatch.15", func(g *graph, _ map[string]string) string {
		alarms := g.byType(typeAlarm)
		if len(alarms) < 5 {
			return fmt.Sprintf("only %d alarms", len(alarms))
		}
		for _, a := range alarms {
			actions := a.input("alarmActions").ArrayValue()
			if len(actions) == 0 || !strings.HasPrefix(actions[0].StringValue(), "arn:aws:sns:") || len(a.input("okActions").ArrayValue()) != 1 {
				return fmt.Sprintf("alarm %s notifies %v (ok %v)", a.Name, actions, a.input("okActions").ArrayValue())
			}
		}
		return ""
	}},
}

// unrestrictable: a statement whose actions support no resource type, so "*" is their only
// resource, narrowed by a condition (checkov CKV_AWS_355 excludes such actions): the CloudWatch
// agent's cloudwatch:PutMetricData, limited to the stack's namespace.
func unrestrictable(st statement) bool {
	return slices.Equal(st.Action, []string{"cloudwatch:PutMetricData"}) && st.Condition["StringEquals"]["cloudwatch:namespace"] != nil
}

// secretPatterns are what secret scanners (checkov CKV_AWS_46, detect-secrets) look for: a
// password assigned a literal (not a "$(...)" lookup), credentials inside a URI, AWS keys.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)passw(or)?d\s*[=:]\s*["']?[^$"'\s({]`),
	regexp.MustCompile(`://[^/@\s:]+:[^/@\s]+@`),
	regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`),
	regexp.MustCompile(`(?i)aws_secret_access_key`),
}

// Note: the AWS managed policy AmazonSSMManagedInstanceCore (Session Manager) grants
// ssm/ssmmessages/ec2messages actions on "*" by AWS's design; it is attached, not inlined, and
// holds no data-plane access to the bucket or the parameter.

type statement struct {
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string]any
}

func rolePolicyStatements(g *graph) []statement {
	var all []statement
	for _, r := range g.resourcesOf(typeRolePolicy) {
		var doc struct{ Statement []statement }
		if err := json.Unmarshal([]byte(r.str("policy")), &doc); err != nil {
			return []statement{{Effect: "Allow", Action: []string{"*"}, Resource: []string{"unparseable policy"}}}
		}
		all = append(all, doc.Statement...)
	}
	return all
}

func (g *graph) resourcesOf(typ string) []recorded {
	rs := g.byType(typ)
	if len(rs) == 0 {
		return []recorded{{Type: typ}}
	}
	return rs
}

// wantBoolIfAny is wantBool for resources that may be absent (none: nothing to check).
func wantBoolIfAny(g *graph, typ, path string, want bool) string {
	if len(g.byType(typ)) == 0 {
		return ""
	}
	return wantBool(g, typ, path, want)
}

func wantBool(g *graph, typ, path string, want bool) string {
	for _, r := range g.resourcesOf(typ) {
		if got, ok := r.boolean(path); !ok || got != want {
			return fmt.Sprintf("%s %s: %s = %v (set %v), want %v", typ, r.Name, path, got, ok, want)
		}
	}
	return ""
}

// allPolicyRules are the rules TestPolicyRules checks.
func allPolicyRules() []policyRule { return append(slices.Clone(policyRules), frontDoorRules...) }

// TestPolicyRules checks every rule on every scenario, with and without a front door;
// `go test -v -run TestPolicyRules` prints the rule -> pass/fail table per stack.
func TestPolicyRules(t *testing.T) {
	var table strings.Builder
	scs := append(scenarios(t), frontDoorScenarios(t)...)
	rules := allPolicyRules()
	fmt.Fprintf(&table, "\n%-50s", "rule")
	for _, s := range scs {
		fmt.Fprintf(&table, " %-*s", max(len(s.name), 4), s.name)
	}
	fmt.Fprintf(&table, "  %s\n", "source")
	results := map[string]map[string]string{}
	for _, s := range scs {
		g := deployed(t, s)
		for _, rule := range rules {
			if results[rule.name] == nil {
				results[rule.name] = map[string]string{}
			}
			results[rule.name][s.name] = rule.check(g, s.cfg)
		}
	}
	for _, rule := range rules {
		fmt.Fprintf(&table, "%-50s", rule.name)
		for _, s := range scs {
			verdict := "pass"
			if why := results[rule.name][s.name]; why != "" {
				verdict = "FAIL"
				t.Errorf("%s: rule %q (%s) fails: %s", s.name, rule.name, rule.source, why)
			}
			fmt.Fprintf(&table, " %-*s", max(len(s.name), 4), verdict)
		}
		fmt.Fprintf(&table, "  %s\n", rule.source)
	}
	if testing.Verbose() {
		t.Log(table.String())
	}
}

// TestPolicyRulesCanFail shows each rule detects a violation: a graph with the violating input
// (prod, and prod with a front door, mutated) must fail every rule that applies to it: the
// server rules on both (instance, then launch template), the front door rules on the second.
func TestPolicyRulesCanFail(t *testing.T) {
	prod := scenarios(t)[1] // prod: every conditional rule applies
	door := frontDoorScenarios(t)[1]
	for _, c := range []struct {
		s     scenario
		rules []policyRule
	}{{prod, policyRules}, {door, allPolicyRules()}} {
		for _, rule := range c.rules {
			g := deployed(t, c.s)
			breakGraph(g)
			if rule.check(g, c.s.cfg) == "" {
				t.Errorf("%s: rule %q passes a graph that violates it", c.s.name, rule.name)
			}
		}
	}
}

// breakGraph flips every input the rules look at to its insecure value.
func breakGraph(g *graph) {
	set := func(typ, path string, v any) {
		for _, r := range g.byType(typ) {
			obj := r.Inputs
			parts := strings.Split(path, ".")
			for _, p := range parts[:len(parts)-1] {
				obj = obj[keyOf(p)].ObjectValue()
			}
			obj[keyOf(parts[len(parts)-1])] = propertyOf(v)
		}
	}
	set(typeDB, "storageEncrypted", false)
	set(typeDB, "publiclyAccessible", true)
	set(typeDB, "backupRetentionPeriod", 0)
	set(typeDB, "multiAz", false)
	set(typeDB, "deletionProtection", false)
	set(typeParamGroup, "parameters", []any{})
	set(typeInstance, "rootBlockDevice.encrypted", false)
	set(typeInstance, "ebsBlockDevices", []any{map[string]any{"deviceName": userdata.SpoolDeviceName, "volumeType": "gp3", "volumeSize": 20, "encrypted": false}})
	set(typeInstance, "metadataOptions.httpTokens", "optional")
	bad, _ := userdata.EncodeForEC2("#!/bin/sh\naws configure set aws_secret_access_key x\nexport PASSWORD=" + mockPassword)
	set(typeInstance, "userDataBase64", bad)
	set(typeInstance, "iamInstanceProfile", "")
	set(typeLaunchTmpl, "metadataOptions.httpTokens", "optional")
	set(typeLaunchTmpl, "blockDeviceMappings", []any{map[string]any{"deviceName": "/dev/xvda", "ebs": map[string]any{"encrypted": "false"}}})
	set(typeLaunchTmpl, "userData", bad)
	set(typeLaunchTmpl, "iamInstanceProfile.name", "")
	set(typeListener, "sslPolicy", "ELBSecurityPolicy-2016-08")
	set(typeListener, "defaultActions", []any{map[string]any{"type": "forward", "targetGroupArn": "arn"}})
	set(typeLB, "dropInvalidHeaderFields", false)
	set(typeLB, "enableDeletionProtection", false)
	set(typeLB, "accessLogs.enabled", false)
	set(typeLB, "subnets", []any{mockSubnets[0]})
	set(typeASG, "healthCheckType", "EC2")
	set(typeASG, "waitForElbCapacity", 0)
	set(typeASG, "vpcZoneIdentifiers", []any{mockSubnets[1]})
	set(typeTG, "healthCheck.path", "/")
	set(typePublicAccess, "blockPublicPolicy", false)
	set(typeOwnership, "rule.objectOwnership", "ObjectWriter")
	set(typeBucketPolicy, "policy", "{}")
	set(typeVersioning, "versioningConfiguration.status", "Suspended")
	set(typeLifecycle, "rules", []any{})
	set(typeParameter, "type", "String")
	set(typeRolePolicy, "policy", `{"Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["*"]}]}`)
	set(typeInstance, "monitoring", false)
	set(typeLaunchTmpl, "monitoring.enabled", false)
	set(typeLogGroup, "retentionInDays", 0)
	set(typeAlarm, "alarmActions", []any{})
	set(typeTopic, "kmsMasterKeyId", "alias/aws/sns")
	var kept []recorded
	for _, r := range g.resources {
		if r.Type != typeEncryption {
			kept = append(kept, r)
		}
	}
	g.resources = append(kept, recorded{Type: typeIngress, Name: "open", Inputs: propertyMapOf(map[string]any{"cidrIpv4": "0.0.0.0/0", "fromPort": 5000, "toPort": 5000})})
}
