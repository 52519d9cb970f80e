package main

import (
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/internal/config"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

var update = flag.Bool("update", false, "rewrite the golden user data under userdata/testdata/")

const (
	typeBucket        = "aws:s3/bucketV2:BucketV2"
	typeDB            = "aws:rds/instance:Instance"
	typeInstance      = "aws:ec2/instance:Instance"
	typeSG            = "aws:ec2/securityGroup:SecurityGroup"
	typeIngress       = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
	typeEgress        = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
	typePassword      = "random:index/randomPassword:RandomPassword"
	typeParameter     = "aws:ssm/parameter:Parameter"
	typeRolePolicy    = "aws:iam/rolePolicy:RolePolicy"
	typeAttachment    = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
	typeRole          = "aws:iam/role:Role"
	typeProfile       = "aws:iam/instanceProfile:InstanceProfile"
	typeParamGroup    = "aws:rds/parameterGroup:ParameterGroup"
	typeSubnetGroup   = "aws:rds/subnetGroup:SubnetGroup"
	typePublicAccess  = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
	typeOwnership     = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
	typeBucketPolicy  = "aws:s3/bucketPolicy:BucketPolicy"
	typeVersioning    = "aws:s3/bucketVersioningV2:BucketVersioningV2"
	typeEncryption    = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
	typeLifecycle     = "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"
	typeEip           = "aws:ec2/eip:Eip"
	typeEipAssoc      = "aws:ec2/eipAssociation:EipAssociation"
	typeBucketObject  = "aws:s3/bucketObjectv2:BucketObjectv2"
	typeRandomID      = "random:index/randomId:RandomId"
	typeENI           = "aws:ec2/networkInterface:NetworkInterface"
	typeLaunchTmpl    = "aws:ec2/launchTemplate:LaunchTemplate"
	typeASG           = "aws:autoscaling/group:Group"
	typeScaling       = "aws:autoscaling/policy:Policy"
	typeLB            = "aws:lb/loadBalancer:LoadBalancer"
	typeTG            = "aws:lb/targetGroup:TargetGroup"
	typeListener      = "aws:lb/listener:Listener"
	typeCert          = "aws:acm/certificate:Certificate"
	typeCertValid     = "aws:acm/certificateValidation:CertificateValidation"
	typeRecord        = "aws:route53/record:Record"
	tokArtifactStore  = "mlflow:aws:ArtifactStore"
	tokBackendStore   = "mlflow:aws:BackendStore"
	tokTrackingServer = "mlflow:aws:TrackingServer"
	tokServerAuth     = "mlflow:aws:ServerAuth"
	tokMonitoring     = "mlflow:aws:Monitoring"
	typeLogGroup      = "aws:cloudwatch/logGroup:LogGroup"
	typeTopic         = "aws:sns/topic:Topic"
	typeSubscription  = "aws:sns/topicSubscription:TopicSubscription"
	typeAlarm         = "aws:cloudwatch/metricAlarm:MetricAlarm"
	typeDashboard     = "aws:cloudwatch/dashboard:Dashboard"
)

// everyOptionChanged is the dev stack with every option set away from its default.
func everyOptionChanged(t testing.TB) map[string]string {
	cfg := stackConfig(t, "dev")
	for k, v := range map[string]string{
		"aws:region":                         "eu-west-1",
		"mlflow-aws:mlflowVersion":           "3.5.0",
		"mlflow-aws:instanceType":            "m7g.large",
		"mlflow-aws:amiId":                   "ami-0fedcba9876543210",
		"mlflow-aws:allowedCidrs":            `["203.0.113.0/24","198.51.100.0/24"]`,
		"mlflow-aws:allowedHosts":            `["mlflow.example.com","mlflow.example.com:443"]`,
		"mlflow-aws:sshKeyName":              "ops-key",
		"mlflow-aws:sshCidrs":                `["198.51.100.7/32"]`,
		"mlflow-aws:vpcId":                   "vpc-0123456789abcdef0",
		"mlflow-aws:subnetIds":               `["subnet-0123456789abcdef1","subnet-0123456789abcdef0"]`,
		"mlflow-aws:dbInstanceClass":         "db.r7g.large",
		"mlflow-aws:dbEngineVersion":         "16",
		"mlflow-aws:dbAllocatedStorageGb":    "100",
		"mlflow-aws:dbMaxAllocatedStorageGb": "1000",
		"mlflow-aws:dbMultiAz":               "true",
		"mlflow-aws:dbBackupRetentionDays":   "30",
		"mlflow-aws:dbInstanceIdentifier":    "Team-MLflow-Store",
		"mlflow-aws:artifactBucketName":      "team-mlflow-artifacts-eu",
		"mlflow-aws:artifactAccess":          "direct",
		"mlflow-aws:workers":                 "6",
		"mlflow-aws:protectData":             "true",
		"mlflow-aws:adminUsername":           "ops.admin",
		"mlflow-aws:defaultPermission":       "NO_PERMISSIONS",
		"mlflow-aws:users":                   `["alice","bob","carol_c"]`,
		"mlflow-aws:promoters":               `["bob"]`,
		"mlflow-aws:productionAlias":         "champion",
		"mlflow-aws:stagingAlias":            "challenger",
		"mlflow-aws:logRetentionDays":        "731",
		"mlflow-aws:alarmEmail":              "ml-ops@example.com",
		"mlflow-aws:detailedMonitoring":      "false",
		"mlflow-aws:artifactSpoolGb":         "100",
		"mlflow-aws:gcOlderThan":             "",
	} {
		cfg[k] = v
	}
	return cfg
}

// authNone is the dev stack without authentication (auth is the one option every-option-changed
// keeps at its default, so its users are real).
func authNone(t testing.TB) map[string]string {
	cfg := stackConfig(t, "dev")
	cfg["mlflow-aws:auth"] = "none"
	cfg["mlflow-aws:users"] = `["alice"]`
	return cfg
}

// privateNetwork is prod reached over a VPN: only private allowedCidrs.
func privateNetwork(t testing.TB) map[string]string {
	cfg := stackConfig(t, "prod")
	cfg["mlflow-aws:allowedCidrs"] = `["10.0.0.0/8","192.168.0.0/16"]`
	return cfg
}

type scenario struct {
	name string
	cfg  map[string]string
}

func scenarios(t testing.TB) []scenario {
	return []scenario{
		{"dev", stackConfig(t, "dev")},
		{"prod", stackConfig(t, "prod")},
		{"every-option-changed", everyOptionChanged(t)},
		{"private-network", privateNetwork(t)},
		{"auth-none", authNone(t)},
	}
}

func deployed(t *testing.T, s scenario) *graph {
	t.Helper()
	g := runStack(t, s.name, s.cfg)
	if g.err != nil {
		t.Fatalf("%s: deploy failed: %v", s.name, g.err)
	}
	return g
}

// TestComponentTree protects the architecture: five components with their type tokens (the
// server's credentials, ServerAuth, only with auth basic), every AWS resource a child of one of
// them, and the tracking server depending on both stores.
func TestComponentTree(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			parents := map[string]string{}
			tokens := []string{tokArtifactStore, tokBackendStore, tokTrackingServer, tokMonitoring}
			if s.cfg["mlflow-aws:auth"] == "basic" {
				tokens = append(tokens, tokServerAuth)
			} else if n := len(g.byType(tokServerAuth)); n != 0 {
				t.Errorf("auth %s registers %d ServerAuth components", s.cfg["mlflow-aws:auth"], n)
			}
			for _, tok := range tokens {
				c := g.one(t, tok)
				parents[c.URN] = tok
			}
			owner := map[string]string{
				typeBucket: tokArtifactStore, typePublicAccess: tokArtifactStore, typeOwnership: tokArtifactStore,
				typeBucketPolicy: tokArtifactStore, typeVersioning: tokArtifactStore, typeEncryption: tokArtifactStore,
				typeLifecycle: tokArtifactStore,
				typeDB:        tokBackendStore, typePassword: tokBackendStore, typeParameter: tokBackendStore,
				typeParamGroup: tokBackendStore, typeSubnetGroup: tokBackendStore, typeRandomID: tokBackendStore,
				typeInstance: tokTrackingServer, typeRole: tokTrackingServer, typeRolePolicy: tokTrackingServer,
				typeAttachment: tokTrackingServer, typeProfile: tokTrackingServer, typeEip: tokTrackingServer,
				typeEipAssoc: tokTrackingServer, typeIngress: tokTrackingServer, typeEgress: tokTrackingServer,
				typeBucketObject: tokTrackingServer, typeENI: tokTrackingServer,
				typeLogGroup: tokMonitoring, typeTopic: tokMonitoring, typeSubscription: tokMonitoring, typeAlarm: tokMonitoring,
				typeDashboard: tokMonitoring,
			}
			for _, r := range g.resources {
				if !r.Custom {
					if r.Parent != "" && !strings.HasSuffix(r.Parent, "pulumi:pulumi:Stack::mlflow-aws-"+s.name) {
						t.Errorf("component %s should be a child of the stack, got parent %s", r.Name, r.Parent)
					}
					continue
				}
				want, ok := owner[r.Type]
				if r.Type == typeSG {
					want, ok = tokBackendStore, true
					if strings.HasSuffix(r.Name, "-server-sg") {
						want = tokTrackingServer
					}
				}
				if (r.Type == typePassword || r.Type == typeParameter) && strings.HasPrefix(r.Name, config.ResourceName(s.name)+"-auth-") {
					want = tokServerAuth
				}
				if r.Type == typeParameter && (r.Name == config.ResourceName(s.name)+"-mlflow-version" || r.Name == config.ResourceName(s.name)+"-front-door") {
					want = tokTrackingServer // the deployment records, written after the server (upgrade checks)
				}
				if !ok {
					t.Errorf("unexpected resource type %s (%s): add it to the tests", r.Type, r.Name)
					continue
				}
				if got := parents[r.Parent]; got != want {
					t.Errorf("%s %s: parent is %q, want a child of %s", r.Type, r.Name, got, want)
				}
			}
			// The instance's user data is built from the backend store and artifact store outputs:
			// the SDK records those as dependencies of the instance.
			inst := g.one(t, typeInstance)
			db := g.one(t, typeDB)
			bucket := g.one(t, typeBucket)
			param := g.owned(t, typeParameter, tokBackendStore)
			for _, dep := range []recorded{db, bucket, param} {
				if !slices.Contains(inst.Dependencies, dep.URN) && !dependsOnComponentOf(inst, dep) {
					t.Errorf("tracking server instance does not depend on %s %s", dep.Type, dep.Name)
				}
			}
		})
	}
}

