package components

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/acm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/route53"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newAddress registers the tracking server's Elastic IP: a stable public address (and DNS name)
// across instance replacements (Amazon EC2 User Guide, "Elastic IP addresses").
func newAddress(ctx *pulumi.Context, name string, parent pulumi.ResourceOption) (*ec2.Eip, error) {
	eip, err := ec2.NewEip(ctx, name+"-eip", &ec2.EipArgs{
		Domain: pulumi.String("vpc"),
		Tags:   pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("tracking server Elastic IP: %w", err)
	}
	return eip, nil
}

// associateAddress attaches the Elastic IP to the server's network interface, which outlives
// the instance: a replaced instance has its public address from its first boot. A replaced
// association (a stack deployed before the interface existed associated the instance) goes
// first: EC2 refuses to associate an address that is still associated elsewhere.
func associateAddress(ctx *pulumi.Context, name string, eip *ec2.Eip, eni *ec2.NetworkInterface, parent pulumi.ResourceOption) (*ec2.EipAssociation, error) {
	assoc, err := ec2.NewEipAssociation(ctx, name+"-eip-association", &ec2.EipAssociationArgs{
		AllocationId:       eip.AllocationId,
		NetworkInterfaceId: eni.ID(),
	}, parent, pulumi.DeleteBeforeReplace(true))
	if err != nil {
		return nil, fmt.Errorf("tracking server Elastic IP association: %w", err)
	}
	return assoc, nil
}

// Ports and settings of the front door.
const (
	HTTPSPort = 443
	HTTPPort  = 80
	// TLSPolicy is the HTTPS listener's security policy: TLS 1.3 and 1.2 only, forward-secret
	// ciphers (Elastic Load Balancing User Guide, "Security policies for your Application Load
	// Balancer"; the policy AWS recommends).
	TLSPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
	// HealthCheckPath is MLflow's health endpoint, which answers 200 "OK" without credentials.
	HealthCheckPath = "/health"
	// IdleTimeoutSeconds is the load balancer's idle timeout: how long a connection may carry no
	// byte before the load balancer closes it. A proxied artifact upload sends its last byte and
	// then waits while the server writes the object to S3; 600 s covers a 5 GiB object (S3's
	// largest single PUT) written at 10 MB/s. The default, 60 s, cuts such uploads.
	IdleTimeoutSeconds = 600
	// DeregistrationDelaySeconds is how long a server leaving the target group (scale-in,
	// refresh, version change) keeps serving the requests it has: 300 s lets a 5 GiB download
	// finish at 17 MB/s. It ends early once the server has no request in flight.
	DeregistrationDelaySeconds = 300
	// AccessLogsDays is how long access logs are kept.
	AccessLogsDays = 90
	// LoadBalancerNamePrefix is the name prefix of the load balancer and target group (at most
	// 6 characters; the provider appends a unique 26-character suffix, within their 32).
	// Generated names never collide, also when a replacement is created before the old one goes.
	LoadBalancerNamePrefix = "mlflw-"
)

// loadBalancer is what the front door gives the rest of the tracking server.
type loadBalancer struct {
	alb         *lb.LoadBalancer
	targetGroup *lb.TargetGroup
	// listeners must exist before servers are expected healthy: a target group receives health
	// checks only while a listener forwards to it.
	listeners []pulumi.Resource
}

// newLoadBalancer registers the front door (Elastic Load Balancing User Guide for Application
// Load Balancers; AWS Certificate Manager User Guide, "DNS validation"; Route 53 Developer
// Guide, "Routing traffic to an ELB load balancer"):
//   - an ACM certificate for DomainName, validated by a record in HostedZoneID (which must be a
//     public zone: ACM resolves it from the internet);
//   - an Application Load Balancer across LoadBalancerSubnetIDs, internal when every allowed
//     block is private, with IdleTimeoutSeconds, invalid header fields dropped, deletion
//     protection with ProtectData and access logs when asked;
//   - a target group on TrackingPort checking HealthCheckPath, DeregistrationDelaySeconds;
//   - listeners: HTTPS with TLSPolicy forwarding to the target group, HTTP redirecting to HTTPS;
//   - an alias A record DomainName -> the load balancer.
func newLoadBalancer(ctx *pulumi.Context, name string, args *TrackingServerArgs, sg *ec2.SecurityGroup, parent pulumi.ResourceOption) (*loadBalancer, error) {
	fd := args.FrontDoor
	zone := pulumi.String(fd.HostedZoneID)

	cert, err := acm.NewCertificate(ctx, name+"-cert", &acm.CertificateArgs{
		DomainName:       pulumi.String(fd.DomainName),
		ValidationMethod: pulumi.String("DNS"),
		Tags:             pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("front door certificate: %w", err)
	}
	option := cert.DomainValidationOptions.Index(pulumi.Int(0))
	validationRecord, err := route53.NewRecord(ctx, name+"-cert-validation", &route53.RecordArgs{
		ZoneId:         zone,
		Name:           option.ResourceRecordName().Elem(),
		Type:           option.ResourceRecordType().Elem(),
		Records:        pulumi.StringArray{option.ResourceRecordValue().Elem()},
		Ttl:            pulumi.Int(60),
		AllowOverwrite: pulumi.Bool(true), // ACM gives every certificate of a name the same record
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("front door certificate validation record: %w", err)
	}
	validation, err := acm.NewCertificateValidation(ctx, name+"-cert-validated", &acm.CertificateValidationArgs{
		CertificateArn:        cert.Arn,
		ValidationRecordFqdns: pulumi.StringArray{validationRecord.Fqdn},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("front door certificate validation: %w", err)
	}

	lbArgs := &lb.LoadBalancerArgs{
		NamePrefix:               pulumi.String(LoadBalancerNamePrefix),
		LoadBalancerType:         pulumi.String("application"),
		Internal:                 pulumi.Bool(args.ClientsUsePrivateIP),
		SecurityGroups:           pulumi.StringArray{sg.ID()},
		Subnets:                  pulumi.ToStringArray(fd.LoadBalancerSubnetIDs),
		IdleTimeout:              pulumi.Int(IdleTimeoutSeconds),
		DropInvalidHeaderFields:  pulumi.Bool(true),
		EnableDeletionProtection: pulumi.Bool(args.ProtectData),
		Tags:                     pulumi.StringMap{"Name": pulumi.String(name)},
	}
	lbOpts := []pulumi.ResourceOption{parent}
	if fd.AccessLogs {
		bucket, policy, err := newAccessLogsBucket(ctx, name, args, parent)
		if err != nil {
			return nil, err
		}
		lbArgs.AccessLogs = lb.LoadBalancerAccessLogsArgs{Bucket: bucket.Bucket, Enabled: pulumi.Bool(true)}
		// The load balancer checks at creation that it may write to the bucket.
		lbOpts = append(lbOpts, pulumi.DependsOn([]pulumi.Resource{policy}))
	}
	alb, err := lb.NewLoadBalancer(ctx, name+"-alb", lbArgs, lbOpts...)
	if err != nil {
		return nil, fmt.Errorf("front door load balancer: %w", err)
	}
	tg, err := lb.NewTargetGroup(ctx, name+"-tg", &lb.TargetGroupArgs{
		NamePrefix:          pulumi.String(LoadBalancerNamePrefix),
		Port:                pulumi.Int(TrackingPort),
		Protocol:            pulumi.String("HTTP"),
		TargetType:          pulumi.String("instance"),
		VpcId:               pulumi.String(args.VpcID),
		DeregistrationDelay: pulumi.Int(DeregistrationDelaySeconds),
		HealthCheck: lb.TargetGroupHealthCheckArgs{
			Enabled:            pulumi.Bool(true),
			Path:               pulumi.String(HealthCheckPath),
			Protocol:           pulumi.String("HTTP"),
			Port:               pulumi.String("traffic-port"),
			Matcher:            pulumi.String("200"),
			Interval:           pulumi.Int(15),
			Timeout:            pulumi.Int(5),
			HealthyThreshold:   pulumi.Int(2),
			UnhealthyThreshold: pulumi.Int(3),
		},
		Tags: pulumi.StringMap{"Name": pulumi.String(name)},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("front door target group: %w", err)
	}
	https, err := lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn,
		Port:            pulumi.Int(HTTPSPort),
		Protocol:        pulumi.String("HTTPS"),
		SslPolicy:       pulumi.String(TLSPolicy),
		CertificateArn:  validation.CertificateArn,
		DefaultActions: lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
			Type:           pulumi.String("forward"),
			TargetGroupArn: tg.Arn,
		}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("front door HTTPS listener: %w", err)
	}
	http, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn,
		Port:            pulumi.Int(HTTPPort),
		Protocol:        pulumi.String("HTTP"),
		DefaultActions: lb.ListenerDefaultActionArray{lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: lb.ListenerDefaultActionRedirectArgs{
				Protocol:   pulumi.String("HTTPS"),
				Port:       pulumi.String(fmt.Sprint(HTTPSPort)),
				StatusCode: pulumi.String("HTTP_301"),
			},
		}},
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("front door HTTP listener: %w", err)
	}
	if _, err := route53.NewRecord(ctx, name+"-alias", &route53.RecordArgs{
		ZoneId: zone,
		Name:   pulumi.String(fd.DomainName),
		Type:   pulumi.String("A"),
		Aliases: route53.RecordAliasArray{route53.RecordAliasArgs{
			Name:                 alb.DnsName,
			ZoneId:               alb.ZoneId,
			EvaluateTargetHealth: pulumi.Bool(true),
		}},
	}, parent); err != nil {
		return nil, fmt.Errorf("front door alias record: %w", err)
	}
	return &loadBalancer{alb: alb, targetGroup: tg, listeners: []pulumi.Resource{https, http}}, nil
}

// ELBLogDeliveryPrincipal is the service principal that writes Application Load Balancer
// access logs in Regions opened since August 2022 (Elastic Load Balancing User Guide, "Enable
// access logs for your Application Load Balancer", bucket policy).
const ELBLogDeliveryPrincipal = "logdelivery.elasticloadbalancing.amazonaws.com"

// newAccessLogsBucket registers the access-log bucket: generated name from LogsBucketPrefix,
// SSE-S3 (the only encryption ALB log delivery supports), every public access blocked, ACLs
// disabled, requests without TLS denied, objects expired after AccessLogsDays, and a policy
// letting the Region's log delivery write under AWSLogs/ (the service principal, and the
// Region's Elastic Load Balancing account where the provider knows one: Regions older than
// August 2022 deliver from it). Emptied on destroy unless ProtectData.
func newAccessLogsBucket(ctx *pulumi.Context, name string, args *TrackingServerArgs, parent pulumi.ResourceOption) (*s3.BucketV2, *s3.BucketPolicy, error) {
	bucket, err := s3.NewBucketV2(ctx, name+"-alb-logs", &s3.BucketV2Args{
		BucketPrefix: pulumi.String(args.FrontDoor.LogsBucketPrefix),
		ForceDestroy: pulumi.Bool(!args.ProtectData),
	}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("access log bucket: %w", err)
	}
	if _, err := s3.NewBucketPublicAccessBlock(ctx, name+"-alb-logs-public-access", &s3.BucketPublicAccessBlockArgs{
		Bucket: bucket.ID(), BlockPublicAcls: pulumi.Bool(true), BlockPublicPolicy: pulumi.Bool(true),
		IgnorePublicAcls: pulumi.Bool(true), RestrictPublicBuckets: pulumi.Bool(true),
	}, parent); err != nil {
		return nil, nil, fmt.Errorf("access log bucket public access block: %w", err)
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name+"-alb-logs-ownership", &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent); err != nil {
		return nil, nil, fmt.Errorf("access log bucket ownership: %w", err)
	}
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name+"-alb-logs-encryption", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, parent); err != nil {
		return nil, nil, fmt.Errorf("access log bucket encryption: %w", err)
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-alb-logs-lifecycle", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:         pulumi.String("expire-access-logs"),
			Status:     pulumi.String("Enabled"),
			Filter:     s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			Expiration: s3.BucketLifecycleConfigurationV2RuleExpirationArgs{Days: pulumi.Int(AccessLogsDays)},
			AbortIncompleteMultipartUpload: s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(1),
			},
		}},
	}, parent); err != nil {
		return nil, nil, fmt.Errorf("access log bucket lifecycle: %w", err)
	}
	principal := map[string]any{"Service": ELBLogDeliveryPrincipal}
	if account, err := elb.GetServiceAccount(ctx, &elb.GetServiceAccountArgs{}); err == nil && account.Arn != "" {
		principal["AWS"] = account.Arn
	}
	policy := bucket.Arn.ApplyT(func(arn string) (string, error) {
		doc, err := json.Marshal(map[string]any{
			"Version": "2012-10-17",
			"Statement": []map[string]any{
				{
					"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
					"Resource":  []string{arn, arn + "/*"},
					"Condition": map[string]any{"Bool": map[string]string{"aws:SecureTransport": "false"}},
				},
				{
					"Sid": "ELBAccessLogs", "Effect": "Allow", "Principal": principal, "Action": "s3:PutObject",
					"Resource": arn + "/AWSLogs/*",
				},
			},
		})
		return string(doc), err
	}).(pulumi.StringOutput)
	bp, err := s3.NewBucketPolicy(ctx, name+"-alb-logs-policy", &s3.BucketPolicyArgs{Bucket: bucket.ID(), Policy: policy}, parent)
	if err != nil {
		return nil, nil, fmt.Errorf("access log bucket policy: %w", err)
	}
	return bucket, bp, nil
}

// LookupHostedZone returns the name (with its trailing dot, e.g. "example.com.") and privacy of
// the Route 53 hosted zone zoneID (data source aws_route53_zone: route53:GetHostedZone). It is
// an invoke, so a wrong hostedZoneId fails at preview, before the load balancer and certificate
// exist (config.CheckHostedZone judges the answer).
func LookupHostedZone(ctx *pulumi.Context, zoneID string) (name string, private bool, err error) {
	zone, err := route53.LookupZone(ctx, &route53.LookupZoneArgs{ZoneId: pulumi.StringRef(zoneID)})
	if err != nil {
		return "", false, fmt.Errorf("look up the Route 53 hosted zone %s (hostedZoneId): %w", zoneID, err)
	}
	return zone.Name, zone.PrivateZone != nil && *zone.PrivateZone, nil
}
