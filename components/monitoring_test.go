package components

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// monitoringMocks records the resources NewMonitoring registers, answering like the AWS provider
// (ARNs, auto-names).
type monitoringMocks struct {
	mu        sync.Mutex
	resources map[string]resource.PropertyMap // by logical name
	types     map[string]string
}

func (m *monitoringMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	out := args.Inputs.Copy()
	id := args.Name + "-id"
	switch args.TypeToken {
	case "aws:cloudwatch/logGroup:LogGroup":
		out["arn"] = resource.NewStringProperty("arn:aws:logs:eu-west-1:123456789012:log-group:" + args.Inputs["name"].StringValue())
	case "aws:sns/topic:Topic":
		id = "arn:aws:sns:eu-west-1:123456789012:" + args.Name + "-1a2b3c4"
		out["arn"] = resource.NewStringProperty(id)
	case "aws:cloudwatch/metricAlarm:MetricAlarm":
		out["arn"] = resource.NewStringProperty("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:" + args.Name + "-1a2b3c4")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resources[args.Name] = args.Inputs
	m.types[args.Name] = args.TypeToken
	return id, out, nil
}

func (m *monitoringMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected invoke %s", args.Token)
}

// runMonitoring registers NewMonitoring(args) under mocks and returns what it registered and
// its dashboard URL output.
func runMonitoring(t *testing.T, args *MonitoringArgs) (*monitoringMocks, string) {
	t.Helper()
	m := &monitoringMocks{resources: map[string]resource.PropertyMap{}, types: map[string]string{}}
	url := make(chan string, 1)
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		mon, err := NewMonitoring(ctx, "mlflow-prod-monitoring", args)
		if err != nil {
			return err
		}
		mon.DashboardURL.ApplyT(func(u string) string { url <- u; return u })
		return nil
	}, pulumi.WithMocks("mlflow-aws", "prod", m))
	if err != nil {
		t.Fatalf("NewMonitoring: %v", err)
	}
	return m, <-url
}

func singleServerArgs() *MonitoringArgs {
	return &MonitoringArgs{
		Region: "eu-west-1", Partition: "aws", LogGroupName: "/mlflow-aws/prod/tracking-server", LogRetentionDays: 365,
		MetricsNamespace: "mlflow-aws/prod", InstanceID: pulumi.String("i-0123456789abcdef0"), InstanceType: "t3.medium",
		DBInstanceIdentifier: pulumi.String("mlflow-aws-prod"), DBAllocatedStorageGiB: 50,
	}
}

// frontDoorArgs is the front door's shape with mock values: an Auto Scaling group, a load
// balancer and its target group, a spool volume, a non-burstable type and an alarm email.
func frontDoorArgs() *MonitoringArgs {
	a := singleServerArgs()
	a.InstanceID = nil
	a.AutoScalingGroupName = pulumi.String("mlflow-prod-server-asg-1a2b3c4")
	a.LoadBalancerArnSuffix = pulumi.String("app/mlflow-prod/50dc6c495c0c9188")
	a.TargetGroupArnSuffix = pulumi.String("targetgroup/mlflow-prod/73e2d6bc24d8a067")
	a.InstanceType, a.SpoolVolume, a.SpoolPath, a.AlarmEmail = "m7i.large", true, "/var/spool/mlflow", "ops@example.com"
	return a
}

// alarmsOf returns the alarm inputs by the alarm's suffix (the logical name after the
// component's).
func (m *monitoringMocks) alarmsOf() map[string]resource.PropertyMap {
	out := map[string]resource.PropertyMap{}
	for name, typ := range m.types {
		if typ == "aws:cloudwatch/metricAlarm:MetricAlarm" {
			out[strings.TrimPrefix(name, "mlflow-prod-monitoring-")] = m.resources[name]
		}
	}
	return out
}

func str(p resource.PropertyMap, k string) string {
	if v := p[resource.PropertyKey(k)]; v.IsString() {
		return v.StringValue()
	}
	return ""
}

func strs(v resource.PropertyValue) []string {
	var out []string
	for _, x := range v.ArrayValue() {
		out = append(out, x.StringValue())
	}
	return out
}