// dependsOnComponentOf reports whether r depends on the component that owns dep.
func dependsOnComponentOf(r, dep recorded) bool {
	return slices.Contains(r.Dependencies, dep.Parent)
}

// TestBackendStoreSecureDefaults: the DB instance is in the program's DB subnet group (two or
// more subnets), uses the TLS parameter group of its engine's family, carries the configured
// engine, storage and names, and gets the password as a secret. Encryption, public access and
// rds.force_ssl are policy rules (TestPolicyRules).
func TestBackendStoreSecureDefaults(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			db := g.one(t, typeDB)
			checkStr(t, db, "storageType", "gp3")
			checkStr(t, db, "engine", "postgres")
			checkStr(t, db, "engineVersion", s.cfg["mlflow-aws:dbEngineVersion"])
			checkStr(t, db, "dbName", "mlflow_data")
			checkStr(t, db, "username", "mlflow")
			if db.str("dbSubnetGroupName") != g.one(t, typeSubnetGroup).Name+"-a1b2c3d" {
				t.Errorf("DB instance is not in the program's DB subnet group: %q", db.str("dbSubnetGroupName"))
			}
			if got := len(g.one(t, typeSubnetGroup).input("subnetIds").ArrayValue()); got < 2 {
				t.Errorf("DB subnet group has %d subnets, RDS needs at least 2", got)
			}
			if err := awsnames.CheckDBInstanceIdentifier(db.str("identifier")); err != nil {
				t.Errorf("DB instance identifier: %v", err)
			}
			pg := g.one(t, typeParamGroup)
			major, _, _ := strings.Cut(s.cfg["mlflow-aws:dbEngineVersion"], ".")
			checkStr(t, pg, "family", "postgres"+major)
			if db.str("parameterGroupName") != pg.Name+"-a1b2c3d" {
				t.Errorf("DB instance does not use the TLS parameter group: %q", db.str("parameterGroupName"))
			}
			// Storage autoscaling up to the configured maximum.
			if db.number("allocatedStorage") != num(t, s.cfg["mlflow-aws:dbAllocatedStorageGb"]) ||
				db.number("maxAllocatedStorage") != num(t, s.cfg["mlflow-aws:dbMaxAllocatedStorageGb"]) {
				t.Errorf("storage %v..%v GiB does not follow the config", db.number("allocatedStorage"), db.number("maxAllocatedStorage"))
			}
			if !db.Inputs["password"].IsSecret() {
				t.Errorf("DB password input is not a secret")
			}
		})
	}
}

