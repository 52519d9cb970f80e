package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/mlflow-aws/mlflow-aws/userdata"
	"gopkg.in/yaml.v3"
)

// The test harness: it loads the real stack configuration (Pulumi.yaml defaults, then
// Pulumi.<stack>.yaml), runs deploy under pulumi.WithMocks, and records every registered
// resource and stack output. Mocks answer like the AWS and random providers do.

const (
	mockAccount   = "123456789012"
	mockVpc       = "vpc-0a1b2c3d4e5f60718"
	mockAMI       = "ami-0123456789abcdef0"
	mockPublicIP  = "203.0.113.10"
	mockPrivateIP = "172.31.16.10" // the fixed network interface's
	// mockInstancePrivateIP is what the mock gives the instance itself: a tracking URI built
	// from it (not from the interface) would differ from mockPrivateIP.
	mockInstancePrivateIP = "172.31.16.99"
	// mockPassword is what the random provider "generates": it holds every special character
	// the program allows, so any leak or mis-escaping is visible.
	mockPassword = "Aa1!#$%&*()-_=+[]{}<>:?^~.,;|Zz9"
	// mockRandomHex is the hex the random provider "draws" for a RandomId of 4 bytes.
	mockRandomHex = "0a0b0c0d"
)

// mockLatestAMI is the AMI the public Amazon Linux parameter names; a test may set it to a
// newer release (and restore it) to see what a new AMI does to a stack.
var mockLatestAMI = mockAMI

var mockSubnets = []string{"subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0ccccccccccccccc3"}

// stackConfig returns the config map the Pulumi CLI would hand the program for a stack:
// Pulumi.yaml's declared defaults overlaid with Pulumi.<stack>.yaml, each value as the
// engine passes it (scalars as text, lists and objects as JSON).
func stackConfig(t testing.TB, stack string) map[string]string {
	t.Helper()
	cfg := projectDefaults(t)
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	readYAML(t, "Pulumi."+stack+".yaml", &file)
	for k, v := range file.Config {
		cfg[k] = engineValue(t, v)
	}
	return cfg
}

// projectDefaults returns the default of every key Pulumi.yaml declares.
func projectDefaults(t testing.TB) map[string]string {
	t.Helper()
	var project struct {
		Name   string `yaml:"name"`
		Config map[string]struct {
			Type    string `yaml:"type"`
			Default any    `yaml:"default"`
		} `yaml:"config"`
	}
	readYAML(t, "Pulumi.yaml", &project)
	cfg := map[string]string{}
	for k, decl := range project.Config {
		cfg[project.Name+":"+k] = engineValue(t, decl.Default)
	}
	return cfg
}

func readYAML(t testing.TB, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

func engineValue(t testing.TB, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			t.Fatalf("config value %v: %v", v, err)
		}
		return string(b)
	}
}

// recorded is one registered resource.
type recorded struct {
	Type, Name, URN, Parent string
	Custom, Protect         bool
	RetainOnDelete          bool
	Inputs                  resource.PropertyMap
	Dependencies            []string
	ReplaceOnChanges        []string
	IgnoreChanges           []string
	DeleteBeforeReplace     bool
}

