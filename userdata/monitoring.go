package userdata

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// MonitoringParams turn on log shipping and the disk and memory metrics of the tracking server
// (Params.Monitoring; nil = none). The Amazon CloudWatch agent (AL2023 package
// amazon-cloudwatch-agent) reads files, not the journal, so LogExportUnitName copies the journal
// of UnitName and BootstrapUnitName to JournalLogPath, which the agent tails into LogGroupName.
// The journal stays the record on the instance (`journalctl -u mlflow`); the copy holds what
// systemd itself logs about the units too (a failed exec, a restart), which a unit's own
// StandardOutput= file would miss.
type MonitoringParams struct {
	// LogGroupName is the CloudWatch Logs group the agent writes to (one stream per instance,
	// named by its instance id), e.g. "/mlflow-aws/dev/tracking-server". The program creates it
	// with its retention; the instance role may only create streams and put events there.
	LogGroupName string
	// MetricsNamespace is the CloudWatch namespace of the agent's metrics, e.g. "mlflow-aws/dev":
	// one per stack, so the metrics aggregated over the stack's instances (no instance
	// dimension) are the stack's alone and the role's PutMetricData is limited to it.
	MetricsNamespace string
	// SpoolPath is the mount point of the spool volume, e.g. "/var/spool/mlflow", whose disk use
	// the agent reports beside the root volume's; "" = no spool volume.
	SpoolPath string
}

// Paths and names of the monitoring files on the instance.
const (
	// AgentConfigPath is the CloudWatch agent's JSON configuration (AgentConfig), loaded by
	// `amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -c file:AgentConfigPath`.
	AgentConfigPath = "/opt/aws/amazon-cloudwatch-agent/etc/mlflow-aws.json"
	// AgentCtl is the agent's control script (amazon-cloudwatch-agent package).
	AgentCtl = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
	// AgentUnitName is the agent's systemd service (amazon-cloudwatch-agent package).
	AgentUnitName = "amazon-cloudwatch-agent.service"
	// LogDir holds JournalLogPath.
	LogDir = "/var/log/mlflow"
	// JournalLogPath is the text copy of the MLflow units' journal the agent ships.
	JournalLogPath = LogDir + "/journal.log"
	// LogExportUnitName is the service that copies the new journal entries of UnitName and
	// BootstrapUnitName to JournalLogPath every 10 s (LogExportArgs).
	LogExportUnitName = "mlflow-log-export.service"
	// LogExportUnitPath is where the export unit is written.
	LogExportUnitPath = "/etc/systemd/system/" + LogExportUnitName
	// LogExportCursorPath is the journal cursor of the last line exported (StateDirectory=).
	LogExportCursorPath = "/var/lib/mlflow-log-export/cursor"
	// LogrotatePath rotates JournalLogPath (copytruncate: the export unit keeps its O_APPEND
	// descriptor, and the agent reads a truncated file from its start).
	LogrotatePath = "/etc/logrotate.d/mlflow"
	// RootPath is the root volume's mount point in the agent's disk metrics.
	RootPath = "/"
)

// LogExportArgs are the arguments of journalctl in LogExportUnitName: the entries of UnitName and
// BootstrapUnitName after the cursor saved in LogExportCursorPath (all of them the first time),
// with ISO 8601 timestamps, and the cursor of the last one saved on exit. --quiet drops the
// "-- No entries --" line of a round with nothing new.
var LogExportArgs = []string{"--quiet", "--no-pager", "--no-hostname", "--output=short-iso-precise",
	"--cursor-file=" + LogExportCursorPath, "--unit=" + UnitName, "--unit=" + BootstrapUnitName}

// Names of the agent's metrics (CloudWatch agent, "Metrics collected by the CloudWatch agent")
// and their dimensions, as alarms must name them.
const (
	MetricDiskUsedPercent = "disk_used_percent"
	MetricMemUsedPercent  = "mem_used_percent"
	// DimensionPath is the mount point dimension of the disk metrics.
	DimensionPath = "path"
)

var (
	logGroupNameRe = regexp.MustCompile(`^[A-Za-z0-9_/.#-]{1,512}$`)
	namespaceRe    = regexp.MustCompile(`^[A-Za-z0-9_/.#: -]{1,255}$`)
	mountPathRe    = regexp.MustCompile(`^/[A-Za-z0-9._/-]*$`)
)