// TestBackendStoreNetworkAccess: the DB security group's only ingress is 5432/tcp from the
// tracking server's group, the DB instance uses that group alone, and the group has no egress.
func TestBackendStoreNetworkAccess(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			db := g.one(t, typeDB)
			dbSG, serverSG := securityGroups(t, g)
			var toDB []recorded
			for _, r := range g.byType(typeIngress) {
				if r.str("securityGroupId") == dbSG {
					toDB = append(toDB, r)
				}
			}
			if len(toDB) != 1 {
				t.Fatalf("backend store security group has %d ingress rules, want exactly 1", len(toDB))
			}
			rule := toDB[0]
			if rule.number("fromPort") != 5432 || rule.number("toPort") != 5432 || rule.str("ipProtocol") != "tcp" ||
				rule.str("referencedSecurityGroupId") != serverSG || rule.str("cidrIpv4") != "" || rule.str("cidrIpv6") != "" {
				t.Errorf("backend store ingress is not 5432/tcp from the tracking server's group only: %v", rule.Inputs)
			}
			sgIDs := db.input("vpcSecurityGroupIds").ArrayValue()
			if len(sgIDs) != 1 || sgIDs[0].StringValue() != dbSG {
				t.Errorf("DB instance security groups = %v, want only %s", sgIDs, dbSG)
			}
			for _, r := range g.byType(typeEgress) {
				if r.str("securityGroupId") == dbSG {
					t.Errorf("backend store security group has an egress rule; it needs none")
				}
			}
		})
	}
}

