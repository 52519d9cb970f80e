package components

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

// TestArchitecture: Graviton families run the arm64 AMI, everything else x86_64.
func TestArchitecture(t *testing.T) {
	for typ, want := range map[string]string{
		"t4g.micro": "arm64", "m7g.large": "arm64", "c7gn.xlarge": "arm64", "r8g.medium": "arm64",
		"m6gd.large": "arm64", "x2gd.xlarge": "arm64", "g5g.xlarge": "arm64", "im4gn.large": "arm64", "a1.medium": "arm64",
		"x8g.metal-24xl": "arm64",
		"t3.micro":       "x86_64", "t3a.small": "x86_64", "m7i-flex.large": "x86_64", "c7a.large": "x86_64",
		"g5.xlarge": "x86_64", "inf2.xlarge": "x86_64", "m5.large": "x86_64", "p5.48xlarge": "x86_64", "m7i.metal-24xl": "x86_64",
	} {
		if got := Architecture(typ); got != want {
			t.Errorf("Architecture(%q) = %q, want %q", typ, got, want)
		}
	}
	if got := AMIParameterName("arm64"); got != "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64" {
		t.Errorf("AMIParameterName = %q", got)
	}
}

// TestManagedPolicyArn: managed policy ARNs carry the partition they are given.
func TestManagedPolicyArn(t *testing.T) {
	for partition, want := range map[string]string{
		"aws": "arn:aws:iam::aws:policy/X", "aws-cn": "arn:aws-cn:iam::aws:policy/X", "aws-us-gov": "arn:aws-us-gov:iam::aws:policy/X",
	} {
		if got := ManagedPolicyArn(partition, "X"); got != want {
			t.Errorf("ManagedPolicyArn(%q) = %q, want %q", partition, got, want)
		}
	}
}

// TestLaunchAllowsEveryAddressOfTheServer: the launch's allowed hosts hold localhost and
// 127.0.0.1 (the port forward), the Elastic IP and its DNS name, each bare and with the port,
// then the configured extra hosts as given.
func TestLaunchAllowsEveryAddressOfTheServer(t *testing.T) {
	args := &TrackingServerArgs{AllowedHosts: []string{"mlflow.example.com:443"}, ArtifactAccess: mlflowspec.ArtifactAccessProxied}
	p := launchParams(args, "db", 5432, "/p", "s3://b/artifacts", "203.0.113.10", "ec2-203-0-113-10.compute-1.amazonaws.com")
	want := []string{"localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "203.0.113.10", "203.0.113.10:5000",
		"ec2-203-0-113-10.compute-1.amazonaws.com", "ec2-203-0-113-10.compute-1.amazonaws.com:5000", "mlflow.example.com:443"}
	if !slices.Equal(p.AllowedHosts, want) {
		t.Errorf("allowed hosts = %v, want %v", p.AllowedHosts, want)
	}
	if p.ArtifactAccess != "proxied" || p.Port != TrackingPort || p.DatabaseName != DatabaseName || p.DatabaseUser != DatabaseUser {
		t.Errorf("launch params %+v", p)
	}
}

// TestTrackingURI: the URI clients use follows who may reach the port, and is always http://.
func TestTrackingURI(t *testing.T) {
	for _, c := range []struct {
		open, private bool
		want          string
	}{
		{false, false, "http://localhost:5000"},
		{false, true, "http://localhost:5000"}, // nothing open: the forward, whatever the blocks
		{true, false, "http://203.0.113.10:5000"},
		{true, true, "http://172.31.16.10:5000"},
	} {
		if got := trackingURI(c.open, c.private, "203.0.113.10", "172.31.16.10"); got != c.want {
			t.Errorf("trackingURI(open %v, private %v) = %q, want %q", c.open, c.private, got, c.want)
		}
	}
}

// TestChooseInstanceSubnet: a configured list decides (its first subnet, binding); otherwise the
// smallest usable id, marked as the program's choice so the instance keeps its first placement.
func TestChooseInstanceSubnet(t *testing.T) {
	for _, c := range []struct {
		configured, usable []string
		want               string
		chosen             bool
	}{
		{[]string{"subnet-b", "subnet-a"}, []string{"subnet-0"}, "subnet-b", false},
		{nil, []string{"subnet-c", "subnet-b"}, "subnet-b", true},
		{nil, []string{"subnet-c", "subnet-b", "subnet-a"}, "subnet-a", true}, // a new subnet: chosen, but the instance keeps its state
		{nil, nil, "", true},
	} {
		got, chosen := chooseInstanceSubnet(c.configured, c.usable)
		if got != c.want || chosen != c.chosen {
			t.Errorf("chooseInstanceSubnet(%v, %v) = %q, %v; want %q, %v", c.configured, c.usable, got, chosen, c.want, c.chosen)
		}
	}
}

// TestOutputsAreDeclaredOnce: every tagged field of each component becomes one registered
// output under its tag, and the tags are the names the stack outputs and docs use.
func TestOutputsAreDeclaredOnce(t *testing.T) {
	for _, c := range []struct {
		component any
		want      []string
	}{
		{&TrackingServer{}, []string{"autoScalingGroupName", "instanceId", "loadBalancerArnSuffix", "loadBalancerDnsName", "portForwardCommand", "privateIp",
			"publicDns", "publicIp", "roleName", "securityGroupId", "targetGroupArnSuffix", "trackingUri"}},
		{&BackendStore{}, []string{"address", "databaseName", "passwordParameterArn", "passwordParameterName", "port", "securityGroupId", "username"}},
		{&ArtifactStore{}, []string{"artifactsUri", "bucketArn", "bucketName"}},
		{&ServerAuth{}, []string{"adminPasswordParameterName", "parameterPathArn", "secretKeyParameterArn", "secretKeyParameterName", "userPasswordParameterNames"}},
	} {
		var got []string
		for k := range outputsOf(c.component) {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%T outputs %v, want %v", c.component, got, c.want)
		}
	}
	var _ pulumi.ComponentResource = &TrackingServer{}
}

// TestPasswordAlphabetMatchesUserdataTests: the userdata tests prove that every password the
// generator can draw reaches PostgreSQL intact; they must use the generator's alphabet.
func TestPasswordAlphabetMatchesUserdataTests(t *testing.T) {
	b, err := os.ReadFile("../userdata/password_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if want := "const PasswordSpecialCharacters = \"" + PasswordSpecialCharacters + "\""; !strings.Contains(string(b), want) {
		t.Errorf("userdata/password_test.go lacks %s", want)
	}
	for _, c := range `/@" ` {
		if strings.ContainsRune(PasswordSpecialCharacters, c) {
			t.Errorf("PasswordSpecialCharacters contains %q, which RDS refuses in a master password", c)
		}
	}
}
