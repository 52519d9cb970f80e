package components

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// PolicyDocument is an IAM JSON policy document (IAM User Guide, "IAM JSON policy elements
// reference"). Fields marshal in the order AWS documents them.
type PolicyDocument struct {
	Version   string            `json:"Version"`
	Statement []PolicyStatement `json:"Statement"`
}

// PolicyStatement is one statement of a PolicyDocument. Action and Resource are always lists.
type PolicyStatement struct {
	Sid       string   `json:"Sid,omitempty"`
	Effect    string   `json:"Effect"`
	Principal any      `json:"Principal,omitempty"`
	Action    []string `json:"Action"`
	Resource  []string `json:"Resource,omitempty"`
	// Condition maps an operator to condition keys and their value (a string or a list).
	Condition map[string]map[string]any `json:"Condition,omitempty"`
}

// policyVersion is the current IAM policy language version.
const policyVersion = "2012-10-17"

// JSON renders the document as compact JSON.
func (d PolicyDocument) JSON() (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("marshal policy document: %w", err)
	}
	return string(b), nil
}

// S3ObjectActions are the object-level actions the tracking server needs under the artifacts
// prefix: read, write, delete (run/artifact deletion) and multipart upload handling for large
// artifacts (Amazon S3 User Guide, "Actions, resources, and condition keys for Amazon S3").
var S3ObjectActions = []string{
	"s3:GetObject",
	"s3:PutObject",
	"s3:DeleteObject",
	"s3:AbortMultipartUpload",
	"s3:ListMultipartUploadParts",
}

// TrackingServerPolicy is the least-privilege inline policy of the tracking server's role:
//   - s3:ListBucket and s3:GetBucketLocation on bucketArn ("arn:aws:s3:::name"), the listing
//     limited to s3:prefix values prefix and prefix/*;
//   - S3ObjectActions on bucketArn + "/" + prefix + "/*";
//   - s3:GetObject on exactly the objects objectKeys (what the bootstrap installs: the venv's
//     hashed dependency lock, lock.Lock.ObjectKey, and the plugin wheel, server.Wheel.ObjectKey);
//   - ssm:GetParameter on the one SecureString parameter parameterArn (decryption with the
//     AWS managed key aws/ssm needs no KMS statement).
//
// prefix is the artifacts prefix without slashes at either end, e.g. "artifacts". It returns an
// error when an argument is empty.
func TrackingServerPolicy(bucketArn, prefix string, objectKeys []string, parameterArn string) (PolicyDocument, error) {
	prefix = strings.Trim(prefix, "/")
	if bucketArn == "" || prefix == "" || len(objectKeys) == 0 || slices.Contains(objectKeys, "") || parameterArn == "" {
		return PolicyDocument{}, fmt.Errorf("tracking server policy: bucket ARN %q, prefix %q, bootstrap object keys %q and parameter ARN %q must all be set",
			bucketArn, prefix, objectKeys, parameterArn)
	}
	return PolicyDocument{
		Version: policyVersion,
		Statement: []PolicyStatement{
			{
				Sid:      "ListArtifactsPrefix",
				Effect:   "Allow",
				Action:   []string{"s3:ListBucket"},
				Resource: []string{bucketArn},
				// The prefix itself too: MLflow deletes an artifact directory by listing it without
				// a trailing slash.
				Condition: map[string]map[string]any{
					"StringLike": {"s3:prefix": []string{prefix, prefix + "/*"}},
				},
			},
			{
				Sid:      "LocateBucket",
				Effect:   "Allow",
				Action:   []string{"s3:GetBucketLocation"},
				Resource: []string{bucketArn},
			},
			{
				Sid:      "ReadWriteArtifacts",
				Effect:   "Allow",
				Action:   S3ObjectActions,
				Resource: []string{bucketArn + "/" + prefix + "/*"},
			},
			{
				Sid:      "ReadServerLock",
				Effect:   "Allow",
				Action:   []string{"s3:GetObject"},
				Resource: objectARNs(bucketArn, objectKeys),
			},
			{
				Sid:      "ReadDbPassword",
				Effect:   "Allow",
				Action:   []string{"ssm:GetParameter"},
				Resource: []string{parameterArn},
			},
		},
	}, nil
}