// securityGroups returns the IDs the mocks gave the backend store's and the server's groups.
func securityGroups(t *testing.T, g *graph) (db, server string) {
	for _, r := range g.byType(typeSG) {
		id := fakeID("sg-", r.Name)
		if strings.HasSuffix(r.Name, "-server-sg") {
			server = id
		} else {
			db = id
		}
	}
	if db == "" || server == "" {
		t.Fatalf("want a backend store and a tracking server security group")
	}
	return db, server
}

// TestSecretsStayOutOfThePlain: the generated DB password is RDS-legal and lives in RDS (secret
// input) and one SSM SecureString parameter; every MLflow password and the Flask secret key live
// in SecureStrings as secret inputs; no secret (the mocks draw mockPassword for every
// RandomPassword) appears in any other input (user data above all) or in any stack output.
func TestSecretsStayOutOfThePlain(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			pw := g.owned(t, typePassword, tokBackendStore)
			special := pw.str("overrideSpecial")
			for _, bad := range []string{"/", "@", `"`, " ", "'", `\`, "`"} {
				if strings.Contains(special, bad) {
					t.Errorf("password character set %q contains %q, which RDS or a shell rejects", special, bad)
				}
			}
			if v, _ := pw.boolean("special"); !v || pw.number("length") < 20 {
				t.Errorf("password must be long (>= 20) with special characters: %v", pw.Inputs)
			}
			params := g.byType(typeParameter)
			if want := 1 + authParameterCount(t, s.cfg) + 2; len(params) != want {
				t.Errorf("%d SSM parameters, want %d (the DB password, the auth credentials and the two deployment records)", len(params), want)
			}
			for _, param := range params {
				checkStr(t, param, "type", "SecureString")
				if !param.Inputs["value"].IsSecret() {
					t.Errorf("SSM parameter %s value is not a secret input", param.Name)
				}
			}
			for _, r := range g.resources {
				for k, v := range r.Inputs {
					if (r.Type == typeDB && k == "password") || (r.Type == typeParameter && k == "value") {
						continue
					}
					if leaks(v) {
						t.Errorf("%s %s input %q carries a generated secret in the plain", r.Type, r.Name, k)
					}
				}
			}
			ud := g.one(t, typeInstance).userData()
			if strings.Contains(ud, mockPassword) || ud == "" {
				t.Errorf("user data is empty or contains a generated secret")
			}
			for k, v := range g.outputs {
				if strings.Contains(v, mockPassword) {
					t.Errorf("stack output %s contains a generated secret", k)
				}
			}
		})
	}
}

// authParameterCount is the number of SecureStrings the auth config asks for: the admin's
// password, the Flask secret key and one per user; none with auth none.
func authParameterCount(t testing.TB, cfg map[string]string) int {
	if cfg["mlflow-aws:auth"] != "basic" {
		return 0
	}
	return 2 + len(list(t, cfg["mlflow-aws:users"]))
}

// leaks reports whether v holds the mock password outside a secret.
func leaks(v resource.PropertyValue) bool {
	switch {
	case v.IsSecret():
		return false
	case v.IsString():
		return strings.Contains(v.StringValue(), mockPassword)
	case v.IsArray():
		return slices.ContainsFunc(v.ArrayValue(), leaks)
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if leaks(e) {
				return true
			}
		}
	}
	return false
}

