// Package awsnames holds the AWS naming rules the program's packages share: region names and
// their partition and Amazon RDS CA bundle, and the rules for S3 bucket names, RDS identifiers,
// SSM parameter names, host names and EC2 instance types. It imports nothing of this module, so
// internal/config, components and userdata can all use it.
package awsnames

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var regionPattern = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]+$`)

// IsRegion reports whether s has the shape of an AWS region name ("us-east-1",
// "us-gov-west-1", "eusc-de-east-1"); it does not check the region exists.
func IsRegion(s string) bool { return regionPattern.MatchString(s) }

// Partitions (AWS General Reference, "AWS partitions" / the ARN format).
const (
	PartitionCommercial = "aws"
	PartitionChina      = "aws-cn"
	PartitionGovCloud   = "aws-us-gov"
)

// commercialGeographies are the first segments of the region names of the aws partition
// (af-south-1, ap-*, ca-*, eu-*, il-central-1, me-*, mx-central-1, sa-east-1, us-*).
var commercialGeographies = []string{"af", "ap", "ca", "eu", "il", "me", "mx", "sa", "us"}

// The Amazon RDS global certificate bundles (every RDS CA of one partition), from the Amazon RDS
// User Guide, "Using SSL/TLS to encrypt a connection to a DB instance or cluster", sections
// "Certificate bundles for all AWS Regions" and "... for AWS GovCloud (US) Regions", and the
// China (docs.amazonaws.cn) edition of the same page.
const (
	RDSCABundleURLCommercial = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
	RDSCABundleURLGovCloud   = "https://truststore.pki.us-gov-west-1.rds.amazonaws.com/global/global-bundle.pem"
	RDSCABundleURLChina      = "https://rds-truststore.s3.cn-north-1.amazonaws.com.cn/global/global-bundle.pem"
)

// Partition returns the AWS partition of region: "aws-us-gov" for us-gov-*, "aws-cn" for cn-*,
// "aws" for the commercial geographies. Any other region (the ISO partitions us-iso-*,
// us-isob-*, eu-isoe-*, us-isof-*, the AWS European Sovereign Cloud eusc-*, or a name of no
// known partition) is an error: the program knows no Amazon RDS CA bundle and no managed-policy
// ARNs it could verify there, and would rather refuse than guess.
func Partition(region string) (string, error) {
	if !IsRegion(region) {
		return "", fmt.Errorf("%q is not an AWS region name like us-east-1", region)
	}
	switch geo, rest, _ := strings.Cut(region, "-"); {
	case geo == "us" && strings.HasPrefix(rest, "gov-"):
		return PartitionGovCloud, nil
	case geo == "us" && strings.HasPrefix(rest, "iso"), geo == "eu" && strings.HasPrefix(rest, "iso"):
		return "", fmt.Errorf("%q is in an AWS ISO partition; this program supports the aws, aws-cn and aws-us-gov partitions", region)
	case geo == "cn":
		return PartitionChina, nil
	case geo == "eusc":
		return "", fmt.Errorf("%q is in the AWS European Sovereign Cloud (partition aws-eusc), whose Amazon RDS CA bundle this program does not know; it supports the aws, aws-cn and aws-us-gov partitions", region)
	case slicesContains(commercialGeographies, geo):
		return PartitionCommercial, nil
	}
	return "", fmt.Errorf("%q belongs to no AWS partition this program knows (aws, aws-cn, aws-us-gov)", region)
}

// RDSCABundleURL returns the Amazon RDS global certificate bundle of region's partition. A global
// bundle (rather than the region's <region>/<region>-bundle.pem) holds the root and
// intermediate CAs of every region of the partition, so one URL per partition serves whichever
// RDS CA (rds-ca-rsa2048-g1, rds-ca-rsa4096-g1, rds-ca-ecc384-g1) the DB instance uses. It fails
// where Partition fails.
func RDSCABundleURL(region string) (string, error) {
	p, err := Partition(region)
	switch {
	case err != nil:
		return "", err
	case p == PartitionGovCloud:
		return RDSCABundleURLGovCloud, nil
	case p == PartitionChina:
		return RDSCABundleURLChina, nil
	}
	return RDSCABundleURLCommercial, nil
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MaxDBInstanceIdentifierLen is the longest RDS DB instance (and DB snapshot) identifier.
const MaxDBInstanceIdentifierLen = 63

// rdsIdentifierPattern: letters, digits or hyphens; first a letter (Amazon RDS User Guide,
// "Naming constraints in Amazon RDS").
var rdsIdentifierPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)

// CheckRDSName returns nil when id follows the naming rule RDS applies to DB instance
// identifiers, DB snapshot identifiers and DB parameter group names (Amazon RDS User Guide,
// "Naming constraints in Amazon RDS"): 1 to maxLen letters, digits or hyphens, first character
// a letter, no two consecutive hyphens, no trailing hyphen. what names the thing in the error.
func CheckRDSName(what, id string, maxLen int) error {
	switch {
	case id == "":
		return fmt.Errorf("%s must not be empty", what)
	case len(id) > maxLen:
		return fmt.Errorf("%q is %d characters; an RDS %s has at most %d", id, len(id), what, maxLen)
	case !rdsIdentifierPattern.MatchString(id):
		return fmt.Errorf("%q must start with a letter and contain only letters, digits and hyphens (RDS rejects e.g. underscores and dots in a %s)", id, what)
	case strings.Contains(id, "--"):
		return fmt.Errorf("%q must not contain two consecutive hyphens (RDS %s rule)", id, what)
	case strings.HasSuffix(id, "-"):
		return fmt.Errorf("%q must not end with a hyphen (RDS %s rule)", id, what)
	}
	return nil
}

// CheckDBInstanceIdentifier is CheckRDSName for a DB instance identifier (at most 63; RDS stores
// it in lowercase).
func CheckDBInstanceIdentifier(id string) error {
	return CheckRDSName("DB instance identifier", id, MaxDBInstanceIdentifierLen)
}

// FinalSnapshotSuffixLen is the length of the unique part of a final snapshot identifier.
const FinalSnapshotSuffixLen = 8

// finalSnapshotInfix separates the DB identifier from the unique suffix.
const finalSnapshotInfix = "-final-"

// FinalSnapshotIdentifier is the RDS final DB snapshot identifier taken when the protected
// database id is deleted: id, cut so the whole fits RDS's 63 characters, then "-final-" and
// unique, a string of FinalSnapshotSuffixLen lowercase hex digits that is different for every
// database the stack creates (the backend store draws it from pulumi-random and keeps it in the
// stack's state). Two deletions of databases with the same identifier (a stack recreated after
// a deletion) so never collide on DBSnapshotAlreadyExists. Snapshot identifiers follow the DB
// instance identifier rules; id must pass CheckDBInstanceIdentifier.
func FinalSnapshotIdentifier(id, unique string) string {
	keep := MaxDBInstanceIdentifierLen - len(finalSnapshotInfix) - len(unique)
	return strings.TrimRight(strings.ToLower(id)[:min(len(id), keep)], "-") + finalSnapshotInfix + unique
}

// Normalize turns s into letters, digits and single hyphens: every run of other characters
// becomes one hyphen, and hyphens at either end are dropped. Case is kept. A name that already
// follows the rule is returned unchanged, so normalising a legal name never renames a resource.
func Normalize(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
			hyphen = false
			continue
		}
		if !hyphen && b.Len() > 0 {
			b.WriteByte('-')
			hyphen = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// bucketPattern: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit (Amazon S3 User Guide, "General purpose bucket naming rules").
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// CheckS3BucketName returns nil when name is a legal S3 general purpose bucket name, else an
// error naming the rule it breaks (Amazon S3 User Guide, "General purpose bucket naming
// rules"): 3 to 63 characters; lowercase letters, digits, dots and hyphens; begins and ends with
// a letter or digit; no two adjacent periods; not an IPv4 address; not starting with "xn--",
// "sthree-" or "amzn-s3-demo-"; not ending with "-s3alias", "--ol-s3", ".mrap", "--x-s3" or
// "--table-s3".
func CheckS3BucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("%q is %d characters; S3 bucket names have 3 to 63", name, len(name))
	}
	if !bucketPattern.MatchString(name) {
		return fmt.Errorf("%q must use only lowercase letters, digits, dots and hyphens, and begin and end with a letter or digit", name)
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%q must not contain two adjacent periods", name)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("%q must not be formatted as an IP address", name)
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("%q must not start with the reserved prefix %q", name, p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return fmt.Errorf("%q must not end with the reserved suffix %q", name, s)
		}
	}
	return nil
}

// CheckBucketName is the artifact store's rule: CheckS3BucketName without dots, because a
// dotted name does not match the wildcard certificate of virtual-hosted-style HTTPS requests
// (Amazon S3 User Guide, "Virtual hosting of general purpose buckets").
func CheckBucketName(name string) error {
	if err := CheckS3BucketName(name); err != nil {
		return err
	}
	if strings.Contains(name, ".") {
		return fmt.Errorf("%q contains a dot; dotted bucket names break virtual-hosted-style TLS, use hyphens", name)
	}
	return nil
}

// MaxBucketPrefixLen is the longest prefix S3 bucket auto-naming (the provider's bucketPrefix)
// accepts: the provider appends a 26-character unique suffix to reach at most 63.
const MaxBucketPrefixLen = 37

// BucketNameSuffixLen is the length of the unique suffix the AWS provider appends to a
// bucketPrefix (a timestamp and counter, digits only).
const BucketNameSuffixLen = 26

// MaxSSMParameterNameLen is the longest SSM parameter name, including the path (AWS Systems
// Manager User Guide, "Parameter naming constraints": 1011 characters).
const MaxSSMParameterNameLen = 1011

var ssmNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.\-/]+$`)

