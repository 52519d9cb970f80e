package components

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// Alarm thresholds. Percentages are of the whole (0-100).
const (
	// DiskAlarmPercent is the disk use (root and spool volume) above which an alarm fires.
	DiskAlarmPercent = 80
	// MemoryAlarmPercent is the memory use above which an alarm fires: the server sizes its
	// workers to the memory, so a sustained 90 % means it is about to swap or be OOM-killed.
	MemoryAlarmPercent = 90
	// CPUAlarmPercent is the RDS CPU use above which an alarm fires.
	CPUAlarmPercent = 80
	// FreeStorageAlarmFraction is the share of dbAllocatedStorageGb below which the backend
	// store's free storage alarm fires (10 %).
	FreeStorageAlarmFraction = 0.10
	// HTTP5xxAlarmCount is the number of 5xx answers in 5 minutes (load balancer or targets)
	// above which an alarm fires.
	HTTP5xxAlarmCount = 10
)

// MonitoringArgs configures Monitoring. Exactly one of InstanceID (single-server mode) and
// AutoScalingGroupName (front door mode) is set; LoadBalancerArnSuffix and TargetGroupArnSuffix
// are set together or not at all.
type MonitoringArgs struct {
	// Region is the stack's region, e.g. "us-east-1"; Partition its partition, e.g. "aws".
	Region, Partition string
	// LogGroupName is the CloudWatch Logs group of the server's logs (userdata.MonitoringParams),
	// e.g. "/mlflow-aws/dev/tracking-server"; LogRetentionDays its retention in days (one of
	// CloudWatch Logs' values, checked by internal/config).
	LogGroupName     string
	LogRetentionDays int
	// MetricsNamespace is the namespace of the CloudWatch agent's metrics, e.g. "mlflow-aws/dev".
	MetricsNamespace string
	// AlarmEmail is subscribed to the alarm topic (protocol email); "" = no subscription.
	AlarmEmail string

	// InstanceID is the single server: its status checks get the EC2 recover (system check) and
	// reboot (instance check) actions.
	InstanceID pulumi.StringInput
	// AutoScalingGroupName is the front door's group: its status checks notify only (the group
	// replaces an unhealthy instance).
	AutoScalingGroupName pulumi.StringInput
	// InstanceType is the server's EC2 type, e.g. "t3.micro"; burstable types (t2, t3, t3a, t4g)
	// get the CPU credit alarm.
	InstanceType string
	// SpoolVolume says the server has a spool volume at SpoolPath (an alarm on its disk use).
	SpoolVolume bool
	SpoolPath   string

	// DBInstanceIdentifier is the backend store's RDS identifier; DBAllocatedStorageGiB its
	// configured storage (GiB), of which FreeStorageAlarmFraction is the free storage alarm's
	// threshold.
	DBInstanceIdentifier  pulumi.StringInput
	DBAllocatedStorageGiB int

	// LoadBalancerArnSuffix ("app/<name>/<id>") and TargetGroupArnSuffix
	// ("targetgroup/<name>/<id>") are the front door's, for the unhealthy target and 5xx alarms.
	LoadBalancerArnSuffix pulumi.StringInput
	TargetGroupArnSuffix  pulumi.StringInput
}

// Monitoring is what an operator watches (CloudWatch User Guide; Amazon EC2 User Guide, "Add stop,
// terminate, reboot, or recover actions to a CloudWatch alarm"): the log group the CloudWatch
// agent ships the server's journal to (with retention; the server's role may write there,
// CloudWatchAgentStatements with LogGroupArn), an SNS topic (with an optional email subscription) that every alarm notifies on alarm
// and on recovery, the alarms of monitoringAlarms, and one dashboard with the alarms, the
// server's and the database's metrics and the latest log lines.
type Monitoring struct {
	pulumi.ResourceState

	LogGroupName  pulumi.StringOutput `pulumi:"logGroupName"`
	AlarmTopicArn pulumi.StringOutput `pulumi:"alarmTopicArn"`
	// DashboardURL opens the dashboard in the AWS console.
	DashboardURL pulumi.StringOutput `pulumi:"dashboardUrl"`
}

// alarm is one CloudWatch alarm: a metric (or an expression over Queries) compared to Threshold
// over EvaluationPeriods periods of Period seconds.
type alarm struct {
	suffix, description string
	namespace, metric   string
	dimensions          pulumi.StringMap
	statistic           string
	period, periods     int
	comparison          string
	threshold           float64
	// queries replaces namespace/metric/dimensions/statistic with metric math.
	queries cloudwatch.MetricAlarmMetricQueryArray
	// actions are EC2 actions besides the topic (recover, reboot).
	actions []string
	// missing is TreatMissingData; "" = "missing".
	missing string
}