// TestArtifactStoreSecureDefaults: the bucket has the configured or a generated unique name,
// every companion resource applies to it, it has a default encryption rule, and lifecycle rules
// expire noncurrent versions. Public access blocks, ACLs off, TLS only, versioning and aborting
// multipart uploads are policy rules (TestPolicyRules).
func TestArtifactStoreSecureDefaults(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			b := g.one(t, typeBucket)
			name := g.outputs["artifactBucketName"]
			if want := s.cfg["mlflow-aws:artifactBucketName"]; want != "" && b.str("bucket") != want {
				t.Errorf("bucket = %q, want the configured %q", b.str("bucket"), want)
			} else if want == "" && (b.str("bucketPrefix") == "" || len(b.str("bucketPrefix")) > 37) {
				t.Errorf("generated bucket needs a unique name from a prefix of at most 37 characters, got %q", b.str("bucketPrefix"))
			}
			for _, r := range []string{typePublicAccess, typeOwnership, typeBucketPolicy, typeVersioning, typeEncryption, typeLifecycle} {
				if got := g.one(t, r).str("bucket"); got != name {
					t.Errorf("%s applies to bucket %q, want %q", r, got, name)
				}
			}
			enc := g.one(t, typeEncryption).input("rules").ArrayValue()
			if len(enc) != 1 || enc[0].ObjectValue()["applyServerSideEncryptionByDefault"].ObjectValue()["sseAlgorithm"].StringValue() == "" {
				t.Errorf("no default encryption rule: %v", enc)
			}
			noncurrent := false
			for _, rule := range g.one(t, typeLifecycle).input("rules").ArrayValue() {
				o := rule.ObjectValue()
				if n := o["noncurrentVersionExpiration"]; o["status"].StringValue() == "Enabled" && n.IsObject() && n.ObjectValue()["noncurrentDays"].NumberValue() > 0 {
					noncurrent = true
				}
			}
			if !noncurrent {
				t.Errorf("lifecycle does not expire noncurrent versions")
			}
		})
	}
}

// TestTrackingServerSecureDefaults: the instance replaces itself on a user data change, runs the
// configured type on the pinned AMI or the latest Amazon Linux 2023 of its architecture, uses the
// program's instance profile with Session Manager attached, and its user data configures no
// long-lived keys. IMDSv2, EBS encryption and the role are policy rules (TestPolicyRules).
func TestTrackingServerSecureDefaults(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			inst := g.one(t, typeInstance)
			checkBool(t, inst, "userDataReplaceOnChange", true)
			checkStr(t, inst, "instanceType", s.cfg["mlflow-aws:instanceType"])
			if pinned := s.cfg["mlflow-aws:amiId"]; pinned != "" {
				checkStr(t, inst, "ami", pinned)
				if slices.ContainsFunc(g.invokes, func(c string) bool { return strings.HasPrefix(c, "aws:ssm/getParameter:") }) {
					t.Errorf("AMI looked up although amiId pins it: %v", g.invokes)
				}
			} else {
				checkStr(t, inst, "ami", mockAMI)
				wantAMI := "aws:ssm/getParameter:getParameter /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
				if !slices.Contains(g.invokes, wantAMI) {
					t.Errorf("AMI not looked up as %q; invokes: %v", wantAMI, g.invokes)
				}
			}
			if inst.str("iamInstanceProfile") != g.one(t, typeProfile).Name+"-a1b2c3d" {
				t.Errorf("instance profile = %q, want the program's profile", inst.str("iamInstanceProfile"))
			}
			partition := "aws"
			if strings.HasPrefix(s.cfg["aws:region"], "cn-") {
				partition = "aws-cn"
			}
			checkStr(t, g.one(t, typeAttachment), "policyArn", "arn:"+partition+":iam::aws:policy/AmazonSSMManagedInstanceCore")
			for _, banned := range []string{"AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"} {
				if strings.Contains(inst.userData(), banned) {
					t.Errorf("user data contains %q: no long-lived keys on the instance", banned)
				}
			}
		})
	}
}

