package components

import (
	"slices"
	"testing"
)

// TestArchitecture: Graviton families run the arm64 AMI, everything else x86_64.
func TestArchitecture(t *testing.T) {
	for typ, want := range map[string]string{
		"t4g.micro": "arm64", "m7g.large": "arm64", "c7gn.xlarge": "arm64", "r8g.medium": "arm64",
		"m6gd.large": "arm64", "x2gd.xlarge": "arm64", "g5g.xlarge": "arm64", "im4gn.large": "arm64", "a1.medium": "arm64",
		"t3.micro": "x86_64", "t3a.small": "x86_64", "m7i-flex.large": "x86_64", "c7a.large": "x86_64",
		"g5.xlarge": "x86_64", "inf2.xlarge": "x86_64", "m5.large": "x86_64", "p5.48xlarge": "x86_64",
	} {
		if got := Architecture(typ); got != want {
			t.Errorf("Architecture(%q) = %q, want %q", typ, got, want)
		}
	}
	if got := AMIParameterName("arm64"); got != "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64" {
		t.Errorf("AMIParameterName = %q", got)
	}
}

// TestPartition: managed policy ARNs follow the region's partition.
func TestPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "arn:aws:iam::aws:policy/X", "cn-north-1": "arn:aws-cn:iam::aws:policy/X",
		"us-gov-west-1": "arn:aws-us-gov:iam::aws:policy/X", "eu-west-1": "arn:aws:iam::aws:policy/X",
	} {
		if got := ManagedPolicyArn(region, "X"); got != want {
			t.Errorf("ManagedPolicyArn(%q) = %q, want %q", region, got, want)
		}
	}
}

// TestAllowedHosts (case C7): every host is allowed bare and with the port; empty ones skipped.
func TestAllowedHosts(t *testing.T) {
	got := AllowedHosts(5000, "localhost", "", "203.0.113.10")
	want := []string{"localhost", "localhost:5000", "203.0.113.10", "203.0.113.10:5000"}
	if !slices.Equal(got, want) {
		t.Errorf("AllowedHosts = %v, want %v", got, want)
	}
}
