// Package userdata renders the EC2 user data (a cloud-init "#cloud-config" document) that
// installs and launches the MLflow tracking server on Amazon Linux 2023.
//
// The document follows the cloud-init module reference (write_files, runcmd) and the MLflow
// self-hosting guide (https://mlflow.org/docs/latest/self-hosting): MLflow runs from a Python
// 3.11 venv (installed from a hashed lock) as the unprivileged "mlflow" user under systemd, reads the backend store password
// from an SSM SecureString parameter at start into PGPASSWORD (never into argv, user data or a
// world-readable file), runs "mlflow db upgrade" on an initialised database, then execs
// "mlflow server".
package userdata

import "github.com/mlflow-aws/mlflow-aws/internal/mlflowspec"

// Artifact access modes accepted in Params.ArtifactAccess, as the strings the env file carries
// (mlflowspec.ArtifactAccess documents them).
const (
	ArtifactAccessProxied = string(mlflowspec.ArtifactAccessProxied)
	ArtifactAccessDirect  = string(mlflowspec.ArtifactAccessDirect)
)

// Params is everything the boot templates need. No field holds a secret: the password is
// fetched on the instance from PasswordParameterName.
type Params struct {
	// MLflowVersion is the exact PyPI release of mlflow[auth] to install, e.g. "3.17.2"
	// (mlflowspec.CheckRelease); it must have a lock in userdata/lock (lock.Versions), which pins
	// every package the venv installs.
	MLflowVersion string
	// Region is the AWS region of the stack, e.g. "eu-west-1"; exported as AWS_DEFAULT_REGION
	// (and AWS_REGION) so presigned URLs and SSM calls use it.
	Region string
	// BackendStoreHost is the RDS endpoint address (no port), e.g.
	// "mlflow-aws-dev.abc123.us-east-1.rds.amazonaws.com".
	BackendStoreHost string
	// BackendStorePort is the RDS port, normally 5432.
	BackendStorePort int
	// DatabaseName is the initial database, "mlflow_data".
	DatabaseName string
	// DatabaseUser is the master user name, "mlflow".
	DatabaseUser string
	// PasswordParameterName is the SSM SecureString parameter holding the master password,
	// e.g. "/mlflow-aws/dev/db-password".
	PasswordParameterName string
	// ArtifactAccess is ArtifactAccessProxied or ArtifactAccessDirect.
	ArtifactAccess string
	// ArtifactsURI is the S3 URI artifacts live under, e.g. "s3://bucket/artifacts": the
	// --artifacts-destination in proxied mode, the --default-artifact-root in direct mode.
	ArtifactsURI string
	// AllowedHosts are the Host header values MLflow >= 3.5 accepts (--allowed-hosts), each
	// "host" or "host:port"; must cover every host:port of the tracking URI.
	AllowedHosts []string
	// Workers is the number of uvicorn workers (0 to mlflowspec.MaxWorkers); 0 sizes it at boot
	// from the instance's memory.
	Workers int
	// Port is the port MLflow listens on, 5000.
	Port int
	// RDSCABundleURL is the HTTPS URL of the Amazon RDS certificate bundle the bootstrap downloads
	// to RDSCABundlePath, against which libpq verifies the RDS server certificate
	// (sslmode=verify-full). See the Amazon RDS User Guide, "Using SSL/TLS to encrypt a
	// connection to a DB instance or cluster", section "Certificate bundles by AWS Region". It
	// must be https, on a host ending in .amazonaws.com or .amazonaws.com.cn, with a path ending
	// in .pem. Empty means RDSCABundleURL(Region) (Render fills it in; Validate accepts it).
	RDSCABundleURL string
	// Auth turns on MLflow authentication (the mlflow-aws app); nil means none.
	Auth *AuthParams
	// Monitoring turns on the CloudWatch agent (logs and disk/memory metrics); nil means none.
	Monitoring *MonitoringParams
	// SpoolVolume says the instance has the artifact spool volume attached as SpoolDeviceName
	// (components.SpoolEbsBlockDevice): the bootstrap formats it when blank and mounts it at
	// SpoolDir, and the server's TMPDIR is SpoolDir (SpoolDropInPath). Only proxied transfers
	// pass through the server; with direct access the volume would stay unused.
	SpoolVolume bool
	// GCOlderThan turns on the daily `mlflow gc` (GCTimerName) of runs deleted longer ago than
	// this period, in the --older-than format (CheckGCOlderThan), e.g. "30d"; "" = off.
	GCOlderThan string
}

// AuthParams turn on MLflow authentication: the mlflow-aws app (MLflow's basic-auth app plus
// the promotion rule; package server) with its users as code. Params.Auth nil means none.
// No field holds a secret: the passwords and the Flask secret key are SSM SecureStrings the
// launcher reads at start.
type AuthParams struct {
	// AdminUsername is the MLflow admin user, e.g. "mlflow-admin" (never MLflow's default
	// "admin"): a letter, then letters, digits, '.', '_' or '-', at most 64.
	AdminUsername string
	// DefaultPermission is what every user may do on others' experiments and models: READ,
	// EDIT, MANAGE or NO_PERMISSIONS (MLflow, "Authentication", default_permission).
	DefaultPermission string
	// Users are the names of the other users (same rule as AdminUsername); each has its password
	// in SSM at ParameterPath + "/users/<name>". Users not listed are disabled at start.
	Users []string
	// Promoters are the users (a subset of Users) who, with the admin, may set or move
	// ProductionAlias (and the legacy stage Production).
	Promoters []string
	// ProductionAlias and StagingAlias name the registered-model aliases of the promotion rule:
	// a version may receive ProductionAlias only while it holds StagingAlias.
	ProductionAlias, StagingAlias string
	// ParameterPath is the SSM path of the auth SecureStrings, e.g. "/mlflow-aws/dev/auth":
	// ParameterPath + "/admin-password" and ParameterPath + "/users/<name>".
	ParameterPath string
	// SecretKeyParameterName is the SSM SecureString holding the Flask secret key
	// (MLFLOW_FLASK_SERVER_SECRET_KEY), e.g. "/mlflow-aws/dev/flask-secret-key".
	SecretKeyParameterName string
}
