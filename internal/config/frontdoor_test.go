package config

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestFrontDoorConfig: the front door keys, their defaults (one server, or two in a protected
// stack; twice as many at most) and every rule, each naming its key.
func TestFrontDoorConfig(t *testing.T) {
	with := func(kv ...string) map[string]string {
		cfg := valid()
		for i := 0; i < len(kv); i += 2 {
			cfg["mlflow-aws:"+kv[i]] = kv[i+1]
		}
		return cfg
	}
	door := []string{"domainName", "mlflow.example.com", "hostedZoneId", "Z0123456789ABCDEFGHIJ", "allowedCidrs", `["203.0.113.0/24"]`}

	c, err := parseDev(valid())
	if err != nil || c.FrontDoor != nil {
		t.Fatalf("no domain: front door %+v, err %v", c.FrontDoor, err)
	}
	for _, tc := range []struct {
		kv       []string
		min, max int
	}{
		{append(slices.Clone(door), "protectData", "false", "dbBackupRetentionDays", "1"), 1, 2},
		{door, DefaultProtectedServers, 2 * DefaultProtectedServers},
		{append(slices.Clone(door), "serverCount", "3"), 3, 6},
		{append(slices.Clone(door), "serverCount", "3", "serverMaxCount", "3"), 3, 3},
		{append(slices.Clone(door), "serverCount", "15"), 15, MaxServers},
	} {
		c, err := parseDev(with(tc.kv...))
		if err != nil {
			t.Fatalf("%v: %v", tc.kv, err)
		}
		if fd := c.FrontDoor; fd == nil || fd.MinServers != tc.min || fd.MaxServers != tc.max || fd.DomainName != "mlflow.example.com" ||
			fd.HostedZoneID != "Z0123456789ABCDEFGHIJ" || !strings.HasPrefix(fd.LogsBucketPrefix, "mlflow-aws-dev-alb-logs") {
			t.Errorf("%v: front door %+v, want servers %d to %d", tc.kv, c.FrontDoor, tc.min, tc.max)
		}
	}

	many := make([]string, MaxFrontDoorCidrs+1)
	for i := range many {
		many[i] = `"10.` + strconv.Itoa(i) + `.0.0/16"`
	}
	for _, tc := range []struct {
		kv   []string
		key  string
		want string
	}{
		{[]string{"domainName", "mlflow.example.com", "allowedCidrs", `["203.0.113.0/24"]`}, "hostedZoneId", "is empty but mlflow-aws:domainName is set"},
		{[]string{"hostedZoneId", "Z0123456789ABCDEFGHIJ"}, "hostedZoneId", "is set but mlflow-aws:domainName is empty"},
		{append(slices.Clone(door), "domainName", "MLflow.example.com"), "domainName", "upper-case"},
		{append(slices.Clone(door), "domainName", "mlflow.example.com."), "domainName", "ends in a dot"},
		{append(slices.Clone(door), "domainName", "*.example.com"), "domainName", "wildcard"},
		{append(slices.Clone(door), "domainName", "mlflow"), "domainName", "single label"},
		{append(slices.Clone(door), "domainName", "203.0.113.7"), "domainName", "IP address"},
		{append(slices.Clone(door), "domainName", "https://mlflow.example.com"), "domainName", "not a DNS name"},
		{append(slices.Clone(door), "hostedZoneId", "/hostedzone/Z0123"), "hostedZoneId", "not a Route 53 hosted zone id"},
		{append(slices.Clone(door), "allowedCidrs", "[]"), "allowedCidrs", "list the client networks"},
		{append(slices.Clone(door), "allowedCidrs", "["+strings.Join(many, ",")+"]"), "allowedCidrs", "at most 30"},
		{append(slices.Clone(door), "serverCount", "21"), "serverCount", "allowed: 0 to 20"},
		{append(slices.Clone(door), "serverCount", "4", "serverMaxCount", "3"), "serverMaxCount", "below mlflow-aws:serverCount 4"},
		{append(slices.Clone(door), "protectData", "true", "serverMaxCount", "1"), "serverMaxCount", "below the group size 2 (mlflow-aws:serverCount 0 = 2 in this stack)"},
		{[]string{"albAccessLogs", "true"}, "albAccessLogs", "only a domain name creates"},
		{[]string{"serverCount", "2"}, "serverCount", "need a load balancer"},
		{[]string{"serverMaxCount", "2"}, "serverMaxCount", "need a load balancer"},
	} {
		ps := problems(t, with(tc.kv...))
		if len(ps) != 1 || ps[0].Key != "mlflow-aws:"+tc.key || !strings.Contains(ps[0].Message, tc.want) {
			t.Errorf("%v: problems %+v; want one on %s containing %q", tc.kv, ps, tc.key, tc.want)
		}
	}
}