var burstableFamily = regexp.MustCompile(`^t[0-9][a-z]*$`)

// Burstable reports whether an EC2 instance type earns CPU credits (T2, T3, T3a, T4g; Amazon EC2
// User Guide, "Burstable performance instances").
func Burstable(instanceType string) bool {
	family, _, _ := strings.Cut(instanceType, ".")
	return burstableFamily.MatchString(family)
}

// LogGroupArn is the ARN of the log group name in an account of a region, as IAM names it
// (arn:<partition>:logs:<region>:<account>:log-group:<name>, without ":*").
func LogGroupArn(partition, region, account, name string) string {
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", partition, region, account, name)
}

// EC2ActionArn is the ARN of a CloudWatch alarm's EC2 action ("recover", "reboot") in a
// region: arn:<partition>:automate:<region>:ec2:<action>.
func EC2ActionArn(partition, region, action string) string {
	return fmt.Sprintf("arn:%s:automate:%s:ec2:%s", partition, region, action)
}

// ConsoleURL is the AWS console's address for a region of a partition.
func ConsoleURL(partition, region string) string {
	switch partition {
	case "aws-cn":
		return "https://console.amazonaws.cn"
	case "aws-us-gov":
		return "https://console.amazonaws-us-gov.com"
	}
	return "https://" + region + ".console.aws.amazon.com"
}

// DashboardURL is the console address of the CloudWatch dashboard name in region.
func DashboardURL(partition, region, name string) string {
	return fmt.Sprintf("%s/cloudwatch/home?region=%s#dashboards/dashboard/%s", ConsoleURL(partition, region), region, name)
}

