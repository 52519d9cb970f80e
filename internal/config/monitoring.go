package config

import (
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// LogRetentionValues are the retention periods, in days, CloudWatch Logs accepts for a log
// group (CloudWatch Logs API Reference, PutRetentionPolicy, retentionInDays).
var LogRetentionValues = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// MaxAlarmEmailLen bounds alarmEmail: an SNS email endpoint is an address of at most 254
// characters (RFC 5321's path limit less the angle brackets).
const MaxAlarmEmailLen = 254

// monitoring: logs, alarms and EC2 detailed monitoring.
func (p *parser) monitoring(c *Config) {
	if v, ok := p.raw(KeyLogRetentionDays); ok {
		n, err := strconv.Atoi(v)
		if err != nil || strconv.Itoa(n) != v || !slices.Contains(LogRetentionValues, n) {
			p.fail(p.qualify(KeyLogRetentionDays), "%q is not a CloudWatch Logs retention; allowed: %s days", v, retentionList())
		}
		c.LogRetentionDays = n
	}
	c.AlarmEmail = p.str(KeyAlarmEmail)
	if c.AlarmEmail != "" {
		addr, err := mail.ParseAddress(c.AlarmEmail)
		// A deliverable address: a dotted domain name, not a local host or an IP literal.
		_, domain, _ := strings.Cut(c.AlarmEmail, "@")
		if err != nil || addr.Address != c.AlarmEmail || addr.Name != "" || len(c.AlarmEmail) > MaxAlarmEmailLen ||
			!strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") || strings.HasSuffix(domain, ".") {
			p.fail(p.qualify(KeyAlarmEmail), "%q is not an email address like ops@example.com (at most %d characters), or \"\" for no subscription", c.AlarmEmail, MaxAlarmEmailLen)
		}
	}
	c.DetailedMonitoring = p.boolean(KeyDetailedMonitoring)
}

func retentionList() string {
	var s []string
	for _, n := range LogRetentionValues {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ", ")
}

// MonitoringParams is the CloudWatch agent's part of the user data: the stack's log group and
// metrics namespace, and the spool volume's mount point (userdata.SpoolDir) when the server
// gets one (SpoolVolumeGiB > 0).
func (c *Config) MonitoringParams() *userdata.MonitoringParams {
	m := &userdata.MonitoringParams{LogGroupName: c.LogGroupName(), MetricsNamespace: c.MetricsNamespace()}
	if c.SpoolVolumeGiB() > 0 {
		m.SpoolPath = userdata.SpoolDir
	}
	return m
}