// TestTrackingServerIngress: the server's group opens 5000 exactly to allowedCidrs and 22
// exactly to sshCidrs when a key pair is set, each rule a single TCP port.
func TestTrackingServerIngress(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			inst := g.one(t, typeInstance)
			_, serverSG := securityGroups(t, g)
			got := map[int][]string{}
			for _, r := range g.byType(typeIngress) {
				if r.str("securityGroupId") != serverSG {
					continue
				}
				if r.number("fromPort") != r.number("toPort") || r.str("ipProtocol") != "tcp" {
					t.Errorf("ingress rule %s is not a single TCP port: %v", r.Name, r.Inputs)
				}
				got[int(r.number("fromPort"))] = append(got[int(r.number("fromPort"))], r.str("cidrIpv4")+r.str("cidrIpv6"))
			}
			want := map[int][]string{}
			if c := list(t, s.cfg["mlflow-aws:allowedCidrs"]); len(c) > 0 {
				want[5000] = c
			}
			if c := list(t, s.cfg["mlflow-aws:sshCidrs"]); len(c) > 0 && s.cfg["mlflow-aws:sshKeyName"] != "" {
				want[22] = c
				checkStr(t, inst, "keyName", s.cfg["mlflow-aws:sshKeyName"])
			}
			for port := range maps.Keys(got) {
				slices.Sort(got[port])
			}
			for port := range maps.Keys(want) {
				slices.Sort(want[port])
			}
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("tracking server ingress = %v, want %v", got, want)
			}
		})
	}
}

// TestStackOutputs: every documented stack output is set and not secret; the tracking URI is
// http:// to the address clients really reach (TestTrackingURI in components covers each rule);
// the user data accepts every host the URI and the forward use, and carries the stack's region.
func TestStackOutputs(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			for _, k := range []string{"trackingUri", "artifactBucketName", "artifactsDestination", "backendStoreAddress",
				"backendStorePort", "dbPasswordParameterName", "instanceId", "publicIp", "portForwardCommand",
				"adminPasswordParameterName", "flaskSecretKeyParameterName", "userPasswordParameterNames"} {
				authName := strings.Contains(k, "PasswordParameterName") && k != "dbPasswordParameterName" || k == "flaskSecretKeyParameterName"
				if _, ok := g.outputs[k]; !ok {
					t.Errorf("stack output %s is missing", k)
				} else if authName && s.cfg["mlflow-aws:auth"] == "none" {
					if v := g.outputs[k]; v != "" && v != "map[]" {
						t.Errorf("auth none: stack output %s = %q, want empty (no credentials exist)", k, v)
					}
				} else if g.outputs[k] == "" || (k == "userPasswordParameterNames" && len(list(t, s.cfg["mlflow-aws:users"])) > 0 && g.outputs[k] == "map[]") {
					t.Errorf("stack output %s is empty", k)
				}
				if g.secret[k] {
					t.Errorf("stack output %s is secret; none of the outputs holds a secret", k)
				}
			}
			uri := g.outputs["trackingUri"]
			if cidrs := list(t, s.cfg["mlflow-aws:allowedCidrs"]); config.AllPrivate(cidrs) {
				if uri != "http://"+mockPrivateIP+":5000" {
					t.Errorf("trackingUri = %q, want http://<private ip>:5000 for private allowedCidrs %v", uri, cidrs)
				}
			} else if len(cidrs) > 0 {
				if uri != "http://"+mockPublicIP+":5000" {
					t.Errorf("trackingUri = %q, want http://<elastic ip>:5000 (plain HTTP: nothing terminates TLS)", uri)
				}
			} else if uri != "http://localhost:5000" {
				t.Errorf("trackingUri = %q, want http://localhost:5000 through the port forward", uri)
			}
			if !strings.HasPrefix(uri, "http://") {
				t.Errorf("trackingUri %q must be http://: nothing terminates TLS in front of the port", uri)
			}
			if got, want := g.outputs["artifactsDestination"], "s3://"+g.outputs["artifactBucketName"]+"/artifacts"; got != want {
				t.Errorf("artifactsDestination = %q, want %q", got, want)
			}
			pf := g.outputs["portForwardCommand"]
			for _, part := range []string{"aws ssm start-session", "--target " + g.outputs["instanceId"],
				"AWS-StartPortForwardingSession", "portNumber=5000", "localPortNumber=5000", "--region " + s.cfg["aws:region"]} {
				if !strings.Contains(pf, part) {
					t.Errorf("portForwardCommand %q lacks %q", pf, part)
				}
			}
			// The user data lets MLflow accept every host the tracking URI and the forward use.
			ud := g.one(t, typeInstance).userData()
			host := strings.TrimPrefix(uri, "http://")
			if host == mockPrivateIP+":5000" {
				host = "localhost:5000" // the private IP is added on the instance (IMDSv2), see userdata
			}
			for _, h := range append([]string{host, "localhost:5000", mockPublicIP + ":5000"}, list(t, s.cfg["mlflow-aws:allowedHosts"])...) {
				if !strings.Contains(ud, h) {
					t.Errorf("user data's allowed hosts lack %q", h)
				}
			}
			if !strings.Contains(ud, "AWS_DEFAULT_REGION="+s.cfg["aws:region"]) {
				t.Errorf("user data does not set AWS_DEFAULT_REGION=%s (presigned URLs would name the wrong region)", s.cfg["aws:region"])
			}
		})
	}
}

