// Command mlflow-aws is a Pulumi program deploying an MLflow tracking server and model registry
// on AWS: RDS for PostgreSQL as the backend store, S3 as the artifact store and an EC2 tracking
// server. It reads the stack configuration, wires the components and exports the outputs.
package main

import (
	"maps"
	"os"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/config"
)

func main() {
	if runByHand(os.Getenv) {
		os.Exit(printStandaloneUsage(os.Stderr))
	}
	pulumi.Run(program)
}

// program is the whole deployment, exporting the stack outputs.
func program(ctx *pulumi.Context) error { return deploy(ctx, ctx.Export) }

// deploy registers every resource and hands each stack output to export; tests run it under
// pulumi.WithMocks with a recording export, everything else as `pulumi up` runs it.
func deploy(ctx *pulumi.Context, export func(name string, value pulumi.Input)) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}
	network, err := components.LookupNetwork(ctx, cfg.VpcID, cfg.SubnetIDs, cfg.InstanceType)
	if err != nil {
		return err
	}
	account, err := components.LookupAccountID(ctx)
	if err != nil {
		return err
	}
	boundary := components.BoundaryPolicyArn(cfg.Partition, account)
	// A downgrade, or a version change together with a front door change, is refused before
	// any resource is registered (at preview too). A stack without the front-door record ran
	// without one (the record came with the front door).
	deployed, err := components.LookupDeployed(ctx, cfg.DeployedVersionPath())
	if err != nil {
		return err
	}
	if err := cfg.CheckUpgrade(deployed[components.RecordMLflowVersion], deployed[components.RecordFrontDoor] == "true"); err != nil {
		return err
	}
	if cfg.FrontDoor != nil {
		zone, private, err := components.LookupHostedZone(ctx, cfg.FrontDoor.HostedZoneID)
		if err != nil {
			return err
		}
		if err := cfg.CheckHostedZone(zone, private); err != nil {
			return err
		}
	}

	artifacts, err := components.NewArtifactStore(ctx, cfg.Name+"-artifacts", &components.ArtifactStoreArgs{
		BucketName:   cfg.ArtifactBucketName,
		BucketPrefix: cfg.BucketPrefix,
		ProtectData:  cfg.ProtectData,
	})
	if err != nil {
		return err
	}
	backend, err := components.NewBackendStore(ctx, cfg.Name+"-db", &components.BackendStoreArgs{
		VpcID:                  network.VpcID,
		SubnetIDs:              network.SubnetIDs,
		DBInstanceIdentifier:   cfg.DBInstanceIdentifier,
		PasswordParameterName:  cfg.PasswordParameterName(),
		InstanceClass:          cfg.DBInstanceClass,
		EngineVersion:          cfg.DBEngineVersion,
		ParameterGroupFamily:   cfg.ParameterGroupFamily(),
		AllocatedStorageGiB:    cfg.DBAllocatedStorageGiB,
		MaxAllocatedStorageGiB: cfg.DBMaxAllocatedStorageGiB,
		MultiAZ:                cfg.DBMultiAZ,
		BackupRetentionDays:    cfg.DBBackupRetentionDays,
		ProtectData:            cfg.ProtectData,
	})
	if err != nil {
		return err
	}
	agent := cfg.MonitoringParams()
	serverArgs := &components.TrackingServerArgs{
		Region:                      cfg.Region,
		Partition:                   cfg.Partition,
		VpcID:                       network.VpcID,
		SubnetID:                    network.InstanceSubnetID,
		SubnetChosenByProgram:       network.InstanceSubnetChosenByProgram,
		InstanceType:                cfg.InstanceType,
		AmiID:                       cfg.AmiID,
		MLflowVersion:               cfg.MLflowVersion,
		ArtifactAccess:              cfg.ArtifactAccess,
		Workers:                     cfg.Workers,
		AllowedCidrs:                cfg.AllowedCidrs,
		ClientsUsePrivateIP:         config.AllPrivate(cfg.AllowedCidrs),
		AllowedHosts:                cfg.AllowedHosts,
		SSHKeyName:                  cfg.SSHKeyName,
		SSHCidrs:                    cfg.SSHCidrs,
		BucketName:                  artifacts.BucketName,
		BucketArn:                   artifacts.BucketArn,
		ArtifactsURI:                artifacts.ArtifactsURI,
		BackendStoreHost:            backend.Address,
		BackendStorePort:            backend.Port,
		BackendStoreSecurityGroupID: backend.SecurityGroupID,
		PasswordParameterName:       backend.PasswordParameterName,
		PasswordParameterArn:        backend.PasswordParameterArn,
		PermissionsBoundaryArn:      boundary,
		DBInstanceArn:               components.DBInstanceArn(cfg.Partition, cfg.Region, account, cfg.DBInstanceIdentifier),
		Monitoring:                  agent,
		LogGroupArn:                 components.LogGroupArn(cfg.Partition, cfg.Region, account, cfg.LogGroupName()),
		DetailedMonitoring:          cfg.DetailedMonitoring,
		ArtifactSpoolGiB:            cfg.SpoolVolumeGiB(),
		GCOlderThan:                 cfg.GCOlderThan,
		ProtectData:                 cfg.ProtectData,
	}
	if fd := cfg.FrontDoor; fd != nil {
		serverArgs.FrontDoor = &components.FrontDoorArgs{
			DomainName:            fd.DomainName,
			HostedZoneID:          fd.HostedZoneID,
			AccessLogs:            fd.AccessLogs,
			LogsBucketPrefix:      fd.LogsBucketPrefix,
			LoadBalancerSubnetIDs: network.SubnetIDs,
			ServerSubnetIDs:       network.ServerSubnetIDs,
			MinServers:            fd.MinServers,
			MaxServers:            fd.MaxServers,
		}
	}
	// Outputs of auth none: no parameter names (an empty name and map, not a missing output).
	adminParameter, userParameters, secretKeyParameter := pulumi.String("").ToStringOutput(), pulumi.StringMap{}.ToStringMapOutput(), pulumi.String("").ToStringOutput()
	if cfg.AuthParams != nil {
		auth, err := components.NewServerAuth(ctx, cfg.Name+"-auth", &components.ServerAuthArgs{
			Auth:        cfg.AuthParams,
			ProtectData: cfg.ProtectData,
		})
		if err != nil {
			return err
		}
		serverArgs.Auth = cfg.AuthParams
		serverArgs.AuthParameterPathArn = auth.ParameterPathArn
		serverArgs.SecretKeyParameterArn = auth.SecretKeyParameterArn
		adminParameter, userParameters, secretKeyParameter = auth.AdminPasswordParameterName, auth.UserPasswordParameterNames, auth.SecretKeyParameterName
	}
	server, err := components.NewTrackingServer(ctx, cfg.Name+"-server", serverArgs)
	if err != nil {
		return err
	}
	// The record moves once the new servers exist: the instance, or the group (which waits for
	// healthy targets) with a front door.
	servers := server.InstanceID
	if cfg.FrontDoor != nil {
		servers = server.AutoScalingGroupName
	}
	if _, err := components.RecordDeployed(ctx, cfg.Name+"-mlflow-version", cfg.DeployedVersionPath(), components.RecordMLflowVersion,
		cfg.MLflowVersion, "MLflow release last deployed against the backend store (the program refuses an older one)",
		servers, pulumi.Parent(server)); err != nil {
		return err
	}
	if _, err := components.RecordDeployed(ctx, cfg.Name+"-front-door", cfg.DeployedVersionPath(), components.RecordFrontDoor,
		strconv.FormatBool(cfg.FrontDoor != nil), "Whether the last deployment ran behind the front door (the program refuses a version change in the same update as a switch)",
		servers, pulumi.Parent(server)); err != nil {
		return err
	}

	monitoringArgs := &components.MonitoringArgs{
		Region:                cfg.Region,
		Partition:             cfg.Partition,
		LogGroupName:          cfg.LogGroupName(),
		LogRetentionDays:      cfg.LogRetentionDays,
		MetricsNamespace:      cfg.MetricsNamespace(),
		AlarmEmail:            cfg.AlarmEmail,
		InstanceType:          cfg.InstanceType,
		SpoolVolume:           agent.SpoolPath != "",
		SpoolPath:             agent.SpoolPath,
		DBInstanceIdentifier:  pulumi.String(cfg.DBInstanceIdentifier),
		DBAllocatedStorageGiB: cfg.DBAllocatedStorageGiB,
	}
	if cfg.FrontDoor != nil {
		// The group's servers: status checks notify (the group replaces them), plus the load
		// balancer's unhealthy-target and 5xx alarms.
		monitoringArgs.AutoScalingGroupName = server.AutoScalingGroupName
		monitoringArgs.LoadBalancerArnSuffix = server.LoadBalancerArnSuffix
		monitoringArgs.TargetGroupArnSuffix = server.TargetGroupArnSuffix
	} else {
		monitoringArgs.InstanceID = server.InstanceID
	}
	monitoring, err := components.NewMonitoring(ctx, cfg.Name+"-monitoring", monitoringArgs)
	if err != nil {
		return err
	}

	outputs := map[string]pulumi.Input{
		"trackingUri":             server.TrackingURI,
		"artifactBucketName":      artifacts.BucketName,
		"artifactsDestination":    artifacts.ArtifactsURI,
		"backendStoreAddress":     backend.Address,
		"backendStorePort":        backend.Port,
		"dbPasswordParameterName": backend.PasswordParameterName,
		"instanceId":              server.InstanceID,
		"publicIp":                server.PublicIP,
		"portForwardCommand":      server.PortForwardCommand,
		"privateIp":               server.PrivateIP,
		// The front door's ("" without one): what alarms and dashboards need.
		"autoScalingGroupName":  server.AutoScalingGroupName,
		"loadBalancerArnSuffix": server.LoadBalancerArnSuffix,
		"targetGroupArnSuffix":  server.TargetGroupArnSuffix,
		"loadBalancerDnsName":   server.LoadBalancerDNSName,
		"logGroupName":          monitoring.LogGroupName,
		"dashboardUrl":          monitoring.DashboardURL,
		// Names of SecureStrings, never their values.
		"adminPasswordParameterName":  adminParameter,
		"userPasswordParameterNames":  userParameters,
		"flaskSecretKeyParameterName": secretKeyParameter,
	}
	for _, k := range slices.Sorted(maps.Keys(outputs)) {
		export(k, outputs[k])
	}
	return nil
}