// monitoringAlarms returns the alarms of args:
//   - single server: StatusCheckFailed_System (2 minutes) with the EC2 recover action and
//     StatusCheckFailed_Instance (3 minutes) with the reboot action; front door: StatusCheckFailed
//     of the group;
//   - disk use of / (and of the spool volume) above DiskAlarmPercent and memory use above
//     MemoryAlarmPercent, from the agent's metrics rolled up over the stack (Maximum);
//   - burstable types: the CPU credit balance spent and the instance bursting on surplus credits
//     (billed in unlimited mode, the default of T3, T3a and T4g);
//   - RDS free storage below FreeStorageAlarmFraction of the configured storage, and RDS CPU
//     above CPUAlarmPercent;
//   - with a load balancer: unhealthy targets, and 5xx answers of the load balancer and of the
//     targets above HTTP5xxAlarmCount in 5 minutes.
//
// ec2 are the AWS/EC2 dimensions of the server (InstanceId or AutoScalingGroupName).
func monitoringAlarms(args *MonitoringArgs, ec2 pulumi.StringMap) []alarm {
	var out []alarm
	if args.InstanceID != nil {
		out = append(out,
			alarm{suffix: "system-status", description: "EC2 system status check failed (AWS hardware or network): the instance is recovered onto other hardware",
				namespace: "AWS/EC2", metric: "StatusCheckFailed_System", dimensions: ec2, statistic: "Maximum", period: 60, periods: 2,
				comparison: "GreaterThanOrEqualToThreshold", threshold: 1, actions: []string{EC2ActionArn(args.Partition, args.Region, "recover")}},
			alarm{suffix: "instance-status", description: "EC2 instance status check failed (the operating system does not answer): the instance is rebooted",
				namespace: "AWS/EC2", metric: "StatusCheckFailed_Instance", dimensions: ec2, statistic: "Maximum", period: 60, periods: 3,
				comparison: "GreaterThanOrEqualToThreshold", threshold: 1, actions: []string{EC2ActionArn(args.Partition, args.Region, "reboot")}})
	} else {
		out = append(out, alarm{suffix: "status", description: "An instance of the tracking server's Auto Scaling group fails its EC2 status checks",
			namespace: "AWS/EC2", metric: "StatusCheckFailed", dimensions: ec2, statistic: "Maximum", period: 60, periods: 3,
			comparison: "GreaterThanOrEqualToThreshold", threshold: 1})
	}
	disk := func(suffix, path, what string) alarm {
		return alarm{suffix: suffix, description: fmt.Sprintf("%s (%s) is more than %d %% full", what, path, DiskAlarmPercent),
			namespace: args.MetricsNamespace, metric: userdata.MetricDiskUsedPercent, dimensions: pulumi.StringMap{userdata.DimensionPath: pulumi.String(path)},
			statistic: "Maximum", period: 300, periods: 2, comparison: "GreaterThanThreshold", threshold: DiskAlarmPercent}
	}
	out = append(out, disk("root-disk", userdata.RootPath, "The tracking server's root volume"))
	if args.SpoolVolume {
		out = append(out, disk("spool-disk", args.SpoolPath, "The tracking server's spool volume"))
	}
	out = append(out, alarm{suffix: "memory", description: fmt.Sprintf("The tracking server uses more than %d %% of its memory", MemoryAlarmPercent),
		namespace: args.MetricsNamespace, metric: userdata.MetricMemUsedPercent, dimensions: pulumi.StringMap{},
		statistic: "Maximum", period: 300, periods: 3, comparison: "GreaterThanThreshold", threshold: MemoryAlarmPercent})
	if Burstable(args.InstanceType) {
		metric := func(id, name, stat string) cloudwatch.MetricAlarmMetricQueryInput {
			return cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String(id), ReturnData: pulumi.Bool(false), Metric: cloudwatch.MetricAlarmMetricQueryMetricArgs{
				Namespace: pulumi.String("AWS/EC2"), MetricName: pulumi.String(name), Dimensions: ec2, Period: pulumi.Int(300), Stat: pulumi.String(stat)}}
		}
		out = append(out, alarm{suffix: "cpu-credits", description: "The CPU credit balance is spent and the tracking server bursts on surplus credits (billed in unlimited mode): a larger or non-burstable instanceType fits its load",
			queries: cloudwatch.MetricAlarmMetricQueryArray{
				metric("balance", "CPUCreditBalance", "Minimum"),
				metric("surplus", "CPUSurplusCreditBalance", "Maximum"),
				cloudwatch.MetricAlarmMetricQueryArgs{Id: pulumi.String("spent"), ReturnData: pulumi.Bool(true),
					Label: pulumi.String("CPU credits spent"), Expression: pulumi.String("IF(balance < 1 AND FILL(surplus, 0) > 0, 1, 0)")},
			},
			periods: 3, comparison: "GreaterThanOrEqualToThreshold", threshold: 1})
	}
	db := pulumi.StringMap{"DBInstanceIdentifier": args.DBInstanceIdentifier}
	freeBytes := float64(args.DBAllocatedStorageGiB) * FreeStorageAlarmFraction * (1 << 30)
	out = append(out,
		alarm{suffix: "db-free-storage", description: fmt.Sprintf("The backend store has less than %.0f %% of its configured %d GiB free", FreeStorageAlarmFraction*100, args.DBAllocatedStorageGiB),
			namespace: "AWS/RDS", metric: "FreeStorageSpace", dimensions: db, statistic: "Minimum", period: 300, periods: 1,
			comparison: "LessThanThreshold", threshold: freeBytes},
		alarm{suffix: "db-cpu", description: fmt.Sprintf("The backend store's CPU is above %d %%", CPUAlarmPercent),
			namespace: "AWS/RDS", metric: "CPUUtilization", dimensions: db, statistic: "Average", period: 300, periods: 3,
			comparison: "GreaterThanThreshold", threshold: CPUAlarmPercent})
	if args.LoadBalancerArnSuffix != nil {
		target := pulumi.StringMap{"LoadBalancer": args.LoadBalancerArnSuffix, "TargetGroup": args.TargetGroupArnSuffix}
		lb := pulumi.StringMap{"LoadBalancer": args.LoadBalancerArnSuffix}
		out = append(out,
			alarm{suffix: "unhealthy-targets", description: "A tracking server behind the load balancer fails its health check (/health)",
				namespace: "AWS/ApplicationELB", metric: "UnHealthyHostCount", dimensions: target, statistic: "Maximum", period: 60, periods: 3,
				comparison: "GreaterThanThreshold", threshold: 0},
			alarm{suffix: "target-5xx", description: fmt.Sprintf("The tracking servers answered more than %d 5xx in 5 minutes", HTTP5xxAlarmCount),
				namespace: "AWS/ApplicationELB", metric: "HTTPCode_Target_5XX_Count", dimensions: target, statistic: "Sum", period: 300, periods: 1,
				comparison: "GreaterThanThreshold", threshold: HTTP5xxAlarmCount, missing: "notBreaching"},
			alarm{suffix: "lb-5xx", description: fmt.Sprintf("The load balancer answered more than %d 5xx in 5 minutes (no healthy target, timeouts)", HTTP5xxAlarmCount),
				namespace: "AWS/ApplicationELB", metric: "HTTPCode_ELB_5XX_Count", dimensions: lb, statistic: "Sum", period: 300, periods: 1,
				comparison: "GreaterThanThreshold", threshold: HTTP5xxAlarmCount, missing: "notBreaching"})
	}
	return out
}

