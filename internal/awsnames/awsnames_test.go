package awsnames

import (
	"strings"
	"testing"
)

// TestPartitionAndCABundle: each supported region maps to its partition and that partition's
// RDS global bundle; regions of other partitions are refused, naming why.
func TestPartitionAndCABundle(t *testing.T) {
	for region, want := range map[string][2]string{
		"us-east-1":      {PartitionCommercial, RDSCABundleURLCommercial},
		"eu-west-1":      {PartitionCommercial, RDSCABundleURLCommercial},
		"ap-southeast-5": {PartitionCommercial, RDSCABundleURLCommercial},
		"il-central-1":   {PartitionCommercial, RDSCABundleURLCommercial},
		"mx-central-1":   {PartitionCommercial, RDSCABundleURLCommercial},
		"us-gov-west-1":  {PartitionGovCloud, RDSCABundleURLGovCloud},
		"us-gov-east-1":  {PartitionGovCloud, RDSCABundleURLGovCloud},
		"cn-north-1":     {PartitionChina, RDSCABundleURLChina},
		"cn-northwest-1": {PartitionChina, RDSCABundleURLChina},
	} {
		p, err := Partition(region)
		u, uerr := RDSCABundleURL(region)
		if err != nil || uerr != nil || p != want[0] || u != want[1] {
			t.Errorf("%s: partition %q (%v), bundle %q (%v); want %v", region, p, err, u, uerr, want)
		}
	}
	for region, why := range map[string]string{
		"eusc-de-east-1": "aws-eusc", "us-iso-east-1": "ISO", "us-isob-east-1": "ISO", "eu-isoe-west-1": "ISO",
		"us-isof-south-1": "ISO", "xx-east-1": "no AWS partition", "useast1": "not an AWS region",
	} {
		if _, err := Partition(region); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Partition(%q) = %v, want an error saying %q", region, err, why)
		}
		if _, err := RDSCABundleURL(region); err == nil {
			t.Errorf("RDSCABundleURL(%q) gave a bundle", region)
		}
	}
}

// TestNamesFollowTheirRules: representatives of each rule, legal and not.
func TestNamesFollowTheirRules(t *testing.T) {
	for _, c := range []struct {
		name  string
		check func(string) error
		good  []string
		bad   []string
	}{
		{"DB instance identifier", CheckDBInstanceIdentifier,
			[]string{"mlflow-db", "A", strings.Repeat("a", 63), "Team-MLflow-1"},
			[]string{"mlflow_db", "", "1abc", "a--b", "abc-", strings.Repeat("a", 64), "a b", "my.db"}},
		{"S3 bucket", CheckS3BucketName,
			[]string{"my-bucket-1", "abc", "team-a.prod-artifacts", strings.Repeat("a", 63)},
			[]string{"ab", "My-Bucket", "a..b", "192.168.1.1", "xn--x", "sthree-x", "x-s3alias", "-a", "a-"}},
		{"artifact bucket", CheckBucketName,
			[]string{"my-bucket-1", "abc"},
			[]string{"team-a.prod-artifacts", "a..b", "Bad"}},
		{"SSM parameter name", CheckSSMParameterName,
			[]string{"/mlflow-aws/dev/db-password", "plain_name", "/a.b/c-d"},
			[]string{"", "/aws/x", "/ssm/x", "awsx", "a/b", "/a//b", "/a/", "/a b", strings.Repeat("a", 1012)}},
		{"host:port", CheckHostPort,
			[]string{"localhost", "mlflow.example.com:443", "203.0.113.10:5000", strings.Repeat("a", 63) + ".com"},
			[]string{"", "*.x", "https://x", "[::1]:5000", "x:0", "x:65536", "x:05", "999.1.1.1", "a b",
				"MLflow.Example.com", "HOST:5000", "mlflow.example.com.", "mlflow.example.com.:443", "x/y", "http://h:5000"}},
	} {
		for _, g := range c.good {
			if err := c.check(g); err != nil {
				t.Errorf("%s %q refused: %v", c.name, g, err)
			}
		}
		for _, b := range c.bad {
			if c.check(b) == nil {
				t.Errorf("%s %q accepted", c.name, b)
			}
		}
	}
	for _, it := range []string{"t3.micro", "m7i-flex.large", "u-6tb1.metal", "m7i.metal-24xl", "u7i-12tb.224xlarge", "mac2-m2pro.metal"} {
		if !IsInstanceType(it) {
			t.Errorf("instance type %q refused", it)
		}
	}
	for _, it := range []string{"", "t3", "T3.MICRO", "t3.micro;rm", "db.t3.micro.x", "m7i.metal-", "m7i.-24xl"} {
		if IsInstanceType(it) {
			t.Errorf("instance type %q accepted", it)
		}
	}
}

// TestFinalSnapshotIdentifierIsLegalAndUnique: any legal identifier with any suffix gives a
// legal snapshot identifier, and different suffixes give different identifiers.
func TestFinalSnapshotIdentifierIsLegalAndUnique(t *testing.T) {
	for _, id := range []string{"a", "mlflow-aws-dev", strings.Repeat("a", 63), strings.Repeat("ab-", 20) + "c", "Team-MLflow-Store"} {
		x, y := FinalSnapshotIdentifier(id, "0a1b2c3d"), FinalSnapshotIdentifier(id, "ffffffff")
		for _, s := range []string{x, y} {
			if err := CheckRDSName("DB snapshot identifier", s, MaxDBInstanceIdentifierLen); err != nil {
				t.Errorf("FinalSnapshotIdentifier(%q): %v", id, err)
			}
		}
		if x == y {
			t.Errorf("FinalSnapshotIdentifier(%q) ignores the suffix", id)
		}
	}
}

// TestNormalize: any string becomes letters, digits and single hyphens; legal names are kept.
func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"dev_1": "dev-1", "my.stack": "my-stack", "a--b": "a-b", "x-": "x", "Dev": "Dev", "prod": "prod", "_": ""} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckHostPortSaysWhatToWrite: the messages for a URL, upper case and a trailing dot say
// what is wrong (not "a port that is not 1..65535") and, for case, the value to write instead.
func TestCheckHostPortSaysWhatToWrite(t *testing.T) {
	for h, want := range map[string]string{
		"http://mlflow.example.com": "is a URL or path",
		"MLflow.Example.com:443":    `write "mlflow.example.com:443"`,
		"mlflow.example.com.":       "ends in a dot",
	} {
		if err := CheckHostPort(h); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckHostPort(%q) = %v, want it to say %q", h, err, want)
		}
	}
}
