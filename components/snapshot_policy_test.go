package components

import (
	"fmt"
	"testing"
)

// TestTrackingServerSnapshotStatements: the pre-upgrade snapshot statements name exactly the DB
// instance and its "<id>-mlflow-*" snapshots in the ARN's partition, region and account, and a
// value that is not a DB instance ARN is refused.
func TestTrackingServerSnapshotStatements(t *testing.T) {
	sts, err := TrackingServerSnapshotStatements("arn:aws-cn:rds:cn-north-1:123456789012:db:mlflow-aws-prod")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"rds:CreateDBSnapshot":    {"arn:aws-cn:rds:cn-north-1:123456789012:db:mlflow-aws-prod", "arn:aws-cn:rds:cn-north-1:123456789012:snapshot:mlflow-aws-prod-mlflow-*"},
		"rds:DescribeDBSnapshots": {"arn:aws-cn:rds:cn-north-1:123456789012:snapshot:mlflow-aws-prod-mlflow-*"},
	}
	if len(sts) != len(want) {
		t.Fatalf("%d statements, want %d: %+v", len(sts), len(want), sts)
	}
	for _, s := range sts {
		if len(s.Action) != 1 || s.Effect != "Allow" || fmt.Sprint(s.Resource) != fmt.Sprint(want[s.Action[0]]) {
			t.Errorf("statement %+v, want %s on %q", s, s.Action, want[s.Action[0]])
		}
	}
	for _, bad := range []string{"", "mlflow-aws-prod", "arn:aws:rds:us-east-1:123456789012:cluster:x", "arn:aws:rds:us-east-1:1:db:*",
		"arn:aws:s3:::db:x", "arn:aws:rds:us-east-1:1:db:"} {
		if _, err := TrackingServerSnapshotStatements(bad); err == nil {
			t.Errorf("%q accepted as a DB instance ARN", bad)
		}
	}
}