// input returns the input at a dotted path ("metadataOptions.httpTokens"), unwrapping secrets.
func (r recorded) input(path string) resource.PropertyValue {
	v := resource.NewObjectProperty(r.Inputs)
	for _, k := range strings.Split(path, ".") {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsObject() {
			return resource.NewNullProperty()
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// userData returns the instance's #cloud-config document, decoded from userDataBase64
// (gzip + base64); "" when missing or undecodable.
func (r recorded) userData() string {
	doc, err := userdata.DecodeFromEC2(r.str("userDataBase64"))
	if err != nil {
		return ""
	}
	return doc
}

func (r recorded) str(path string) string {
	v := r.input(path)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func (r recorded) boolean(path string) (bool, bool) {
	v := r.input(path)
	if v.IsBool() {
		return v.BoolValue(), true
	}
	return false, false
}

func (r recorded) number(path string) float64 {
	v := r.input(path)
	if v.IsNumber() {
		return v.NumberValue()
	}
	return -1
}

// mocks implements pulumi.MockResourceMonitor like the AWS and random providers.
type mocks struct {
	stack     string
	region    string
	mu        sync.Mutex
	resources []recorded
	invokes   []string
	// deployed is the MLflow release the stack's SSM record holds (getParametersByPath under
	// /<project>/<stack>/deployed); "" answers an empty path, as on a first deploy.
	// deployedFrontDoor is its front-door record ("true", "false", or "" for none).
	deployed, deployedFrontDoor string
	// zoneName and privateZone describe the Route 53 hosted zone getZone finds (zoneName ""
	// answers "example.com.", a public zone holding the tests' domain).
	zoneName    string
	privateZone bool
}

func fakeID(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + hex.EncodeToString(sum[:])[:17]
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	rec := recorded{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs}
	if rpc != nil {
		rec.Parent = rpc.GetParent()
		rec.Protect = rpc.GetProtect()
		rec.RetainOnDelete = rpc.GetRetainOnDelete()
		rec.Dependencies = rpc.GetDependencies()
		rec.ReplaceOnChanges = rpc.GetReplaceOnChanges()
		rec.IgnoreChanges = rpc.GetIgnoreChanges()
		rec.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
	}
	// The URN as the mock monitor forms it.
	parentType := tokens.Type("")
	if p := resource.URN(rec.Parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	rec.URN = string(resource.NewURN(tokens.QName(m.stack), "mlflow-aws", parentType, tokens.Type(args.TypeToken), args.Name))
	out := args.Inputs.Copy()
	id := args.Name + "-id"
	set := func(k string, v any) { out[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	str := func(k string) string {
		v := args.Inputs[resource.PropertyKey(k)]
		if v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	switch args.TypeToken {
	case "random:index/randomPassword:RandomPassword":
		// The provider returns result (and bcryptHash) as secrets.
		out["result"] = resource.MakeSecret(resource.NewStringProperty(mockPassword))
		out["bcryptHash"] = resource.MakeSecret(resource.NewStringProperty("$2a$10$mock"))
	case "random:index/randomId:RandomId":
		set("hex", mockRandomHex)
		set("b64Std", "CgsMDQ==")
		set("b64Url", "CgsMDQ")
		set("dec", "168496141")
	case "aws:s3/bucketV2:BucketV2":
		bucket := str("bucket")
		if bucket == "" {
			bucket = str("bucketPrefix") + "20261130103300000000000001"
		}
		id = bucket
		set("bucket", bucket)
		set("arn", "arn:aws:s3:::"+bucket)
	case "aws:ssm/parameter:Parameter":
		id = str("name")
		set("arn", fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", m.region, mockAccount, strings.TrimPrefix(str("name"), "/")))
		set("version", 1)
	case "aws:rds/instance:Instance":
		ident := str("identifier")
		id = ident
		address := fmt.Sprintf("%s.c0abcdefghij.%s.rds.amazonaws.com", ident, m.region)
		set("address", address)
		set("port", 5432)
		set("endpoint", address+":5432")
		set("arn", fmt.Sprintf("arn:aws:rds:%s:%s:db:%s", m.region, mockAccount, ident))
	case "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup",
		"aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile":
		// Auto-named: the logical name plus a random suffix.
		name := args.Name + "-a1b2c3d"
		id = name
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:iam::%s:%s", mockAccount, name))
	case "aws:ec2/securityGroup:SecurityGroup":
		id = fakeID("sg-", args.Name)
		set("arn", fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", m.region, mockAccount, id))
	case "aws:ec2/eip:Eip":
		id = fakeID("eipalloc-", args.Name)
		set("allocationId", id)
		set("publicIp", mockPublicIP)
		set("publicDns", "ec2-"+strings.ReplaceAll(mockPublicIP, ".", "-")+".compute-1.amazonaws.com")
	case "aws:cloudwatch/logGroup:LogGroup":
		id = str("name")
		set("arn", fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", m.region, mockAccount, str("name")))
	case "aws:sns/topic:Topic":
		name := args.Name + "-a1b2c3d"
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:sns:%s:%s:%s", m.region, mockAccount, name))
		id = fmt.Sprintf("arn:aws:sns:%s:%s:%s", m.region, mockAccount, name)
	case "aws:cloudwatch/metricAlarm:MetricAlarm":
		name := args.Name + "-a1b2c3d"
		id = name
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", m.region, mockAccount, name))
	case "aws:ec2/instance:Instance":
		id = fakeID("i-", args.Name)
		set("privateIp", mockInstancePrivateIP)
		set("arn", fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", m.region, mockAccount, id))
	case "aws:ec2/networkInterface:NetworkInterface":
		id = fakeID("eni-", args.Name)
		set("privateIp", mockPrivateIP)
		set("privateIps", []string{mockPrivateIP})
	case "aws:ec2/launchTemplate:LaunchTemplate":
		id = fakeID("lt-", args.Name)
		set("latestVersion", 1)
		set("arn", fmt.Sprintf("arn:aws:ec2:%s:%s:launch-template/%s", m.region, mockAccount, id))
	case "aws:autoscaling/group:Group":
		name := str("namePrefix") + "20261130103300000000000001"
		id = name
		set("name", name)
		set("arn", fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:uuid:autoScalingGroupName/%s", m.region, mockAccount, name))
	case "aws:lb/loadBalancer:LoadBalancer":
		suffix := "app/" + str("namePrefix") + "20261130103300000000000001/50dc6c495c0c9188"
		id = fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/%s", m.region, mockAccount, suffix)
		set("arn", id)
		set("arnSuffix", suffix)
		set("dnsName", str("namePrefix")+"20261130103300000000000001-1234567890."+m.region+".elb.amazonaws.com")
		set("zoneId", "Z35SXDOTRQ7X7K")
	case "aws:lb/targetGroup:TargetGroup":
		suffix := "targetgroup/" + str("namePrefix") + "20261130103300000000000001/73e2d6bc24d8a067"
		id = fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:%s", m.region, mockAccount, suffix)
		set("arn", id)
		set("arnSuffix", suffix)
	case "aws:lb/listener:Listener":
		id = fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:listener/%s", m.region, mockAccount, args.Name)
		set("arn", id)
	case "aws:acm/certificate:Certificate":
		id = fmt.Sprintf("arn:aws:acm:%s:%s:certificate/%s", m.region, mockAccount, fakeID("", args.Name))
		set("arn", id)
		set("domainValidationOptions", []map[string]any{{
			"domainName": str("domainName"), "resourceRecordName": "_0123456789abcdef." + str("domainName") + ".",
			"resourceRecordType": "CNAME", "resourceRecordValue": "_fedcba9876543210.acm-validations.aws.",
		}})
	case "aws:acm/certificateValidation:CertificateValidation":
		id = str("certificateArn")
	case "aws:route53/record:Record":
		id = str("zoneId") + "_" + str("name") + "_" + str("type")
		set("fqdn", strings.TrimSuffix(str("name"), "."))
	}
	m.mu.Lock()
	m.resources = append(m.resources, rec)
	m.mu.Unlock()
	return id, out, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	call := args.Token
	if name, ok := args.Args["name"]; ok && name.IsString() {
		call += " " + name.StringValue()
	}
	m.invokes = append(m.invokes, call)
	m.mu.Unlock()
	switch args.Token {
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": mockAccount, "accountId": mockAccount, "userId": "AROAEXAMPLE:deploy",
			"arn": "arn:aws:sts::" + mockAccount + ":assumed-role/deploy/deploy",
		}), nil
	case "aws:ec2/getVpc:getVpc":
		return resource.NewPropertyMapFromMap(map[string]any{"id": mockVpc, "cidrBlock": "172.31.0.0/16"}), nil
	case "aws:ec2/getSubnets:getSubnets":
		ids := mockSubnets
		// Filtered by Availability Zone: the first subnet's zone does not offer the type.
		if strings.Contains(fmt.Sprint(args.Args), "availability-zone") {
			ids = mockSubnets[1:]
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": m.region, "ids": ids}), nil
	case "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": m.region, "locations": []string{m.region + "b", m.region + "c"},
			"instanceTypes": []string{"t3.micro", "t3.micro"}, "locationTypes": []string{"availability-zone", "availability-zone"},
		}), nil
	case "aws:elb/getServiceAccount:getServiceAccount":
		// us-east-1's Elastic Load Balancing account (Regions opened before August 2022).
		return resource.NewPropertyMapFromMap(map[string]any{"id": "127311923021", "arn": "arn:aws:iam::127311923021:root"}), nil
	case "aws:route53/getZone:getZone":
		name := m.zoneName
		if name == "" {
			name = "example.com."
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": args.Args["zoneId"].StringValue(), "zoneId": args.Args["zoneId"].StringValue(),
			"name": name, "privateZone": m.privateZone}), nil
	case "aws:ssm/getParametersByPath:getParametersByPath":
		path := args.Args["path"].StringValue()
		names, values := []string{}, []string{}
		if m.deployed != "" && path == "/mlflow-aws/"+m.stack+"/deployed" {
			names, values = []string{path + "/mlflow-version"}, []string{m.deployed}
			if m.deployedFrontDoor != "" {
				names, values = append(names, path+"/front-door"), append(values, m.deployedFrontDoor)
			}
		}
		return resource.NewPropertyMapFromMap(map[string]any{"id": path, "path": path, "names": names, "values": values,
			"types": []string{}, "arns": []string{}}), nil
	case "aws:ssm/getParameter:getParameter":
		name := args.Args["name"].StringValue()
		return resource.NewPropertyMapFromMap(map[string]any{
			"id": name, "name": name, "type": "String", "value": mockLatestAMI, "insecureValue": mockLatestAMI,
			"arn": "arn:aws:ssm:" + m.region + "::parameter" + name, "version": 1,
		}), nil
	}
	return nil, fmt.Errorf("mock: unexpected invoke %s", args.Token)
}

// graph is what one run registered.
type graph struct {
	stack     string
	resources []recorded
	invokes   []string
	outputs   map[string]string
	secret    map[string]bool // outputs that are secret
	err       error
}

// byType returns the resources of one type token, in registration order.
func (g *graph) byType(typ string) []recorded {
	var out []recorded
	for _, r := range g.resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// one returns the single resource of a type, failing the test otherwise.
func (g *graph) one(t testing.TB, typ string) recorded {
	t.Helper()
	rs := g.byType(typ)
	if len(rs) != 1 {
		t.Fatalf("%s: want exactly one %s, got %d", g.stack, typ, len(rs))
	}
	return rs[0]
}

// owned returns the single resource of a type whose parent is the single component of token
// tok (e.g. the backend store's RandomPassword among the auth component's), failing otherwise.
func (g *graph) owned(t testing.TB, typ, tok string) recorded {
	t.Helper()
	owner := g.one(t, tok).URN
	var out []recorded
	for _, r := range g.byType(typ) {
		if r.Parent == owner {
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%s: want exactly one %s in %s, got %d", g.stack, typ, tok, len(out))
	}
	return out[0]
}

// ownedBy returns every resource of a type whose parent is the component of token tok (none
// when the component is absent).
func (g *graph) ownedBy(typ, tok string) []recorded {
	var owners []string
	for _, r := range g.byType(tok) {
		owners = append(owners, r.URN)
	}
	var out []recorded
	for _, r := range g.byType(typ) {
		if slices.Contains(owners, r.Parent) {
			out = append(out, r)
		}
	}
	return out
}

// runStack runs deploy for a stack under mocks with the given config map.
func runStack(t testing.TB, stack string, cfg map[string]string) *graph {
	t.Helper()
	return runStackDeployed(t, stack, cfg, "")
}

// runStackDeployed is runStack on a stack whose SSM record says MLflow deployed was deployed
// last ("" for none).
func runStackDeployed(t testing.TB, stack string, cfg map[string]string, deployed string) *graph {
	t.Helper()
	return runStackRecords(t, stack, cfg, deployed, "")
}

// runStackRecords is runStackDeployed with the front-door record frontDoor too ("" for none).
func runStackRecords(t testing.TB, stack string, cfg map[string]string, deployed, frontDoor string) *graph {
	t.Helper()
	return runStackMocks(t, stack, cfg, &mocks{deployed: deployed, deployedFrontDoor: frontDoor})
}

// runStackMocks is runStack with the account's state in m (its stack and region are set here).
func runStackMocks(t testing.TB, stack string, cfg map[string]string, m *mocks) *graph {
	t.Helper()
	m.stack, m.region = stack, cfg["aws:region"]
	if m.region == "" {
		m.region = "us-east-1"
	}
	g := &graph{stack: stack, outputs: map[string]string{}, secret: map[string]bool{}}
	withConfig := func(info *pulumi.RunInfo) { info.Config = cfg }
	g.err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		exported := map[string]pulumi.Output{}
		if err := deploy(ctx, func(name string, value pulumi.Input) {
			exported[name] = pulumi.ToOutput(value)
		}); err != nil {
			return err
		}
		for name, out := range exported {
			res, err := internals.UnsafeAwaitOutput(context.Background(), out)
			if err != nil {
				return fmt.Errorf("output %s: %w", name, err)
			}
			g.outputs[name] = fmt.Sprint(res.Value)
			g.secret[name] = res.Secret
		}
		return nil
	}, pulumi.WithMocks("mlflow-aws", stack, m), withConfig)
	m.mu.Lock()
	defer m.mu.Unlock()
	g.resources = m.resources
	g.invokes = m.invokes
	return g
}

// pulumiRun runs a program function under the mocks with a config map.
func pulumiRun(body pulumi.RunFunc, stack string, m *mocks, cfg map[string]string) error {
	return pulumi.RunErr(body, pulumi.WithMocks("mlflow-aws", stack, m), func(info *pulumi.RunInfo) { info.Config = cfg })
}

func keyOf(s string) resource.PropertyKey { return resource.PropertyKey(s) }

func propertyOf(v any) resource.PropertyValue { return resource.NewPropertyValue(v) }

func propertyMapOf(m map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(m) }
