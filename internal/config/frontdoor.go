package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"github.com/mlflow-aws/mlflow-aws/internal/awsnames"
)

// FrontDoor is the validated front door of a stack with domainName: an Application Load
// Balancer serving https://<DomainName> with an ACM certificate validated in HostedZoneID, in
// front of an Auto Scaling group of MinServers to MaxServers tracking servers.
type FrontDoor struct {
	// DomainName is the name clients use, e.g. "mlflow.example.com" (lower case, no trailing dot).
	DomainName string
	// HostedZoneID is the Route 53 hosted zone holding DomainName, e.g. "Z0123456789ABCDEFGHIJ":
	// the alias record and the certificate's DNS validation record go there.
	HostedZoneID string
	// AccessLogs turns on the load balancer's access logs (to a bucket of their own).
	AccessLogs bool
	// LogsBucketPrefix is the prefix of the generated access-log bucket name,
	// DeriveBucketPrefix(project, stack+"-alb-logs"), e.g. "mlflow-aws-prod-alb-logs-".
	LogsBucketPrefix string
	// MinServers is the Auto Scaling group's minimum (and initial) size: serverCount, or when it
	// is 0, DefaultProtectedServers in a protectData stack and 1 otherwise.
	MinServers int
	// MaxServers is the group's maximum: serverMaxCount, or when it is 0, twice MinServers (at
	// most MaxServers).
	MaxServers int
}

const (
	// MaxServers bounds serverCount and serverMaxCount. Every server holds its own pool of
	// database connections, so the bound keeps a scale-out within what a mid-size RDS class
	// accepts; raise the RDS class before raising it.
	MaxServers = 20
	// DefaultProtectedServers is the group size of a protectData stack with a front door when
	// serverCount is 0: two servers, so one Availability Zone or one server may fail (the
	// database is Multi-AZ next to them).
	DefaultProtectedServers = 2
	// MaxFrontDoorCidrs bounds allowedCidrs with a front door: the load balancer's security group
	// gets two rules per block (443 and 80), and a security group holds 60 inbound rules by
	// default (Amazon VPC quotas).
	MaxFrontDoorCidrs = 30
)

// hostedZoneIDPattern: Route 53 hosted zone ids are "Z" and upper-case letters and digits
// (e.g. Z0123456789ABCDEFGHIJ, Z2FDTNDATAQYW2), without the "/hostedzone/" prefix.
var hostedZoneIDPattern = regexp.MustCompile(`^Z[A-Z0-9]{1,31}$`)

