package config

import (
	"strings"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
)

// MaxDBInstanceIdentifierLen is the longest RDS DB instance identifier (characters).
const MaxDBInstanceIdentifierLen = awsnames.MaxDBInstanceIdentifierLen

// CheckDBInstanceIdentifier is awsnames.CheckDBInstanceIdentifier.
func CheckDBInstanceIdentifier(id string) error { return awsnames.CheckDBInstanceIdentifier(id) }

// CheckBucketName is awsnames.CheckBucketName (S3's rule, and no dots).
func CheckBucketName(name string) error { return awsnames.CheckBucketName(name) }

// slug lowercases s and turns every run of characters other than a-z and 0-9 into one hyphen,
// trimming hyphens at both ends (awsnames.Normalize, lowercased; Pulumi project and stack names
// are ASCII).
func slug(s string) string { return strings.ToLower(awsnames.Normalize(s)) }

// truncate shortens a slug to at most n bytes without leaving a trailing hyphen.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimRight(s, "-")
}

// DeriveDBInstanceIdentifier derives a legal RDS DB instance identifier from the Pulumi project
// and stack names: "<project>-<stack>" lowercased, with every run of other characters turned
// into one hyphen, prefixed with "mlflow-" when it would not start with a letter, cut to
// derivedIdentifierLen characters. The result always passes CheckDBInstanceIdentifier
// (TestDerivedNamesAreAlwaysLegal).
func DeriveDBInstanceIdentifier(project, stack string) string {
	id := slug(project + "-" + stack)
	if id == "" || id[0] < 'a' || id[0] > 'z' {
		id = slug("mlflow-" + id)
	}
	return truncate(id, derivedIdentifierLen)
}

// derivedIdentifierLen is the length derived identifiers are cut to. It must not change: a
// different cut changes the derived identifier of a long project and stack name, and a new
// identifier replaces the database.
const derivedIdentifierLen = 57

// MaxBucketPrefixLen is the longest prefix S3 bucket auto-naming accepts
// (awsnames.MaxBucketPrefixLen).
const MaxBucketPrefixLen = awsnames.MaxBucketPrefixLen

// DeriveBucketPrefix derives the prefix for a generated, globally unique S3 bucket name:
// "<project>-<stack>-" slugged as DeriveDBInstanceIdentifier does, cut to 37 characters and
// ending in a hyphen. Every name the provider generates from it passes CheckBucketName
// (TestDerivedNamesAreAlwaysLegal).
func DeriveBucketPrefix(project, stack string) string {
	p := slug(project + "-" + stack)
	if p == "" || strings.HasPrefix(p, "sthree-") || strings.HasPrefix(p, "amzn-s3-demo-") {
		p = slug("mlflow-" + p)
	}
	return truncate(p, MaxBucketPrefixLen-1) + "-"
}
