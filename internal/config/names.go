package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// MaxDBInstanceIdentifierLen is the longest RDS DB instance identifier (characters).
const MaxDBInstanceIdentifierLen = 63

// rdsIdentifierPattern: 1-63 letters, digits or hyphens; first a letter; no "--"; no trailing
// hyphen (Amazon RDS User Guide, "Naming constraints in Amazon RDS").
var rdsIdentifierPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)

// CheckDBInstanceIdentifier returns nil when id is a legal RDS DB instance identifier, else an
// error naming the rule it breaks. Rules (Amazon RDS User Guide, "Naming constraints in Amazon
// RDS"): 1 to 63 letters, digits or hyphens; first character a letter; no two consecutive
// hyphens; no trailing hyphen. RDS stores it in lowercase.
func CheckDBInstanceIdentifier(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("must not be empty")
	case len(id) > MaxDBInstanceIdentifierLen:
		return fmt.Errorf("%q is %d characters; RDS allows at most %d", id, len(id), MaxDBInstanceIdentifierLen)
	case !rdsIdentifierPattern.MatchString(id):
		return fmt.Errorf("%q must start with a letter and contain only letters, digits and hyphens (RDS rejects e.g. underscores)", id)
	case strings.Contains(id, "--"):
		return fmt.Errorf("%q must not contain two consecutive hyphens", id)
	case strings.HasSuffix(id, "-"):
		return fmt.Errorf("%q must not end with a hyphen", id)
	}
	return nil
}

// bucketPattern: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit (Amazon S3 User Guide, "General purpose bucket naming rules").
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// CheckBucketName returns nil when name is a legal S3 general purpose bucket name, else an error
// naming the rule it breaks. Rules (Amazon S3 User Guide, "General purpose bucket naming
// rules"): 3 to 63 characters; lowercase letters, digits, dots and hyphens; begins and ends with
// a letter or digit; no two adjacent periods; not an IPv4 address; not starting with "xn--",
// "sthree-" or "amzn-s3-demo-"; not ending with "-s3alias", "--ol-s3", ".mrap" or "--x-s3".
// Dots are also refused here, since virtual-hosted-style HTTPS fails on dotted names.
func CheckBucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("%q is %d characters; S3 bucket names have 3 to 63", name, len(name))
	}
	if !bucketPattern.MatchString(name) {
		return fmt.Errorf("%q must use only lowercase letters, digits and hyphens, and begin and end with a letter or digit", name)
	}
	if strings.Contains(name, ".") {
		return fmt.Errorf("%q contains a dot; dotted bucket names break virtual-hosted-style TLS, use hyphens", name)
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

// slug lowercases s and turns every run of characters other than a-z and 0-9 into one hyphen,
// trimming hyphens at both ends.
func slug(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
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

// truncate shortens a slug to at most n bytes without leaving a trailing hyphen.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-")
}

// DeriveDBInstanceIdentifier derives a legal RDS DB instance identifier from the Pulumi project
// and stack names: "<project>-<stack>" lowercased, with every run of other characters turned
// into one hyphen, prefixed with "mlflow-" when it would not start with a letter, cut to 63
// characters. The result always passes CheckDBInstanceIdentifier (case C1).
func DeriveDBInstanceIdentifier(project, stack string) string {
	id := slug(project + "-" + stack)
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		id = slug("mlflow-" + id)
	}
	// Leave room for the "-final" suffix of the final snapshot identifier.
	return truncate(id, MaxDBInstanceIdentifierLen-len(finalSnapshotSuffix))
}

const finalSnapshotSuffix = "-final"

// FinalSnapshotIdentifier is the RDS final DB snapshot identifier used when a protected database
// is deleted: the DB instance identifier plus "-final". Snapshot identifiers follow the same
// rules as DB instance identifiers, so id must pass CheckDBInstanceIdentifier and be at most 57
// characters (config validation guarantees both).
func FinalSnapshotIdentifier(id string) string {
	return strings.ToLower(id) + finalSnapshotSuffix
}

// MaxBucketPrefixLen is the longest prefix S3 bucket auto-naming (bucket_prefix) accepts: the
// provider appends a 26-character unique suffix to reach at most 63.
const MaxBucketPrefixLen = 37

// DeriveBucketPrefix derives the prefix for a generated, globally unique S3 bucket name:
// "<project>-<stack>-" slugged as DeriveDBInstanceIdentifier does, cut to 37 characters and
// ending in a hyphen. Every name the provider generates from it passes CheckBucketName (C1).
func DeriveBucketPrefix(project, stack string) string {
	p := slug(project + "-" + stack)
	if p == "" || strings.HasPrefix(p, "sthree-") || strings.HasPrefix(p, "amzn-s3-demo-") {
		p = slug("mlflow-" + p)
	}
	return truncate(p, MaxBucketPrefixLen-1) + "-"
}