// frontDoor: the load balancer keys and the server count. Every rule names its key; the cross-key
// rules run only on keys that are valid themselves.
func (p *parser) frontDoor(c *Config) {
	domain := p.str(KeyDomainName)
	zone := p.str(KeyHostedZoneID)
	logs := p.boolean(KeyALBAccessLogs)
	count := p.integer(KeyServerCount, 0, MaxServers)
	maxCount := p.integer(KeyServerMaxCount, 0, MaxServers)

	if domain != "" {
		if err := checkDomainName(domain); err != "" {
			p.fail(p.qualify(KeyDomainName), "%q %s; allowed: a DNS name you own in lower case, e.g. mlflow.example.com, or \"\" for no load balancer", domain, err)
		}
	}
	if zone != "" && !hostedZoneIDPattern.MatchString(zone) {
		p.fail(p.qualify(KeyHostedZoneID), "%q is not a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ (without /hostedzone/)", zone)
	}
	switch {
	case domain != "" && zone == "" && !p.bad[p.qualify(KeyHostedZoneID)]:
		p.fail(p.qualify(KeyHostedZoneID), "is empty but %s is set; name the Route 53 hosted zone holding %s (the certificate is validated and the alias record written there)", p.qualify(KeyDomainName), domain)
	case domain == "" && zone != "":
		p.fail(p.qualify(KeyHostedZoneID), "is set but %s is empty; set both for a load balancer, or neither for one server", p.qualify(KeyDomainName))
	}
	if domain == "" {
		if logs {
			p.fail(p.qualify(KeyALBAccessLogs), "is true but %s is empty; access logs belong to the load balancer, which only a domain name creates", p.qualify(KeyDomainName))
		}
		if count > 1 {
			p.fail(p.qualify(KeyServerCount), "%d servers need a load balancer; set %s and %s, or use 0 or 1 (one server behind its Elastic IP)", count, p.qualify(KeyDomainName), p.qualify(KeyHostedZoneID))
		}
		if maxCount > 1 {
			p.fail(p.qualify(KeyServerMaxCount), "%d servers need a load balancer; set %s and %s, or use 0 or 1", maxCount, p.qualify(KeyDomainName), p.qualify(KeyHostedZoneID))
		}
		return
	}
	if p.valid(KeyAllowedCidrs) {
		switch n := len(c.AllowedCidrs); {
		case n == 0:
			p.fail(p.qualify(KeyAllowedCidrs), "is empty but %s is set; list the client networks that may reach the load balancer (443 and 80)", p.qualify(KeyDomainName))
		case n > MaxFrontDoorCidrs:
			p.fail(p.qualify(KeyAllowedCidrs), "lists %d blocks; with %s at most %d fit the load balancer's security group (two rules each, 443 and 80); aggregate them", n, p.qualify(KeyDomainName), MaxFrontDoorCidrs)
		}
	}
	fd := &FrontDoor{DomainName: domain, HostedZoneID: zone, AccessLogs: logs, MinServers: count, MaxServers: maxCount,
		LogsBucketPrefix: DeriveBucketPrefix(c.Project, c.Stack+"-alb-logs")}
	if fd.MinServers == 0 {
		fd.MinServers = 1
		if c.ProtectData {
			fd.MinServers = DefaultProtectedServers
		}
	}
	if fd.MaxServers == 0 {
		fd.MaxServers = min(2*fd.MinServers, MaxServers)
	} else if p.valid(KeyServerCount, KeyServerMaxCount) && fd.MaxServers < fd.MinServers {
		size := fmt.Sprintf("%s %d", p.qualify(KeyServerCount), fd.MinServers)
		if count == 0 {
			size = fmt.Sprintf("the group size %d (%s 0 = %d in this stack)", fd.MinServers, p.qualify(KeyServerCount), fd.MinServers)
		}
		p.fail(p.qualify(KeyServerMaxCount), "%d is below %s; allowed: 0 (twice the group size) or %d to %d", fd.MaxServers, size, fd.MinServers, MaxServers)
	}
	c.FrontDoor = fd
}

// checkDomainName returns why d cannot be the front door's name, or "": it must be a DNS name
// (awsnames.IsHostName) of at least two labels, in lower case, without a trailing dot, a
// wildcard or an IP address (an ACM certificate and a Route 53 alias need a name).
func checkDomainName(d string) string {
	switch {
	case d != strings.ToLower(d):
		return "has upper-case letters (clients send the Host header in lower case, and MLflow compares it exactly)"
	case strings.HasSuffix(d, "."):
		return "ends in a dot"
	case strings.Contains(d, "*"):
		return "is a wildcard"
	case !awsnames.IsHostName(d):
		return "is not a DNS name"
	case !strings.Contains(d, "."):
		return "has a single label"
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "is an IP address"
	}
	return ""
}

// CheckHostedZone refuses a front door whose hostedZoneId names a zone that cannot serve
// domainName: the zone's name zoneName (Route 53 returns it with a trailing dot) must be the
// domain or one of its parents, and the zone must be public, since ACM validates the certificate
// through public DNS (AWS Certificate Manager User Guide, "DNS validation"). nil without a front
// door.
func (c *Config) CheckHostedZone(zoneName string, private bool) error {
	if c.FrontDoor == nil {
		return nil
	}
	zone := strings.TrimSuffix(strings.ToLower(zoneName), ".")
	domain := c.FrontDoor.DomainName
	switch {
	case domain != zone && !strings.HasSuffix(domain, "."+zone):
		return fmt.Errorf("%s:%s: the hosted zone %s is %q, which does not hold %s:%s %q; allowed: the id of the public zone named %q or one of its parent domains",
			c.Project, KeyHostedZoneID, c.FrontDoor.HostedZoneID, zone, c.Project, KeyDomainName, domain, domain)
	case private:
		return fmt.Errorf("%s:%s: the hosted zone %s (%q) is private; ACM validates the certificate through public DNS: allowed: a public zone holding %q",
			c.Project, KeyHostedZoneID, c.FrontDoor.HostedZoneID, zone, domain)
	}
	return nil
}
