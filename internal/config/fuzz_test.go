package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

// FuzzDerivedNames: any project and stack name yields a legal RDS identifier, final snapshot
// identifier, bucket prefix and logical base name.
func FuzzDerivedNames(f *testing.F) {
	for _, s := range []string{"dev", "prod", "mlflow_db", "My_Stack.1", "9", "--", "", "xn--a", "sthree-", strings.Repeat("z", 100)} {
		f.Add("mlflow-aws", s)
	}
	f.Fuzz(func(t *testing.T, project, stack string) {
		id := DeriveDBInstanceIdentifier(project, stack)
		if err := CheckDBInstanceIdentifier(id); err != nil {
			t.Fatalf("DeriveDBInstanceIdentifier(%q, %q) = %q: %v", project, stack, id, err)
		}
		if err := CheckDBInstanceIdentifier(awsnames.FinalSnapshotIdentifier(id, "0a1b2c3d")); err != nil {
			t.Fatalf("final snapshot identifier of %q: %v", id, err)
		}
		prefix := DeriveBucketPrefix(project, stack)
		if len(prefix) > MaxBucketPrefixLen {
			t.Fatalf("prefix %q too long", prefix)
		}
		if err := CheckBucketName(prefix + "20261130103300000000000001"); err != nil {
			t.Fatalf("bucket from prefix %q: %v", prefix, err)
		}
		if name := ResourceName(stack); !resourceNamePattern.MatchString(name) {
			t.Fatalf("ResourceName(%q) = %q", stack, name)
		}
	})
}

// FuzzParse: any value of any key gives either a valid Config or *Error naming that key; it
// never panics, and an accepted CIDR, name or version is one AWS and PyPI would accept.
func FuzzParse(f *testing.F) {
	for _, k := range Keys {
		f.Add(k, valid()["mlflow-aws:"+k])
		f.Add(k, "garbage\n\"'$")
	}
	f.Add(KeyAllowedCidrs, `["0.0.0.0/0"]`)
	f.Add(KeyDBInstanceIdentifier, "mlflow_db")
	f.Fuzz(func(t *testing.T, key, value string) {
		cfg := valid()
		cfg["mlflow-aws:"+key] = value
		c, err := parseDev(cfg)
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Fatalf("error is not *config.Error: %v", err)
			}
			for _, p := range cerr.Problems {
				if p.Key == "" || p.Message == "" {
					t.Fatalf("problem without key or message: %+v", p)
				}
			}
			return
		}
		if err := CheckDBInstanceIdentifier(c.DBInstanceIdentifier); err != nil {
			t.Fatalf("accepted identifier %q: %v", c.DBInstanceIdentifier, err)
		}
		if c.ArtifactBucketName != "" {
			if err := CheckBucketName(c.ArtifactBucketName); err != nil {
				t.Fatalf("accepted bucket %q: %v", c.ArtifactBucketName, err)
			}
		}
		if mlflowspec.CheckRelease(c.MLflowVersion) != nil {
			t.Fatalf("accepted MLflow version %q", c.MLflowVersion)
		}
	})
}
