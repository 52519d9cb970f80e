package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mlflow-aws/mlflow-aws/internal/config"
)

// TestMonitoringWiring: in every scenario the stack exports logGroupName (the log group the
// program creates, with the configured retention) and dashboardUrl; the instance's detailed
// monitoring follows detailedMonitoring (on in dev and prod); the server's role may write to
// exactly that log group and put metrics only in the stack's namespace, which the user data's
// agent configuration names too; the alarms watch the instance and the stack's database, and an
// alarmEmail is subscribed.
func TestMonitoringWiring(t *testing.T) {
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			group := g.one(t, typeLogGroup)
			if g.outputs["logGroupName"] != group.str("name") || group.str("name") != "/mlflow-aws/"+s.name+"/tracking-server" {
				t.Errorf("logGroupName output %q, log group %q", g.outputs["logGroupName"], group.str("name"))
			}
			if got := group.number("retentionInDays"); got != num(t, s.cfg["mlflow-aws:logRetentionDays"]) {
				t.Errorf("retention %v days, want %s", got, s.cfg["mlflow-aws:logRetentionDays"])
			}
			region := s.cfg["aws:region"]
			if want := "https://" + region + ".console.aws.amazon.com/cloudwatch/home?region=" + region + "#dashboards/dashboard/" + config.ResourceName(s.name) + "-monitoring"; g.outputs["dashboardUrl"] != want {
				t.Errorf("dashboardUrl %q, want %q", g.outputs["dashboardUrl"], want)
			}
			inst := g.one(t, typeInstance)
			checkBool(t, inst, "monitoring", s.cfg["mlflow-aws:detailedMonitoring"] == "true")
			if s.name == "dev" || s.name == "prod" {
				checkBool(t, inst, "monitoring", true)
			}

			var doc struct {
				Statement []struct {
					Sid       string
					Action    []string
					Resource  []string
					Condition map[string]map[string]any
				}
			}
			if err := json.Unmarshal([]byte(g.one(t, typeRolePolicy).str("policy")), &doc); err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:logs:" + region + ":" + mockAccount + ":log-group:" + group.str("name")
			namespace := "mlflow-aws/" + s.name
			var logs, metrics bool
			for _, st := range doc.Statement {
				if slices.ContainsFunc(st.Action, func(a string) bool { return strings.HasPrefix(a, "logs:") }) {
					logs = slices.Equal(st.Resource, []string{arn, arn + ":log-stream:*"})
				}
				if slices.Contains(st.Action, "cloudwatch:PutMetricData") {
					metrics = st.Condition["StringEquals"]["cloudwatch:namespace"] == namespace
				}
			}
			if !logs || !metrics {
				t.Errorf("role policy: logs on %s %v, metrics in %s %v:\n%v", arn, logs, namespace, metrics, doc.Statement)
			}
			ud := inst.userData()
			for _, want := range []string{`"namespace":"` + namespace + `"`, `"log_group_name":"` + group.str("name") + `"`} {
				if !strings.Contains(ud, want) {
					t.Errorf("the user data's agent configuration lacks %s", want)
				}
			}

			id := g.outputs["instanceId"]
			statusChecks := 0
			for _, a := range g.byType(typeAlarm) {
				if strings.HasPrefix(a.str("metricName"), "StatusCheckFailed_") {
					statusChecks++
					if a.str("dimensions.InstanceId") != id {
						t.Errorf("%s watches %q, want the instance %s", a.Name, a.str("dimensions.InstanceId"), id)
					}
				}
				if a.str("namespace") == "AWS/RDS" && a.str("dimensions.DBInstanceIdentifier") != g.one(t, typeDB).str("identifier") {
					t.Errorf("%s watches DB %q", a.Name, a.str("dimensions.DBInstanceIdentifier"))
				}
			}
			if statusChecks != 2 {
				t.Errorf("%d status check alarms on the instance, want 2 (recover, reboot)", statusChecks)
			}
			// The spool volume (proxied access with artifactSpoolGb > 0) is watched like the root volume.
			spool := s.cfg["mlflow-aws:artifactAccess"] == "proxied" && s.cfg["mlflow-aws:artifactSpoolGb"] != "0"
			spoolAlarms := 0
			for _, a := range g.byType(typeAlarm) {
				if a.str("dimensions.path") == "/var/spool/mlflow" {
					spoolAlarms++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[spool]; spoolAlarms != want || strings.Contains(ud, `"/var/spool/mlflow"`) != spool {
				t.Errorf("spool volume %v: %d spool disk alarms, agent reports it %v", spool, spoolAlarms, strings.Contains(ud, `"/var/spool/mlflow"`))
			}
			subs := g.byType(typeSubscription)
			if email := s.cfg["mlflow-aws:alarmEmail"]; (email == "") != (len(subs) == 0) || (email != "" && subs[0].str("endpoint") != email) {
				t.Errorf("alarmEmail %q, subscriptions %v", email, subs)
			}
		})
	}
}
