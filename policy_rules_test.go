package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

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
		return wantBool(g, typeInstance, "rootBlockDevice.encrypted", true)
	}},
	{"EBS data volume for the artifact spool, encrypted", "peer policy pack (no EBS data volume; C8); AWS Config encrypted-volumes; checkov CKV_AWS_8; FSBP EC2.3", spoolVolumeProblem},
	{"IMDSv2 required", "checkov CKV_AWS_79; FSBP EC2.8", func(g *graph, _ map[string]string) string {
		if v := g.resourcesOf(typeInstance)[0].str("metadataOptions.httpTokens"); v != "required" {
			return "httpTokens = " + v
		}
		return ""
	}},
	{"No secrets in user data", "checkov CKV_AWS_46", func(g *graph, _ map[string]string) string {
		ud := g.resourcesOf(typeInstance)[0].userData()
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
		if len(g.byType(typeEncryption)) != 1 {
			return "no encryption configuration"
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
		if g.resourcesOf(typeInstance)[0].str("iamInstanceProfile") == "" {
			return "no instance profile"
		}
		if strings.Contains(g.resourcesOf(typeInstance)[0].userData(), "aws configure") {
			return "user data runs aws configure"
		}
		return ""
	}},
	{"EC2 detailed monitoring", "AWSGuard ec2-instance-detailed-monitoring-enabled; checkov CKV_AWS_126", func(g *graph, cfg map[string]string) string {
		if cfg["mlflow-aws:detailedMonitoring"] == "false" {
			return "" // configured off, knowingly (the default is on)
		}
		return wantBool(g, typeInstance, "monitoring", true)
	}},
	{"EC2 status checks recover and reboot the single server", "AWS Well-Architected REL (automated recovery); Amazon EC2 User Guide, alarm actions", func(g *graph, cfg map[string]string) string {
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

func wantBool(g *graph, typ, path string, want bool) string {
	for _, r := range g.resourcesOf(typ) {
		if got, ok := r.boolean(path); !ok || got != want {
			return fmt.Sprintf("%s %s: %s = %v (set %v), want %v", typ, r.Name, path, got, ok, want)
		}
	}
	return ""
}

// TestPolicyRules checks every rule on every scenario; `go test -v -run TestPolicyRules`
// prints the rule -> pass/fail table per stack.
func TestPolicyRules(t *testing.T) {
	var table strings.Builder
	scs := scenarios(t)
	fmt.Fprintf(&table, "\n%-50s", "rule")
	for _, s := range scs {
		fmt.Fprintf(&table, " %-*s", max(len(s.name), 4), s.name)
	}
	fmt.Fprintf(&table, "  %s\n", "source")
	results := map[string]map[string]string{}
	for _, s := range scs {
		g := deployed(t, s)
		for _, rule := range policyRules {
			if results[rule.name] == nil {
				results[rule.name] = map[string]string{}
			}
			results[rule.name][s.name] = rule.check(g, s.cfg)
		}
	}
	for _, rule := range policyRules {
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
// (the prod graph mutated) must fail every rule that applies to it.
func TestPolicyRulesCanFail(t *testing.T) {
	s := scenarios(t)[1] // prod: every conditional rule applies
	for _, rule := range policyRules {
		g := deployed(t, s)
		breakGraph(g)
		if rule.check(g, s.cfg) == "" {
			t.Errorf("rule %q passes a graph that violates it", rule.name)
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
	set(typePublicAccess, "blockPublicPolicy", false)
	set(typeOwnership, "rule.objectOwnership", "ObjectWriter")
	set(typeBucketPolicy, "policy", "{}")
	set(typeVersioning, "versioningConfiguration.status", "Suspended")
	set(typeLifecycle, "rules", []any{})
	set(typeParameter, "type", "String")
	set(typeRolePolicy, "policy", `{"Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["*"]}]}`)
	set(typeInstance, "monitoring", false)
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
