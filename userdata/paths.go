package userdata

// Fixed absolute paths and names on the instance. They are constants (not Params) so the
// launcher, the unit and the bootstrap always agree, and so tests can find each written file.
const (
	// ServiceUser is the unprivileged system user (and group) mlflow.service runs as.
	ServiceUser = "mlflow"
	// VenvDir is the Python 3.11 virtual environment MLflow is installed into (from the lock).
	VenvDir = "/opt/mlflow/venv"
	// Python is the interpreter the venv is created with: AL2023's python3.11 package, the CPython
	// minor the locks in userdata/lock target (MLflow needs >= 3.10; AL2023's python3 is 3.9).
	Python = "/usr/bin/python3.11"
	// VenvLockMarker is the file in VenvDir holding the SHA-256 of the lock the venv was built
	// from, written only after pip installed all of it; without it the bootstrap rebuilds the venv.
	VenvLockMarker = ".mlflow-aws-lock-sha256"
	// EnvFilePath is the systemd EnvironmentFile of mlflow.service: KEY=value lines, no secret,
	// root-owned, mode 0644.
	EnvFilePath = "/etc/mlflow/mlflow.env"
	// LibexecDir holds the launcher, the database state helper and the bootstrap.
	LibexecDir = "/usr/local/libexec/mlflow"
	// LauncherPath is the bash script mlflow.service executes (ExecStart); it fetches the
	// password, sizes the workers, waits for the database, upgrades it, then execs mlflow server.
	LauncherPath = LibexecDir + "/mlflow-launch"
	// DBStateHelperPath is the Python helper that prints "initialized" or "empty" for the
	// database behind MLFLOW_BACKEND_STORE_URI (exit status non-zero when it cannot connect).
	DBStateHelperPath = LibexecDir + "/mlflow-db-state"
	// BootstrapPath is the root-only bash script BootstrapUnitName runs: swap, packages, RDS CA
	// bundle, user, venv, pip install, systemd enable/start of UnitName, then BootstrapDoneMarker.
	// Re-running it is safe.
	BootstrapPath = LibexecDir + "/mlflow-bootstrap"
	// BootstrapUnitName is the oneshot systemd unit that runs BootstrapPath at every boot until one
	// run succeeds (Restart=on-failure every 30 s meanwhile), so a first boot without PyPI, dnf
	// mirrors or the RDS truststore recovers on its own. runcmd enables and starts it once.
	BootstrapUnitName = "mlflow-bootstrap.service"
	// BootstrapUnitPath is where the bootstrap unit is written.
	BootstrapUnitPath = "/etc/systemd/system/" + BootstrapUnitName
	// BootstrapDoneMarker is the file the bootstrap creates as its very last step; while it exists
	// BootstrapUnitName does not run (ConditionPathExists=!). Delete it to re-run the bootstrap on
	// the next boot or `systemctl start` of the unit.
	BootstrapDoneMarker = "/var/lib/mlflow-bootstrap.done"
	// UnitName is the systemd service name.
	UnitName = "mlflow.service"
	// UnitPath is where the service unit is written.
	UnitPath = "/etc/systemd/system/" + UnitName
	// PasswordWatchServiceName is the oneshot unit (root) that runs "LauncherPath watch-password":
	// it restarts UnitName when the DB password's SSM parameter has a Version other than the one
	// the running server read (rotation without a manual restart).
	PasswordWatchServiceName = "mlflow-db-password-watch.service"
	// PasswordWatchServicePath is where PasswordWatchServiceName is written.
	PasswordWatchServicePath = "/etc/systemd/system/" + PasswordWatchServiceName
	// PasswordWatchTimerName runs PasswordWatchServiceName every 5 minutes; UnitName Wants= it.
	PasswordWatchTimerName = "mlflow-db-password-watch.timer"
	// PasswordWatchTimerPath is where PasswordWatchTimerName is written.
	PasswordWatchTimerPath = "/etc/systemd/system/" + PasswordWatchTimerName
	// ExitSchemaNewer is the launcher's exit status when the database schema is newer than the
	// installed MLflow (a downgrade); ExitUpgradeFailed when the pre-upgrade RDS snapshot or the
	// migration failed. UnitName's RestartPreventExitStatus= lists both.
	ExitSchemaNewer, ExitUpgradeFailed = 78, 79
	// StateDir is the service's StateDirectory= and WorkingDirectory= (and the user's home).
	StateDir = "/var/lib/mlflow"
	// RDSCABundlePath is the Amazon RDS CA bundle (PEM, root:root 0644) the bootstrap downloads
	// from Params.RDSCABundleURL; BackendStoreURI names it as sslrootcert, and the launcher
	// refuses to start without it.
	RDSCABundlePath = "/etc/mlflow/rds-ca-bundle.pem"
	// ListenHost is the address mlflow server binds (--host, from EnvHost): every interface, so
	// the Elastic IP, the private IP and an SSM port forward (which connects to localhost) reach it;
	// the security group decides who may.
	ListenHost = "0.0.0.0"
	// SwapFilePath is the 1 GiB swap file created on instances with at most ~1 GiB of memory.
	SwapFilePath = "/swapfile"
)