// TestMonitoringSingleServer: with one instance, its system status check recovers it onto other
// hardware and its instance status check reboots it (and both notify); the disk, memory, CPU
// credit (t3) and RDS alarms exist with their thresholds (RDS free storage: 10 % of 50 GiB in
// bytes); there are no load balancer alarms, no spool alarm, no subscription; every alarm
// notifies the topic on alarm and on OK; the log group keeps its retention; the dashboard is
// valid JSON naming every alarm and the log group, at the console URL of the region.
func TestMonitoringSingleServer(t *testing.T) {
	m, url := runMonitoring(t, singleServerArgs())
	alarms := m.alarmsOf()
	want := []string{"system-status", "instance-status", "root-disk", "memory", "cpu-credits", "db-free-storage", "db-cpu"}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range alarms {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("alarms %v, want %v", got, want)
	}
	topic := "arn:aws:sns:eu-west-1:123456789012:mlflow-prod-monitoring-alarms-1a2b3c4"
	for suffix, action := range map[string]string{"system-status": "arn:aws:automate:eu-west-1:ec2:recover", "instance-status": "arn:aws:automate:eu-west-1:ec2:reboot"} {
		a := alarms[suffix]
		if got := strs(a["alarmActions"]); !slices.Equal(got, []string{topic, action}) {
			t.Errorf("%s actions %v, want the topic and %s", suffix, got, action)
		}
		if d := a["dimensions"].ObjectValue(); d["InstanceId"].StringValue() != "i-0123456789abcdef0" || len(d) != 1 {
			t.Errorf("%s dimensions %v", suffix, d)
		}
	}
	if str(alarms["system-status"], "metricName") != "StatusCheckFailed_System" || str(alarms["instance-status"], "metricName") != "StatusCheckFailed_Instance" {
		t.Errorf("status check metrics %q %q", str(alarms["system-status"], "metricName"), str(alarms["instance-status"], "metricName"))
	}
	for suffix, a := range alarms {
		if got := strs(a["okActions"]); !slices.Equal(got, []string{topic}) || strs(a["alarmActions"])[0] != topic {
			t.Errorf("%s notifies %v / ok %v, want the topic", suffix, strs(a["alarmActions"]), got)
		}
	}
	if v := alarms["db-free-storage"]["threshold"].NumberValue(); v != 50*0.1*(1<<30) || str(alarms["db-free-storage"], "comparisonOperator") != "LessThanThreshold" {
		t.Errorf("free storage threshold %v bytes, want 10 %% of 50 GiB", v)
	}
	root := alarms["root-disk"]
	if str(root, "namespace") != "mlflow-aws/prod" || str(root, "metricName") != "disk_used_percent" || root["threshold"].NumberValue() != 80 ||
		root["dimensions"].ObjectValue()["path"].StringValue() != "/" {
		t.Errorf("root disk alarm %v", root)
	}
	if q := alarms["cpu-credits"]["metricQueries"].ArrayValue(); len(q) != 3 || !strings.Contains(q[2].ObjectValue()["expression"].StringValue(), "balance") {
		t.Errorf("cpu credit alarm queries %v", q)
	}
	var dashboard, logs resource.PropertyMap
	for name, typ := range m.types {
		switch typ {
		case "aws:sns/topicSubscription:TopicSubscription":
			t.Errorf("a subscription %s without AlarmEmail", name)
		case "aws:cloudwatch/dashboard:Dashboard":
			dashboard = m.resources[name]
		case "aws:cloudwatch/logGroup:LogGroup":
			logs = m.resources[name]
		}
	}
	if str(logs, "name") != "/mlflow-aws/prod/tracking-server" || logs["retentionInDays"].NumberValue() != 365 {
		t.Errorf("log group %v", logs)
	}
	checkDashboard(t, str(dashboard, "dashboardBody"), len(alarms), "/mlflow-aws/prod/tracking-server", false)
	if url != "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/mlflow-prod-monitoring" {
		t.Errorf("dashboard URL %q", url)
	}
}

// TestMonitoringFrontDoor: with an Auto Scaling group and a load balancer (mock values), the
// status checks of the group notify without EC2 actions (the group replaces instances), the
// unhealthy target and both 5xx alarms name the load balancer (and target group), the spool
// volume has its disk alarm, a non-burstable type has no CPU credit alarm, and the email is
// subscribed.
func TestMonitoringFrontDoor(t *testing.T) {
	m, _ := runMonitoring(t, frontDoorArgs())
	alarms := m.alarmsOf()
	for _, want := range []string{"status", "root-disk", "spool-disk", "memory", "db-free-storage", "db-cpu", "unhealthy-targets", "target-5xx", "lb-5xx"} {
		if _, ok := alarms[want]; !ok {
			t.Errorf("no %s alarm (have %d)", want, len(alarms))
		}
	}
	for _, absent := range []string{"system-status", "instance-status", "cpu-credits"} {
		if _, ok := alarms[absent]; ok {
			t.Errorf("%s alarm in front door mode with %s", absent, frontDoorArgs().InstanceType)
		}
	}
	if got := strs(alarms["status"]["alarmActions"]); len(got) != 1 || alarms["status"]["dimensions"].ObjectValue()["AutoScalingGroupName"].StringValue() != "mlflow-prod-server-asg-1a2b3c4" {
		t.Errorf("group status alarm: actions %v dimensions %v", got, alarms["status"]["dimensions"])
	}
	if d := alarms["unhealthy-targets"]["dimensions"].ObjectValue(); d["LoadBalancer"].StringValue() != "app/mlflow-prod/50dc6c495c0c9188" || d["TargetGroup"].StringValue() != "targetgroup/mlflow-prod/73e2d6bc24d8a067" {
		t.Errorf("unhealthy target dimensions %v", d)
	}
	if d := alarms["spool-disk"]["dimensions"].ObjectValue(); d["path"].StringValue() != "/var/spool/mlflow" {
		t.Errorf("spool disk dimensions %v", d)
	}
	subscribed := false
	for name, typ := range m.types {
		if typ == "aws:sns/topicSubscription:TopicSubscription" {
			subscribed = str(m.resources[name], "endpoint") == "ops@example.com" && str(m.resources[name], "protocol") == "email"
		}
		if typ == "aws:cloudwatch/dashboard:Dashboard" {
			checkDashboard(t, str(m.resources[name], "dashboardBody"), len(alarms), "/mlflow-aws/prod/tracking-server", true)
		}
	}
	if !subscribed {
		t.Error("the alarm email is not subscribed")
	}
}

