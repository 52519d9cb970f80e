// Package components holds the program's Pulumi component resources: the S3 artifact store,
// the RDS PostgreSQL backend store and the EC2 tracking server, plus the network lookup.
package components

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

// ArtifactsPrefix is the key prefix (no slashes) under which MLflow stores artifacts in the
// bucket; the tracking server's IAM policy is scoped to it.
const ArtifactsPrefix = mlflowspec.ArtifactsPrefix

// Lifecycle periods of the artifact bucket, in days.
const (
	// AbortIncompleteMultipartUploadDays aborts uploads a client never completed.
	AbortIncompleteMultipartUploadDays = 7
	// NoncurrentVersionExpirationDays expires overwritten or deleted artifact versions.
	NoncurrentVersionExpirationDays = 90
)

// ArtifactStoreArgs configures an ArtifactStore; all its fields are plain configuration values.
type ArtifactStoreArgs struct {
	// BucketName is the exact S3 bucket name; "" generates a unique name from BucketPrefix.
	BucketName string
	// BucketPrefix (at most 37 characters) prefixes the generated name when BucketName is "".
	BucketPrefix string
	// ProtectData keeps the bucket and its objects: no force-destroy and Pulumi's protect.
	ProtectData bool
}

// ArtifactStore is the S3 artifact store (Amazon S3 User Guide, "Security best practices for
// Amazon S3"): a general purpose bucket with versioning, SSE-S3 default encryption (bucket key
// on), all four Block Public Access settings, BucketOwnerEnforced object ownership (ACLs off),
// a policy denying requests without TLS, and lifecycle rules aborting incomplete multipart
// uploads after 7 days and expiring noncurrent versions after 90 days.
type ArtifactStore struct {
	pulumi.ResourceState

	BucketName pulumi.StringOutput `pulumi:"bucketName"` // e.g. "mlflow-aws-dev-20261130103300000000000001"
	BucketArn  pulumi.StringOutput `pulumi:"bucketArn"`  // "arn:aws:s3:::<name>"
	// ArtifactsURI is "s3://<bucket>/artifacts": MLflow's --artifacts-destination (proxied) or
	// --default-artifact-root (direct).
	ArtifactsURI pulumi.StringOutput `pulumi:"artifactsUri"`
}

// NewArtifactStore registers the artifact store (type token mlflow:aws:ArtifactStore).
func NewArtifactStore(ctx *pulumi.Context, name string, args *ArtifactStoreArgs, opts ...pulumi.ResourceOption) (*ArtifactStore, error) {
	if args == nil {
		return nil, fmt.Errorf("artifact store %q: args are required", name)
	}
	a := &ArtifactStore{}
	if err := ctx.RegisterComponentResource("mlflow:aws:ArtifactStore", name, a, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)

	bucketArgs := &s3.BucketV2Args{ForceDestroy: pulumi.Bool(!args.ProtectData)}
	if args.BucketName != "" {
		bucketArgs.Bucket = pulumi.String(args.BucketName)
	} else {
		bucketArgs.BucketPrefix = pulumi.String(args.BucketPrefix)
	}
	bucket, err := s3.NewBucketV2(ctx, name, bucketArgs, parent, pulumi.Protect(args.ProtectData))
	if err != nil {
		return nil, fmt.Errorf("artifact store bucket: %w", err)
	}

	if _, err := s3.NewBucketOwnershipControls(ctx, name+"-ownership", &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent); err != nil {
		return nil, fmt.Errorf("artifact store ownership controls: %w", err)
	}
	publicAccess, err := s3.NewBucketPublicAccessBlock(ctx, name+"-public-access", &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("artifact store public access block: %w", err)
	}
	if _, err := s3.NewBucketVersioningV2(ctx, name+"-versioning", &s3.BucketVersioningV2Args{
		Bucket:                  bucket.ID(),
		VersioningConfiguration: &s3.BucketVersioningV2VersioningConfigurationArgs{Status: pulumi.String("Enabled")},
	}, parent); err != nil {
		return nil, fmt.Errorf("artifact store versioning: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name+"-encryption", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
			BucketKeyEnabled: pulumi.Bool(true),
		}},
	}, parent); err != nil {
		return nil, fmt.Errorf("artifact store encryption: %w", err)
	}
	policy := bucket.Arn.ApplyT(func(arn string) (string, error) {
		return DenyInsecureTransportPolicy(arn).JSON()
	}).(pulumi.StringOutput)
	// The public access block goes first: with BlockPublicPolicy, S3 checks the policy is not public.
	if _, err := s3.NewBucketPolicy(ctx, name+"-policy", &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: policy,
	}, parent, pulumi.DependsOn([]pulumi.Resource{publicAccess})); err != nil {
		return nil, fmt.Errorf("artifact store bucket policy: %w", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:     pulumi.String("abort-incomplete-multipart-uploads"),
				Status: pulumi.String("Enabled"),
				Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
				AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
					DaysAfterInitiation: pulumi.Int(AbortIncompleteMultipartUploadDays),
				},
			},
			&s3.BucketLifecycleConfigurationV2RuleArgs{
				Id:     pulumi.String("expire-noncurrent-versions"),
				Status: pulumi.String("Enabled"),
				Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{},
				NoncurrentVersionExpiration: &s3.BucketLifecycleConfigurationV2RuleNoncurrentVersionExpirationArgs{
					NoncurrentDays: pulumi.Int(NoncurrentVersionExpirationDays),
				},
			},
		},
	}, parent); err != nil {
		return nil, fmt.Errorf("artifact store lifecycle: %w", err)
	}

	a.BucketName = bucket.Bucket
	a.BucketArn = bucket.Arn
	a.ArtifactsURI = pulumi.Sprintf("s3://%s/%s", bucket.Bucket, ArtifactsPrefix)
	if err := registerOutputs(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}