// CheckSSMParameterName returns nil when n is a legal SSM parameter name (AWS Systems Manager
// User Guide, "Parameter naming constraints"): letters, digits and . - _ /; a hierarchical name
// starts with /, has no empty segment; at most 1011 characters; not beginning with "aws" or
// "ssm" (case-insensitive).
func CheckSSMParameterName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("SSM parameter name is empty; want a name like /mlflow-aws/dev/db-password")
	case len(n) > MaxSSMParameterNameLen:
		return fmt.Errorf("SSM parameter name %q is longer than %d characters", n, MaxSSMParameterNameLen)
	case !ssmNamePattern.MatchString(n):
		return fmt.Errorf("SSM parameter name %q may contain only letters, digits and . - _ /", n)
	case strings.Contains(n, "/") && !strings.HasPrefix(n, "/"):
		return fmt.Errorf("SSM parameter name %q is hierarchical and must start with /", n)
	case strings.Contains(n, "//") || strings.HasSuffix(n, "/"):
		return fmt.Errorf("SSM parameter name %q has an empty path segment", n)
	}
	first := strings.ToLower(strings.TrimPrefix(n, "/"))
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return fmt.Errorf("SSM parameter name %q may not begin with aws or ssm", n)
	}
	return nil
}

var labelPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// MaxHostNameLen is the longest DNS name in text form without the root dot (RFC 1035 2.3.4).
const MaxHostNameLen = 253