// checkDashboard: the body is JSON with an alarm widget naming n alarms, a log widget on the
// log group, and a load balancer graph exactly when lb.
func checkDashboard(t *testing.T, body string, n int, logGroup string, lb bool) {
	t.Helper()
	var d struct {
		Widgets []struct {
			Type       string         `json:"type"`
			Properties map[string]any `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, body)
	}
	var alarms, logs, lbGraph bool
	for _, w := range d.Widgets {
		switch {
		case w.Type == "alarm":
			alarms = len(w.Properties["alarms"].([]any)) == n
		case w.Type == "log":
			logs = strings.Contains(w.Properties["query"].(string), "SOURCE '"+logGroup+"'")
		case w.Properties["title"] == "Load balancer":
			lbGraph = strings.Contains(body, "app/mlflow-prod/50dc6c495c0c9188")
		}
	}
	if !alarms || !logs || lbGraph != lb {
		t.Errorf("dashboard: alarm widget with %d alarms %v, log widget %v, load balancer graph %v (want %v):\n%s", n, alarms, logs, lbGraph, lb, body)
	}
}

// TestMonitoringRefusesAmbiguousTargets: exactly one of an instance and a group, and the load
// balancer's two suffixes together.
func TestMonitoringRefusesAmbiguousTargets(t *testing.T) {
	both := singleServerArgs()
	both.AutoScalingGroupName = pulumi.String("asg")
	lbOnly := singleServerArgs()
	lbOnly.LoadBalancerArnSuffix = pulumi.String("app/x/1")
	none := singleServerArgs()
	none.InstanceID = nil
	for name, args := range map[string]*MonitoringArgs{"instance and group": both, "load balancer without target group": lbOnly, "neither": none} {
		err := pulumi.RunErr(func(ctx *pulumi.Context) error {
			_, err := NewMonitoring(ctx, "m", args)
			return err
		}, pulumi.WithMocks("mlflow-aws", "prod", &monitoringMocks{resources: map[string]resource.PropertyMap{}, types: map[string]string{}}))
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestBurstableAndActionArns: T2, T3, T3a and T4g earn CPU credits, other families do not; EC2
// alarm actions and console URLs follow the partition.
func TestBurstableAndActionArns(t *testing.T) {
	for typ, want := range map[string]bool{"t2.micro": true, "t3.medium": true, "t3a.small": true, "t4g.nano": true,
		"m7i.large": false, "c7g.xlarge": false, "trn1.2xlarge": false, "m7i-flex.large": false} {
		if Burstable(typ) != want {
			t.Errorf("Burstable(%q) = %v", typ, !want)
		}
	}
	if got := EC2ActionArn("aws-us-gov", "us-gov-west-1", "recover"); got != "arn:aws-us-gov:automate:us-gov-west-1:ec2:recover" {
		t.Errorf("EC2ActionArn = %q", got)
	}
	if got := DashboardURL("aws-cn", "cn-north-1", "d"); got != "https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1#dashboards/dashboard/d" {
		t.Errorf("DashboardURL = %q", got)
	}
	if got := LogGroupArn("aws", "us-east-1", "123456789012", "/mlflow-aws/dev/tracking-server"); got != "arn:aws:logs:us-east-1:123456789012:log-group:/mlflow-aws/dev/tracking-server" {
		t.Errorf("LogGroupArn = %q", got)
	}
	st, err := CloudWatchAgentStatements("arn:aws:logs:us-east-1:1:log-group:/g", "mlflow-aws/dev")
	if err != nil || len(st) != 2 || st[1].Condition["StringEquals"]["cloudwatch:namespace"] != "mlflow-aws/dev" ||
		!slices.Equal(st[0].Resource, []string{"arn:aws:logs:us-east-1:1:log-group:/g", "arn:aws:logs:us-east-1:1:log-group:/g:log-stream:*"}) {
		t.Errorf("CloudWatchAgentStatements = %+v, %v", st, err)
	}
	if _, err := CloudWatchAgentStatements("arn:aws:logs:us-east-1:1:log-group:/g:*", "n"); err == nil {
		t.Error("a log group ARN with :* accepted")
	}
}