// TrackingServerAuthStatements are the statements the tracking server's inline policy gains when
// MLflow authentication is on (ServerAuth):
//   - ssm:GetParametersByPath on the auth path authPathArn
//     ("arn:<partition>:ssm:<region>:<account>:parameter/mlflow-aws/<stack>/auth") and below: the
//     launcher reads the admin's and the users' passwords with one recursive call, which IAM
//     authorizes on the path's ARN (AWS Systems Manager API Reference, GetParametersByPath);
//   - ssm:GetParameter on the Flask secret key's SecureString secretKeyArn.
//
// It returns an error when an ARN is empty or the path ends with a slash.
func TrackingServerAuthStatements(authPathArn, secretKeyArn string) ([]PolicyStatement, error) {
	if authPathArn == "" || secretKeyArn == "" || strings.HasSuffix(authPathArn, "/") {
		return nil, fmt.Errorf("tracking server auth statements: auth path ARN %q (without a trailing slash) and secret key parameter ARN %q must be set",
			authPathArn, secretKeyArn)
	}
	return []PolicyStatement{
		{
			Sid:      "ReadMLflowPasswords",
			Effect:   "Allow",
			Action:   []string{"ssm:GetParametersByPath"},
			Resource: []string{authPathArn, authPathArn + "/*"},
		},
		{
			Sid:      "ReadFlaskSecretKey",
			Effect:   "Allow",
			Action:   []string{"ssm:GetParameter"},
			Resource: []string{secretKeyArn},
		},
	}, nil
}

// objectARNs are the ARNs of keys in the bucket bucketArn.
func objectARNs(bucketArn string, keys []string) []string {
	var arns []string
	for _, k := range keys {
		arns = append(arns, bucketArn+"/"+k)
	}
	return arns
}

// EC2AssumeRolePolicy is the trust policy letting EC2 assume the tracking server's role.
func EC2AssumeRolePolicy() PolicyDocument {
	return PolicyDocument{
		Version: policyVersion,
		Statement: []PolicyStatement{{
			Effect:    "Allow",
			Principal: map[string]string{"Service": "ec2.amazonaws.com"},
			Action:    []string{"sts:AssumeRole"},
		}},
	}
}

// DenyInsecureTransportPolicy is the artifact bucket's policy: deny every S3 action on the
// bucket and its objects when aws:SecureTransport is false (AWS Foundational Security Best
// Practices S3.5; AWS Config rule s3-bucket-ssl-requests-only).
func DenyInsecureTransportPolicy(bucketArn string) PolicyDocument {
	return PolicyDocument{
		Version: policyVersion,
		Statement: []PolicyStatement{{
			Sid:       "DenyInsecureTransport",
			Effect:    "Deny",
			Principal: "*",
			Action:    []string{"s3:*"},
			Resource:  []string{bucketArn, bucketArn + "/*"},
			Condition: map[string]map[string]any{
				"Bool": {"aws:SecureTransport": "false"},
			},
		}},
	}
}