// IsHostName reports whether h is a DNS name of letters, digits and hyphens labels of at most 63
// characters, at most 253 in all (RFC 1035 2.3.1, RFC 1123 2.1), or a dotted IPv4 address.
func IsHostName(h string) bool {
	if h == "" || len(h) > MaxHostNameLen {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !labelPattern.MatchString(label) {
			return false
		}
	}
	// A dotted all-numeric name must be a real IPv4 address (rejects 999.1.1.1).
	if strings.Trim(h, "0123456789.") == "" {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Is4()
	}
	return true
}

// CheckHostPort returns nil when h is "host" or "host:port", host as IsHostName accepts, in lower
// case and without a trailing dot, and port 1 to 65535 in canonical decimal: the form of MLflow's
// --allowed-hosts entries (MLflow, "Protect Your Tracking Server from Network Exposure"). No
// scheme, path, wildcard or IPv6. MLflow compares the Host header with each entry exactly, and
// clients send host names lower-cased and without the root dot (RFC 9110, section 7.2; RFC 4343),
// so "MLflow.Example.com" would be accepted here but refuse every real request.
func CheckHostPort(h string) error {
	if strings.Contains(h, "/") {
		return fmt.Errorf("%q is a URL or path; want host or host:port (no scheme, path, wildcard or IPv6)", h)
	}
	if h != strings.ToLower(h) {
		return fmt.Errorf("%q has upper-case letters; write %q (MLflow compares the Host header exactly and clients send it in lower case)", h, strings.ToLower(h))
	}
	host := h
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		port := h[i+1:]
		host = h[:i]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fmt.Errorf("%q has a port that is not 1..65535", h)
		}
	}
	if strings.HasSuffix(host, ".") {
		return fmt.Errorf("%q ends in a dot; write it without (clients send the Host header without the root dot)", h)
	}
	if !IsHostName(host) {
		return fmt.Errorf("%q is not host or host:port with a DNS name or IPv4 address (no scheme, path, wildcard or IPv6)", h)
	}
	return nil
}

// instanceTypePattern: family (letters and digits, optionally "-" and a qualifier: m7i-flex,
// u-6tb1, u7i-12tb, mac2-m2pro), a dot, and a size (letters and digits, optionally "-" and a
// qualifier: metal-24xl, metal-48xl). Amazon EC2 Instance Types guide, "Amazon EC2 instance
// type naming conventions".
var instanceTypePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)?\.[a-z0-9]+(-[a-z0-9]+)?$`)

// IsInstanceType reports whether s has the shape of an EC2 instance type name (t3.micro,
// m7i-flex.large, u-6tb1.metal, m7i.metal-24xl); it does not check the type exists.
func IsInstanceType(s string) bool { return instanceTypePattern.MatchString(s) }