// TestDataProtection protects protectData: deletion protection, final snapshot, no
// force-destroy and Pulumi protect on what holds user data; and easy teardown without it.
func TestDataProtection(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			protect := s.cfg["mlflow-aws:protectData"] == "true"
			db, bucket := g.one(t, typeDB), g.one(t, typeBucket)
			checkBool(t, db, "deletionProtection", protect)
			checkBool(t, db, "skipFinalSnapshot", !protect)
			wantSnapshot := ""
			if protect {
				wantSnapshot = awsnames.FinalSnapshotIdentifier(db.str("identifier"), mockRandomHex)
			}
			if got := db.str("finalSnapshotIdentifier"); got != wantSnapshot {
				t.Errorf("final snapshot identifier %q, want %q", got, wantSnapshot)
			}
			checkBool(t, bucket, "forceDestroy", !protect)
			for _, r := range []recorded{db, bucket, g.owned(t, typePassword, tokBackendStore), g.owned(t, typeParameter, tokBackendStore)} {
				if r.Protect != protect {
					t.Errorf("%s %s: Pulumi protect = %v, want %v", r.Type, r.Name, r.Protect, protect)
				}
			}
			checkBool(t, db, "multiAz", s.cfg["mlflow-aws:dbMultiAz"] == "true")
			// An engine upgrade replaces the parameter group while the DB still uses the old one.
			if !g.one(t, typeParamGroup).RetainOnDelete {
				t.Errorf("DB parameter group is not retained on delete: replacing it on an engine upgrade would fail")
			}
			if db.number("backupRetentionPeriod") != num(t, s.cfg["mlflow-aws:dbBackupRetentionDays"]) {
				t.Errorf("backup retention = %v, want %s", db.number("backupRetentionPeriod"), s.cfg["mlflow-aws:dbBackupRetentionDays"])
			}
		})
	}
}

// TestStackFiles protects the intent of the two stack files.
func TestStackFiles(t *testing.T) {
	dev, prod := stackConfig(t, "dev"), stackConfig(t, "prod")
	if dev["mlflow-aws:protectData"] != "false" {
		t.Errorf("dev must be easy to tear down (protectData false)")
	}
	if prod["mlflow-aws:protectData"] != "true" || prod["mlflow-aws:dbMultiAz"] != "true" || num(t, prod["mlflow-aws:dbBackupRetentionDays"]) < 14 {
		t.Errorf("prod must be protected, Multi-AZ, with at least 14 days of backups")
	}
	if len(list(t, prod["mlflow-aws:allowedCidrs"])) != 0 || len(list(t, dev["mlflow-aws:allowedCidrs"])) != 0 {
		t.Errorf("stack files must not open port 5000 by default")
	}
}

// TestGoldenUserData keeps the rendered user data of each stack under userdata/testdata/, so
// reviewers see every change to what runs on the instance, and checks that the instance's
// user-data-sha256 tag (what a preview shows) is the digest of that file. Regenerate with
// -update.
func TestGoldenUserData(t *testing.T) {
	for _, s := range scenarios(t)[:2] {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			inst := g.one(t, typeInstance)
			got := inst.userData()
			path := filepath.Join("userdata", "testdata", s.name+".cloud-config.yaml")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v (run `make golden` to create it)", path, err)
			}
			if string(want) != got {
				t.Errorf("%s: rendered user data differs from the golden file; review and run `make golden`", path)
			}
			if tag := inst.str("tags." + components.TagUserDataDigest); tag != userdata.Digest(string(want)) {
				t.Errorf("tag %s = %q, want the digest of %s, %q", components.TagUserDataDigest, tag, path, userdata.Digest(string(want)))
			}
		})
	}
}

// TestProgramRunsWithExports runs the real entry point (with ctx.Export) for both stacks.
func TestProgramRunsWithExports(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		m := &mocks{stack: stack, region: "us-east-1"}
		cfg := stackConfig(t, stack)
		err := pulumiRun(program, stack, m, cfg)
		if err != nil {
			t.Errorf("%s: program: %v", stack, err)
		}
		if len(m.resources) < 20 {
			t.Errorf("%s: program registered only %d resources", stack, len(m.resources))
		}
	}
}

func checkStr(t *testing.T, r recorded, path, want string) {
	t.Helper()
	if got := r.str(path); got != want {
		t.Errorf("%s %s: %s = %q, want %q", r.Type, r.Name, path, got, want)
	}
}

