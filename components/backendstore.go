package components

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
	"github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"
)

// The backend store's database, master user and port.
const (
	// DatabaseName is the database MLflow's tables live in.
	DatabaseName = mlflowspec.DatabaseName
	// DatabaseUser is the RDS master user MLflow connects as.
	DatabaseUser = mlflowspec.DatabaseUser
	// PostgresPort is the port RDS for PostgreSQL listens on.
	PostgresPort = 5432
	// PasswordLength is the length of the generated master password, in characters.
	PasswordLength = 32
)

// PasswordSpecialCharacters is the exact set of non-alphanumeric characters the master password
// generator (pulumi-random RandomPassword, overrideSpecial) may use; the alphabet is ASCII
// letters, digits and these. RDS refuses '/', '@', '"' and space in a master password (Amazon
// RDS User Guide, "Naming constraints in Amazon RDS"), which are therefore absent. The password
// never appears in user data: the launcher reads it from SSM into PGPASSWORD, so no URI, shell
// or unit escaping of it is needed.
const PasswordSpecialCharacters = "!#$%&*()-_=+[]{}<>:?^~.,;|"

// backendSecurityGroupDescription is constant: EC2 cannot change a security group's
// description, so a description carrying the DB identifier would replace the group (and wait on
// the database's network interfaces) whenever the identifier changed.
const backendSecurityGroupDescription = "MLflow backend store: PostgreSQL from the tracking server only"

// BackendStoreArgs configures a BackendStore. Sizes are GiB, periods days. Every field is a
// value the stack configuration decides, so all are plain Go values.
type BackendStoreArgs struct {
	// VpcID is the VPC of the DB security group.
	VpcID string
	// SubnetIDs are the DB subnet group's subnets: at least two, in different Availability Zones.
	SubnetIDs []string
	// DBInstanceIdentifier is a legal RDS identifier (awsnames.CheckDBInstanceIdentifier).
	DBInstanceIdentifier string
	// PasswordParameterName is the SSM parameter name, e.g. "/mlflow-aws/dev/db-password".
	PasswordParameterName string
	// InstanceClass is the RDS DB instance class, e.g. "db.t3.micro".
	InstanceClass string
	// EngineVersion is the PostgreSQL version: a major version ("17", RDS picks its default
	// minor) or MAJOR.MINOR ("17.6").
	EngineVersion string
	// ParameterGroupFamily is the DB parameter group family of the major version, e.g. "postgres17".
	ParameterGroupFamily string
	// AllocatedStorageGiB is the initial gp3 storage.
	AllocatedStorageGiB int
	// MaxAllocatedStorageGiB is the storage autoscaling ceiling; 0 = no storage autoscaling.
	MaxAllocatedStorageGiB int
	// MultiAZ runs a standby in a second Availability Zone.
	MultiAZ bool
	// BackupRetentionDays is the automated backup retention (0 turns backups off).
	BackupRetentionDays int
	// ProtectData turns on deletion protection, a final snapshot with a unique name
	// (awsnames.FinalSnapshotIdentifier) and Pulumi's protect.
	ProtectData bool
}

// BackendStore is MLflow's backend store: an RDS for PostgreSQL DB instance (Amazon RDS User
// Guide, "Best practices for Amazon RDS"; "Using SSL/TLS with a PostgreSQL DB instance") that is
// not publicly accessible, lives in a DB subnet group, has encrypted gp3 storage with storage
// autoscaling, a DB parameter group setting rds.force_ssl=1, and a security group with no
// ingress of its own (the tracking server adds 5432 from its group). The master password comes
// from random.RandomPassword (RDS-legal characters: no / @ " or space), goes to RDS as a secret
// and into an SSM SecureString parameter the tracking server reads at boot.
type BackendStore struct {
	pulumi.ResourceState

	Address         pulumi.StringOutput `pulumi:"address"`         // DB endpoint host name
	Port            pulumi.IntOutput    `pulumi:"port"`            // 5432
	DatabaseName    pulumi.StringOutput `pulumi:"databaseName"`    // "mlflow_data"
	Username        pulumi.StringOutput `pulumi:"username"`        // "mlflow"
	SecurityGroupID pulumi.StringOutput `pulumi:"securityGroupId"` // the DB instance's security group
	// PasswordParameterName and PasswordParameterArn identify the SecureString parameter.
	PasswordParameterName pulumi.StringOutput `pulumi:"passwordParameterName"`
	PasswordParameterArn  pulumi.StringOutput `pulumi:"passwordParameterArn"`
}