// NewMonitoring registers the monitoring of the tracking server (type token mlflow:aws:Monitoring).
func NewMonitoring(ctx *pulumi.Context, name string, args *MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if args == nil {
		return nil, fmt.Errorf("monitoring %q: args are required", name)
	}
	if (args.InstanceID == nil) == (args.AutoScalingGroupName == nil) {
		return nil, fmt.Errorf("monitoring %q: set exactly one of InstanceID (single server) and AutoScalingGroupName (front door)", name)
	}
	if (args.LoadBalancerArnSuffix == nil) != (args.TargetGroupArnSuffix == nil) {
		return nil, fmt.Errorf("monitoring %q: LoadBalancerArnSuffix and TargetGroupArnSuffix are set together", name)
	}
	if args.DBInstanceIdentifier == nil || args.LogGroupName == "" || args.MetricsNamespace == "" || (args.SpoolVolume && args.SpoolPath == "") {
		return nil, fmt.Errorf("monitoring %q: DBInstanceIdentifier, LogGroupName, MetricsNamespace (and SpoolPath with SpoolVolume) are required", name)
	}
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("mlflow:aws:Monitoring", name, m, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(m)

	logs, err := cloudwatch.NewLogGroup(ctx, name+"-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(args.LogGroupName),
		RetentionInDays: pulumi.Int(args.LogRetentionDays),
	}, parent)
	if err != nil {
		return nil, fmt.Errorf("monitoring log group: %w", err)
	}

	// Unencrypted at rest on purpose: CloudWatch cannot publish to a topic encrypted with the
	// AWS managed key aws/sns (CloudWatch User Guide, "Using Amazon SNS notifications"), and the
	// messages carry alarm names and metric values only.
	topic, err := sns.NewTopic(ctx, name+"-alarms", &sns.TopicArgs{DisplayName: pulumi.String("MLflow alarms " + name)}, parent)
	if err != nil {
		return nil, fmt.Errorf("monitoring alarm topic: %w", err)
	}
	if args.AlarmEmail != "" {
		if _, err := sns.NewTopicSubscription(ctx, name+"-alarm-email", &sns.TopicSubscriptionArgs{
			Topic: topic.Arn, Protocol: pulumi.String("email"), Endpoint: pulumi.String(args.AlarmEmail),
		}, parent); err != nil {
			return nil, fmt.Errorf("monitoring alarm subscription: %w", err)
		}
	}

	ec2 := pulumi.StringMap{"InstanceId": args.InstanceID}
	if args.InstanceID == nil {
		ec2 = pulumi.StringMap{"AutoScalingGroupName": args.AutoScalingGroupName}
	}
	var alarmArns pulumi.StringArray
	for _, a := range monitoringAlarms(args, ec2) {
		actions := pulumi.Array{topic.Arn}
		for _, arn := range a.actions {
			actions = append(actions, pulumi.String(arn))
		}
		missing := a.missing
		if missing == "" {
			missing = "missing"
		}
		alarmArgs := &cloudwatch.MetricAlarmArgs{
			AlarmDescription:   pulumi.String(a.description),
			ComparisonOperator: pulumi.String(a.comparison),
			EvaluationPeriods:  pulumi.Int(a.periods),
			Threshold:          pulumi.Float64(a.threshold),
			TreatMissingData:   pulumi.String(missing),
			AlarmActions:       actions,
			OkActions:          pulumi.Array{topic.Arn},
		}
		if a.queries != nil {
			alarmArgs.MetricQueries = a.queries
		} else {
			alarmArgs.Namespace, alarmArgs.MetricName, alarmArgs.Dimensions = pulumi.String(a.namespace), pulumi.String(a.metric), a.dimensions
			alarmArgs.Statistic, alarmArgs.Period = pulumi.String(a.statistic), pulumi.Int(a.period)
		}
		res, err := cloudwatch.NewMetricAlarm(ctx, name+"-"+a.suffix, alarmArgs, parent)
		if err != nil {
			return nil, fmt.Errorf("monitoring alarm %s: %w", a.suffix, err)
		}
		alarmArns = append(alarmArns, res.Arn)
	}

	lb := pulumi.String("").ToStringOutput()
	if args.LoadBalancerArnSuffix != nil {
		lb = args.LoadBalancerArnSuffix.ToStringOutput()
	}
	body := pulumi.All(alarmArns.ToStringArrayOutput(), ec2.ToStringMapOutput(), args.DBInstanceIdentifier.ToStringOutput(), lb).ApplyT(func(v []any) (string, error) {
		return dashboardBody(args, v[0].([]string), v[1].(map[string]string), v[2].(string), v[3].(string))
	}).(pulumi.StringOutput)
	if _, err := cloudwatch.NewDashboard(ctx, name+"-dashboard", &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(name), DashboardBody: body,
	}, parent); err != nil {
		return nil, fmt.Errorf("monitoring dashboard: %w", err)
	}

	m.LogGroupName = logs.Name
	m.AlarmTopicArn = topic.Arn
	m.DashboardURL = pulumi.String(DashboardURL(args.Partition, args.Region, name)).ToStringOutput()
	if err := registerOutputs(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// dashboardBody is the dashboard's JSON (CloudWatch API Reference, "Dashboard Body Structure and
// Syntax"): the alarms' states, the server's CPU (and credit balance), memory and disk use, the
// backend store's CPU and free storage, the load balancer's targets and answers when there is
// one (lb, its ARN suffix; "" = none), and the last log lines.
func dashboardBody(args *MonitoringArgs, alarmArns []string, ec2 map[string]string, dbID, lb string) (string, error) {
	type widget struct {
		Type       string         `json:"type"`
		X          int            `json:"x"`
		Y          int            `json:"y"`
		Width      int            `json:"width"`
		Height     int            `json:"height"`
		Properties map[string]any `json:"properties"`
	}
	var ec2Dim []any
	for k, v := range ec2 {
		ec2Dim = append(ec2Dim, k, v)
	}
	metric := func(ns, name string, dims ...any) []any { return append([]any{ns, name}, dims...) }
	graph := func(title string, stat string, metrics ...[]any) map[string]any {
		return map[string]any{"title": title, "region": args.Region, "stat": stat, "period": 300, "view": "timeSeries", "metrics": metrics}
	}
	disks := [][]any{metric(args.MetricsNamespace, userdata.MetricDiskUsedPercent, userdata.DimensionPath, userdata.RootPath)}
	if args.SpoolVolume {
		disks = append(disks, metric(args.MetricsNamespace, userdata.MetricDiskUsedPercent, userdata.DimensionPath, args.SpoolPath))
	}
	cpu := [][]any{metric("AWS/EC2", "CPUUtilization", ec2Dim...)}
	if Burstable(args.InstanceType) {
		cpu = append(cpu, append(metric("AWS/EC2", "CPUCreditBalance", ec2Dim...), map[string]any{"yAxis": "right"}))
	}
	widgets := []widget{
		{"alarm", 0, 0, 24, 4, map[string]any{"title": "Alarms", "alarms": alarmArns, "sortBy": "stateUpdatedTimestamp"}},
		{"metric", 0, 4, 8, 6, graph("Tracking server CPU %", "Average", cpu...)},
		{"metric", 8, 4, 8, 6, graph("Tracking server memory and disk used %", "Maximum",
			append([][]any{metric(args.MetricsNamespace, userdata.MetricMemUsedPercent)}, disks...)...)},
		{"metric", 16, 4, 8, 6, graph("Backend store", "Average",
			metric("AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", dbID),
			append(metric("AWS/RDS", "FreeStorageSpace", "DBInstanceIdentifier", dbID), map[string]any{"yAxis": "right", "stat": "Minimum"}))},
	}
	y := 10
	if lb != "" {
		widgets = append(widgets, widget{"metric", 0, y, 24, 6, graph("Load balancer", "Sum",
			metric("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", lb),
			metric("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", lb),
			metric("AWS/ApplicationELB", "RequestCount", "LoadBalancer", lb))})
		y += 6
	}
	widgets = append(widgets, widget{"log", 0, y, 24, 8, map[string]any{"title": "Tracking server log (latest)", "region": args.Region, "view": "table",
		"query": fmt.Sprintf("SOURCE '%s' | fields @timestamp, @logStream, @message | sort @timestamp desc | limit 100", args.LogGroupName)}})
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	if err != nil {
		return "", fmt.Errorf("dashboard body: %w", err)
	}
	return string(b), nil
}