func checkBool(t *testing.T, r recorded, path string, want bool) {
	t.Helper()
	got, ok := r.boolean(path)
	if !ok || got != want {
		t.Errorf("%s %s: %s = %v (set: %v), want %v", r.Type, r.Name, path, got, ok, want)
	}
}

func num(t testing.TB, s string) float64 {
	var f float64
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return f
}

func list(t testing.TB, s string) []string {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		t.Fatalf("not a JSON list: %q", s)
	}
	return l
}

// TestBadConfigRegistersNothing: invalid config fails the program before any resource exists,
// with every problem named.
func TestBadConfigRegistersNothing(t *testing.T) {
	cfg := stackConfig(t, "prod")
	cfg["mlflow-aws:dbInstanceIdentifier"] = "mlflow_db"
	cfg["mlflow-aws:allowedCidrs"] = `["0.0.0.0/0"]`
	cfg["mlflow-aws:artifactAccess"] = "s3"
	g := runStack(t, "prod", cfg)
	if g.err == nil {
		t.Fatal("bad config accepted")
	}
	for _, k := range []string{"mlflow-aws:dbInstanceIdentifier", "mlflow-aws:allowedCidrs", "mlflow-aws:artifactAccess"} {
		if !strings.Contains(g.err.Error(), k) {
			t.Errorf("error does not name %s: %v", k, g.err)
		}
	}
	if len(g.resources) != 0 || len(g.invokes) != 0 {
		t.Errorf("bad config still registered %d resources and made %d invokes", len(g.resources), len(g.invokes))
	}
}

// TestUnknownKeyIsRefused: a misspelled key of this program's namespace (which the CLI passes
// through PULUMI_CONFIG without complaint) fails the program before any resource exists.
func TestUnknownKeyIsRefused(t *testing.T) {
	cfg := stackConfig(t, "prod")
	cfg["mlflow-aws:dbMultiAZ"] = "true"
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PULUMI_CONFIG", string(raw))
	g := runStack(t, "prod", cfg)
	if g.err == nil || !strings.Contains(g.err.Error(), "mlflow-aws:dbMultiAZ") || !strings.Contains(g.err.Error(), "did you mean mlflow-aws:dbMultiAz") {
		t.Fatalf("misspelled key not refused with a suggestion: %v", g.err)
	}
	if len(g.resources) != 0 {
		t.Errorf("%d resources registered despite the bad key", len(g.resources))
	}
	delete(cfg, "mlflow-aws:dbMultiAZ")
	raw, _ = json.Marshal(cfg)
	t.Setenv("PULUMI_CONFIG", string(raw))
	if g := runStack(t, "prod", cfg); g.err != nil {
		t.Errorf("the real prod config with PULUMI_CONFIG set fails: %v", g.err)
	}
}

// TestPulumiYamlDeclaresEveryKey keeps Pulumi.yaml (what `pulumi config` users see) and the
// program's keys in step: each key declared once, with a type, a default and a description.
func TestPulumiYamlDeclaresEveryKey(t *testing.T) {
	var project struct {
		Name    string `yaml:"name"`
		Runtime any    `yaml:"runtime"`
		Config  map[string]struct {
			Type        string `yaml:"type"`
			Default     any    `yaml:"default"`
			Description string `yaml:"description"`
		} `yaml:"config"`
	}
	readYAML(t, "Pulumi.yaml", &project)
	if project.Name != "mlflow-aws" {
		t.Errorf("project name %q, want mlflow-aws", project.Name)
	}
	declared := slices.Sorted(maps.Keys(project.Config))
	want := slices.Sorted(slices.Values(config.Keys))
	if !slices.Equal(declared, want) {
		t.Errorf("Pulumi.yaml declares %v, the program reads %v", declared, want)
	}
	for k, d := range project.Config {
		if d.Type == "" || d.Default == nil || d.Description == "" {
			t.Errorf("Pulumi.yaml config %s needs type, default and description", k)
		}
	}
}

// TestReadmeConfigTable keeps README's configuration table in step with Pulumi.yaml: one row per
// key, with its type and default.
func TestReadmeConfigTable(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Config map[string]struct {
			Type    string `yaml:"type"`
			Default any    `yaml:"default"`
		} `yaml:"config"`
	}
	readYAML(t, "Pulumi.yaml", &project)
	for k, d := range project.Config {
		def := engineValue(t, d.Default)
		if def == "" {
			def = `""`
		}
		row := "| `" + k + "` | " + d.Type + " | `" + def + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README lacks the row %q", row)
		}
	}
}