// monitoringProblems returns the problems of m (nil: none), each naming its field.
func monitoringProblems(m *MonitoringParams) []error {
	if m == nil {
		return nil
	}
	var errs []error
	if !logGroupNameRe.MatchString(m.LogGroupName) {
		errs = append(errs, fmt.Errorf("Monitoring.LogGroupName %q is not a CloudWatch Logs group name (1-512 of letters, digits, _ / . # -)", m.LogGroupName))
	}
	if !namespaceRe.MatchString(m.MetricsNamespace) || len(m.MetricsNamespace) >= 4 && m.MetricsNamespace[:4] == "AWS/" {
		errs = append(errs, fmt.Errorf("Monitoring.MetricsNamespace %q is not a custom CloudWatch namespace (1-255 of letters, digits, _ / . # : - space; not AWS/)", m.MetricsNamespace))
	}
	if m.SpoolPath != "" && (!mountPathRe.MatchString(m.SpoolPath) || m.SpoolPath == RootPath) {
		errs = append(errs, fmt.Errorf("Monitoring.SpoolPath %q is not an absolute mount point other than /", m.SpoolPath))
	}
	return errs
}

// agentConfig is the part of the CloudWatch agent's configuration file this program writes
// (CloudWatch User Guide, "Manually create or edit the CloudWatch agent configuration file").
type agentConfig struct {
	Agent struct {
		MetricsCollectionInterval int    `json:"metrics_collection_interval"`
		RunAsUser                 string `json:"run_as_user"`
	} `json:"agent"`
	Metrics struct {
		Namespace string `json:"namespace"`
		// AggregationDimensions [["path"], []]: besides the per-host series, the agent
		// publishes each metric rolled up by mount point only, and with no dimension at all, so
		// alarms need no instance id and cover every instance of the stack (Maximum).
		AggregationDimensions [][]string `json:"aggregation_dimensions"`
		MetricsCollected      struct {
			Mem struct {
				Measurement []string `json:"measurement"`
			} `json:"mem"`
			Disk struct {
				Measurement []string `json:"measurement"`
				Resources   []string `json:"resources"`
				DropDevice  bool     `json:"drop_device"`
			} `json:"disk"`
		} `json:"metrics_collected"`
	} `json:"metrics"`
	Logs struct {
		LogsCollected struct {
			Files struct {
				CollectList []agentLogFile `json:"collect_list"`
			} `json:"files"`
		} `json:"logs_collected"`
	} `json:"logs"`
}

type agentLogFile struct {
	FilePath      string `json:"file_path"`
	LogGroupName  string `json:"log_group_name"`
	LogStreamName string `json:"log_stream_name"`
}

// AgentConfig returns the CloudWatch agent configuration (JSON) for m: every 60 s the memory
// and disk use in percent (mem_used_percent; disk_used_percent of RootPath and m.SpoolPath) in
// m.MetricsNamespace, and JournalLogPath to m.LogGroupName in a stream named by the instance
// id. The agent runs as its own cwagent user; no retention is set here (the program owns the
// log group). It does not validate m; Validate does.
func AgentConfig(m MonitoringParams) (string, error) {
	var c agentConfig
	c.Agent.MetricsCollectionInterval = 60
	c.Agent.RunAsUser = "cwagent"
	c.Metrics.Namespace = m.MetricsNamespace
	c.Metrics.AggregationDimensions = [][]string{{DimensionPath}, {}}
	c.Metrics.MetricsCollected.Mem.Measurement = []string{"used_percent"}
	c.Metrics.MetricsCollected.Disk.Measurement = []string{"used_percent"}
	c.Metrics.MetricsCollected.Disk.Resources = []string{RootPath}
	if m.SpoolPath != "" {
		c.Metrics.MetricsCollected.Disk.Resources = append(c.Metrics.MetricsCollected.Disk.Resources, m.SpoolPath)
	}
	c.Metrics.MetricsCollected.Disk.DropDevice = true
	c.Logs.LogsCollected.Files.CollectList = []agentLogFile{{FilePath: JournalLogPath, LogGroupName: m.LogGroupName, LogStreamName: "{instance_id}"}}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("CloudWatch agent configuration: %w", err)
	}
	return string(b) + "\n", nil
}