// NewBackendStore registers the backend store (type token mlflow:aws:BackendStore).
func NewBackendStore(ctx *pulumi.Context, name string, args *BackendStoreArgs, opts ...pulumi.ResourceOption) (*BackendStore, error) {
	if args == nil {
		return nil, fmt.Errorf("backend store %q: args are required", name)
	}
	b := &BackendStore{}
	if err := ctx.RegisterComponentResource("mlflow:aws:BackendStore", name, b, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(b)
	protect := pulumi.Protect(args.ProtectData)

	password, err := random.NewRandomPassword(ctx, name+"-password", &random.RandomPasswordArgs{
		Length:          pulumi.Int(PasswordLength),
		Special:         pulumi.Bool(true),
		OverrideSpecial: pulumi.String(PasswordSpecialCharacters),
		MinLower:        pulumi.Int(2),
		MinUpper:        pulumi.Int(2),
		MinNumeric:      pulumi.Int(2),
		MinSpecial:      pulumi.Int(2),
	}, parent, protect)
	if err != nil {
		return nil, fmt.Errorf("backend store password: %w", err)
	}
	parameter, err := ssm.NewParameter(ctx, name+"-password", &ssm.ParameterArgs{
		Name:        pulumi.String(args.PasswordParameterName),
		Description: pulumi.String("Master password of the MLflow backend store " + args.DBInstanceIdentifier),
		Type:        pulumi.String("SecureString"),
		Value:       password.Result,
	}, parent, protect)
	if err != nil {
		return nil, fmt.Errorf("backend store password parameter: %w", err)
	}

	sg, err := ec2.NewSecurityGroup(ctx, name+"-sg", &ec2.SecurityGroupArgs{
		VpcId:       pulumi.String(args.VpcID),
		Description: pulumi.String(backendSecurityGroupDescription),
		Tags:        pulumi.StringMap{"Name": pulumi.String(args.DBInstanceIdentifier)},
	}, parent,
		// Groups created with an older, identifier-bearing description keep it instead of being
		// replaced (Pulumi docs, "ignoreChanges").
		pulumi.IgnoreChanges([]string{"description"}))
	if err != nil {
		return nil, fmt.Errorf("backend store security group: %w", err)
	}
	subnetGroup, err := rds.NewSubnetGroup(ctx, name+"-subnets", &rds.SubnetGroupArgs{
		Description: pulumi.String("MLflow backend store " + args.DBInstanceIdentifier),
		SubnetIds:   pulumi.ToStringArray(args.SubnetIDs),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("backend store DB subnet group: %w", err)
	}
	params, err := rds.NewParameterGroup(ctx, name+"-params", &rds.ParameterGroupArgs{
		Family:      pulumi.String(args.ParameterGroupFamily),
		Description: pulumi.String("MLflow backend store: TLS required"),
		Parameters: rds.ParameterGroupParameterArray{&rds.ParameterGroupParameterArgs{
			Name:        pulumi.String("rds.force_ssl"),
			Value:       pulumi.String("1"),
			ApplyMethod: pulumi.String("pending-reboot"),
		}},
	}, parent,
		// A new dbEngineVersion replaces the group (new family) while the DB instance still uses
		// the old one until its maintenance window; deleting the old group would fail then, so it
		// is left in AWS (parameter groups cost nothing) instead of deleted.
		pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, fmt.Errorf("backend store DB parameter group: %w", err)
	}

	dbArgs := &rds.InstanceArgs{
		Identifier:              pulumi.String(args.DBInstanceIdentifier),
		Engine:                  pulumi.String("postgres"),
		EngineVersion:           pulumi.String(args.EngineVersion),
		InstanceClass:           pulumi.String(args.InstanceClass),
		AllocatedStorage:        pulumi.Int(args.AllocatedStorageGiB),
		MaxAllocatedStorage:     pulumi.Int(args.MaxAllocatedStorageGiB),
		StorageType:             pulumi.String("gp3"),
		StorageEncrypted:        pulumi.Bool(true),
		DbName:                  pulumi.String(DatabaseName),
		Username:                pulumi.String(DatabaseUser),
		Password:                password.Result,
		Port:                    pulumi.Int(PostgresPort),
		DbSubnetGroupName:       subnetGroup.Name,
		ParameterGroupName:      params.Name,
		VpcSecurityGroupIds:     pulumi.StringArray{sg.ID()},
		PubliclyAccessible:      pulumi.Bool(false),
		MultiAz:                 pulumi.Bool(args.MultiAZ),
		BackupRetentionPeriod:   pulumi.Int(args.BackupRetentionDays),
		CopyTagsToSnapshot:      pulumi.Bool(true),
		AutoMinorVersionUpgrade: pulumi.Bool(true),
		// A changed dbEngineVersion is a deliberate major upgrade, applied in the maintenance window.
		AllowMajorVersionUpgrade: pulumi.Bool(true),
		DeletionProtection:       pulumi.Bool(args.ProtectData),
		SkipFinalSnapshot:        pulumi.Bool(!args.ProtectData),
		Tags:                     pulumi.StringMap{"Name": pulumi.String(args.DBInstanceIdentifier)},
	}
	if args.ProtectData {
		// A suffix drawn once per database and kept in the stack's state: a new identifier (a new
		// database) draws a new one, and a stack recreated after a deletion starts afresh, so
		// two deletions never collide on DBSnapshotAlreadyExists.
		suffix, err := random.NewRandomId(ctx, name+"-final-snapshot-suffix", &random.RandomIdArgs{
			ByteLength: pulumi.Int(awsnames.FinalSnapshotSuffixLen / 2),
			Keepers:    pulumi.StringMap{"dbInstanceIdentifier": pulumi.String(args.DBInstanceIdentifier)},
		}, parent)
		if err != nil {
			return nil, fmt.Errorf("backend store final snapshot suffix: %w", err)
		}
		dbArgs.FinalSnapshotIdentifier = suffix.Hex.ApplyT(func(hex string) string {
			return awsnames.FinalSnapshotIdentifier(args.DBInstanceIdentifier, hex)
		}).(pulumi.StringOutput)
	}
	db, err := rds.NewInstance(ctx, name, dbArgs, parent, protect)
	if err != nil {
		return nil, fmt.Errorf("backend store DB instance: %w", err)
	}

	b.Address = db.Address
	b.Port = db.Port
	b.DatabaseName = pulumi.String(DatabaseName).ToStringOutput()
	b.Username = pulumi.String(DatabaseUser).ToStringOutput()
	b.SecurityGroupID = sg.ID().ToStringOutput()
	b.PasswordParameterName = parameter.Name
	b.PasswordParameterArn = parameter.Arn
	if err := registerOutputs(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}
