package components

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// Names MLflow's backend store uses inside PostgreSQL (the seed's names).
const (
	DatabaseName = "mlflow_data"
	DatabaseUser = "mlflow"
	// PostgresPort is the port RDS for PostgreSQL listens on.
	PostgresPort = 5432
	// PasswordLength is the length of the generated master password, in characters.
	PasswordLength = 32
)

// BackendStoreArgs configures a BackendStore. Sizes are GiB, periods days.
type BackendStoreArgs struct {
	VpcID     string
	SubnetIDs []string // at least two, in different Availability Zones
	// DBInstanceIdentifier is a legal RDS identifier (config.CheckDBInstanceIdentifier).
	DBInstanceIdentifier string
	// PasswordParameterName is the SSM parameter name, e.g. "/mlflow-aws/dev/db-password".
	PasswordParameterName  string
	InstanceClass          string // e.g. "db.t3.micro"
	EngineVersion          string // PostgreSQL major version, e.g. "17"
	ParameterGroupFamily   string // e.g. "postgres17"
	AllocatedStorageGiB    int
	MaxAllocatedStorageGiB int // 0 = no storage autoscaling
	MultiAZ                bool
	BackupRetentionDays    int
	// ProtectData turns on deletion protection, a final snapshot and Pulumi's protect.
	ProtectData bool
	// FinalSnapshotIdentifier names the final snapshot taken when a protected database is deleted.
	FinalSnapshotIdentifier string
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

	Address         pulumi.StringOutput // DB endpoint host name
	Port            pulumi.IntOutput    // 5432
	DatabaseName    pulumi.StringOutput // "mlflow_data"
	Username        pulumi.StringOutput // "mlflow"
	SecurityGroupID pulumi.StringOutput // the DB instance's security group
	// PasswordParameterName and PasswordParameterArn identify the SecureString parameter.
	PasswordParameterName pulumi.StringOutput
	PasswordParameterArn  pulumi.StringOutput
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
		OverrideSpecial: pulumi.String(userdata.PasswordSpecialCharacters),
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
		Description: pulumi.String("MLflow backend store " + args.DBInstanceIdentifier + ": PostgreSQL from the tracking server only"),
		Tags:        pulumi.StringMap{"Name": pulumi.String(args.DBInstanceIdentifier)},
	}, parent)
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
		dbArgs.FinalSnapshotIdentifier = pulumi.String(args.FinalSnapshotIdentifier)
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
	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{
		"address":               b.Address,
		"port":                  b.Port,
		"databaseName":          b.DatabaseName,
		"username":              b.Username,
		"securityGroupId":       b.SecurityGroupID,
		"passwordParameterName": b.PasswordParameterName,
		"passwordParameterArn":  b.PasswordParameterArn,
	}); err != nil {
		return nil, err
	}
	return b, nil
}