// CloudWatchAgentStatements are the statements of the tracking server's role that the Amazon
// CloudWatch agent needs (CloudWatch User Guide, "Create IAM roles and users for use with the
// CloudWatch agent", narrowed from CloudWatchAgentServerPolicy):
//   - logs:CreateLogStream, logs:DescribeLogStreams and logs:PutLogEvents on the stack's log
//     group logGroupArn ("arn:<partition>:logs:<region>:<account>:log-group:<name>", no ":*")
//     and its streams; no log group creation and no other group;
//   - cloudwatch:PutMetricData, which supports no resource type, so "*" narrowed by the
//     condition cloudwatch:namespace = namespace (the stack's metrics namespace).
//
// It returns an error when an argument is empty or the ARN ends in ":*".
func CloudWatchAgentStatements(logGroupArn, namespace string) ([]PolicyStatement, error) {
	if logGroupArn == "" || namespace == "" || strings.HasSuffix(logGroupArn, ":*") {
		return nil, fmt.Errorf("CloudWatch agent statements: log group ARN %q (without :*) and namespace %q must be set", logGroupArn, namespace)
	}
	return []PolicyStatement{
		{
			Sid:      "ShipServerLogs",
			Effect:   "Allow",
			Action:   []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"},
			Resource: []string{logGroupArn, logGroupArn + ":log-stream:*"},
		},
		{
			Sid:       "PutServerMetrics",
			Effect:    "Allow",
			Action:    []string{"cloudwatch:PutMetricData"},
			Resource:  []string{"*"},
			Condition: map[string]map[string]any{"StringEquals": {"cloudwatch:namespace": namespace}},
		},
	}, nil
}

// DBInstanceArn is the ARN of an RDS DB instance:
// "arn:<partition>:rds:<region>:<account>:db:<identifier>" (Amazon RDS User Guide, "Amazon
// Resource Names (ARNs) in Amazon RDS").
func DBInstanceArn(partition, region, account, identifier string) string {
	return fmt.Sprintf("arn:%s:rds:%s:%s:db:%s", partition, region, account, identifier)
}

// SnapshotInfix joins the DB instance identifier and the releases in the name of the RDS
// snapshot the launcher takes before a schema migration:
// "<identifier>-mlflow-<old>-to-<new>-<UTC yyyymmddhhmmss>" (mlflow_aws_auth.schema.snapshot_name).
const SnapshotInfix = "-mlflow-"

// TrackingServerSnapshotStatements are the statements the tracking server's inline policy needs
// for the snapshot its launcher takes before `mlflow db upgrade` (MLflow's upgrade guide: back
// up, then migrate; docs/operations.md "Upgrading MLflow"):
//   - rds:CreateDBSnapshot on the stack's DB instance dbInstanceArn
//     ("arn:<partition>:rds:<region>:<account>:db:<identifier>") and on the snapshots
//     "arn:<partition>:rds:<region>:<account>:snapshot:<identifier>-mlflow-*" (CreateDBSnapshot
//     authorizes both the db and the snapshot resource; Service Authorization Reference, "Actions
//     defined by Amazon RDS");
//   - rds:DescribeDBSnapshots on those snapshots (`aws rds wait db-snapshot-available`).
//
// No tags are passed, so no rds:AddTagsToResource. It returns an error when dbInstanceArn is not
// an RDS DB instance ARN.
func TrackingServerSnapshotStatements(dbInstanceArn string) ([]PolicyStatement, error) {
	head, id, ok := strings.Cut(dbInstanceArn, ":db:")
	if !ok || id == "" || strings.ContainsAny(id, ":/*") || !strings.HasPrefix(head, "arn:") || !strings.Contains(head, ":rds:") {
		return nil, fmt.Errorf("tracking server snapshot statements: %q is not an RDS DB instance ARN like arn:aws:rds:us-east-1:123456789012:db:mlflow-aws-dev", dbInstanceArn)
	}
	snapshots := head + ":snapshot:" + id + SnapshotInfix + "*"
	return []PolicyStatement{
		{
			Sid:      "PreUpgradeSnapshot",
			Effect:   "Allow",
			Action:   []string{"rds:CreateDBSnapshot"},
			Resource: []string{dbInstanceArn, snapshots},
		},
		{
			Sid:      "WaitForPreUpgradeSnapshot",
			Effect:   "Allow",
			Action:   []string{"rds:DescribeDBSnapshots"},
			Resource: []string{snapshots},
		},
	}, nil
}
