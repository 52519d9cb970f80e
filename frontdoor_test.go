package main

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/mlflow-aws/mlflow-aws/components"
	"github.com/mlflow-aws/mlflow-aws/internal/config"
	"github.com/mlflow-aws/mlflow-aws/userdata"
)

// The front door (issue "HTTPS on a stable name, self-healing servers, and scale-out behind a
// load balancer") under mocks: the dev and prod stacks with a domain, and prod reached over a
// VPN (an internal load balancer).

const (
	testDomain = "mlflow.example.com"
	testZone   = "Z0123456789ABCDEFGHIJ"
)

// withFrontDoor is a stack's configuration with domainName and hostedZoneId set and allowedCidrs
// the given blocks.
func withFrontDoor(t testing.TB, stack string, cidrs string) map[string]string {
	cfg := stackConfig(t, stack)
	cfg["mlflow-aws:domainName"] = testDomain
	cfg["mlflow-aws:hostedZoneId"] = testZone
	cfg["mlflow-aws:allowedCidrs"] = cidrs
	return cfg
}

// frontDoorDev is dev with a domain, open to one public block.
func frontDoorDev(t testing.TB) map[string]string {
	return withFrontDoor(t, "dev", `["203.0.113.0/24"]`)
}

// frontDoorProd is prod with a domain, open to two public blocks, with access logs.
func frontDoorProd(t testing.TB) map[string]string {
	cfg := withFrontDoor(t, "prod", `["203.0.113.0/24","198.51.100.0/24"]`)
	cfg["mlflow-aws:albAccessLogs"] = "true"
	return cfg
}

// frontDoorPrivate is prod with a domain reached only from private networks.
func frontDoorPrivate(t testing.TB) map[string]string {
	return withFrontDoor(t, "prod", `["10.0.0.0/8"]`)
}

func frontDoorScenarios(t testing.TB) []scenario {
	return []scenario{
		{"frontdoor-dev", frontDoorDev(t)},
		{"frontdoor-prod", frontDoorProd(t)},
		{"frontdoor-private", frontDoorPrivate(t)},
	}
}

// at returns element i of an array property (null when absent), unwrapping secrets.
func at(v resource.PropertyValue, i int) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsArray() || len(v.ArrayValue()) <= i {
		return resource.NewNullProperty()
	}
	return v.ArrayValue()[i]
}

// field returns key k of an object property (null when absent).
func field(v resource.PropertyValue, k string) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsObject() {
		return resource.NewNullProperty()
	}
	return v.ObjectValue()[resource.PropertyKey(k)]
}

// arrayOf returns the elements of an array property (none when it is not one).
func arrayOf(v resource.PropertyValue) []resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsArray() {
		return nil
	}
	return v.ArrayValue()
}

func strOf(v resource.PropertyValue) string {
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// listenerOn returns the listener on a port.
func listenerOn(t *testing.T, g *graph, port float64) recorded {
	t.Helper()
	for _, l := range g.byType(typeListener) {
		if l.number("port") == port {
			return l
		}
	}
	t.Fatalf("%s: no listener on %v", g.stack, port)
	return recorded{}
}

// launchUserData decodes the launch template's user data.
func launchUserData(t *testing.T, g *graph) string {
	t.Helper()
	doc, err := userdata.DecodeFromEC2(g.one(t, typeLaunchTmpl).str("userData"))
	if err != nil {
		t.Fatalf("%s: launch template user data: %v", g.stack, err)
	}
	return doc
}

// TestFrontDoor: with a domain the stack has an Application Load Balancer with HTTPS (an ACM
// certificate validated in the zone, TLS 1.2+/1.3 policy), HTTP redirected, an alias record,
// a target group checking /health, and an Auto Scaling group over two or more subnets that
// replaces servers failing the load balancer's check and that `pulumi up` waits for; no single
// instance, Elastic IP or interface; the tracking URI is https://<domain>; MLflow accepts the
// domain's Host and Origin.
func TestFrontDoor(t *testing.T) {
	for _, s := range frontDoorScenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			g := deployed(t, s)
			protect := s.cfg["mlflow-aws:protectData"] == "true"
			private := config.AllPrivate(list(t, s.cfg["mlflow-aws:allowedCidrs"]))
			for _, typ := range []string{typeInstance, typeEip, typeEipAssoc, typeENI} {
				if n := len(g.byType(typ)); n != 0 {
					t.Errorf("%d %s with a front door; want none", n, typ)
				}
			}
			alb := g.one(t, typeLB)
			checkStr(t, alb, "loadBalancerType", "application")
			for _, r := range []recorded{alb, g.one(t, typeTG)} {
				// The provider appends 26 characters; load balancer and target group names have at most 32.
				if p := r.str("namePrefix"); p == "" || len(p) > 6 || r.str("name") != "" {
					t.Errorf("%s: namePrefix %q, name %q; want a prefix of at most 6 characters", r.Name, p, r.str("name"))
				}
			}
			checkBool(t, alb, "internal", private)
			checkBool(t, alb, "enableDeletionProtection", protect)
			checkBool(t, alb, "dropInvalidHeaderFields", true)
			if n := len(arrayOf(alb.input("subnets"))); n < 2 {
				t.Errorf("load balancer in %d subnets; want two or more Availability Zones", n)
			}
			if got := alb.number("idleTimeout"); got != components.IdleTimeoutSeconds {
				t.Errorf("idle timeout %v", got)
			}
			logs := s.cfg["mlflow-aws:albAccessLogs"] == "true"
			if got, _ := alb.boolean("accessLogs.enabled"); got != logs {
				t.Errorf("access logs enabled = %v, want %v", got, logs)
			}
			if logs {
				b := g.ownedBy(typeBucket, tokTrackingServer)
				if len(b) != 1 || alb.str("accessLogs.bucket") != b[0].str("bucketPrefix")+"20261130103300000000000001" {
					t.Errorf("access logs go to %q, want the front door's own bucket %v", alb.str("accessLogs.bucket"), b)
				}
			}

			https := listenerOn(t, g, 443)
			checkStr(t, https, "protocol", "HTTPS")
			checkStr(t, https, "sslPolicy", components.TLSPolicy)
			cert := g.one(t, typeCert)
			checkStr(t, cert, "domainName", testDomain)
			checkStr(t, cert, "validationMethod", "DNS")
			if https.str("certificateArn") == "" || !slices.Contains(https.Dependencies, g.one(t, typeCertValid).URN) {
				t.Errorf("HTTPS listener does not use the validated certificate (deps %v)", https.Dependencies)
			}
			tg := g.one(t, typeTG)
			if a := at(https.input("defaultActions"), 0); strOf(field(a, "type")) != "forward" || strOf(field(a, "targetGroupArn")) == "" {
				t.Errorf("HTTPS listener's action %v; want forward to the target group", a)
			}
			http := listenerOn(t, g, 80)
			checkStr(t, http, "protocol", "HTTP")
			redirect := field(at(http.input("defaultActions"), 0), "redirect")
			if strOf(field(redirect, "protocol")) != "HTTPS" || strOf(field(redirect, "port")) != "443" || strOf(field(redirect, "statusCode")) != "HTTP_301" {
				t.Errorf("HTTP listener does not redirect to HTTPS: %v", redirect)
			}

			checkStr(t, tg, "healthCheck.path", "/health")
			checkStr(t, tg, "protocol", "HTTP")
			if tg.number("port") != components.TrackingPort || tg.number("deregistrationDelay") != components.DeregistrationDelaySeconds {
				t.Errorf("target group port %v, deregistration delay %v", tg.number("port"), tg.number("deregistrationDelay"))
			}

			var alias, validation int
			for _, r := range g.byType(typeRecord) {
				if r.str("zoneId") != testZone {
					t.Errorf("record %s in zone %q, want %s", r.Name, r.str("zoneId"), testZone)
				}
				switch {
				case r.str("name") == testDomain && r.str("type") == "A":
					alias++
					a := at(r.input("aliases"), 0)
					if !strings.HasSuffix(strOf(field(a, "name")), ".elb.amazonaws.com") || !field(a, "evaluateTargetHealth").BoolValue() {
						t.Errorf("alias record %v does not point at the load balancer", a)
					}
				case r.str("type") == "CNAME" && strings.HasSuffix(r.str("name"), testDomain+"."):
					validation++
				}
			}
			if alias != 1 || validation != 1 {
				t.Errorf("%d alias and %d validation records; want one each", alias, validation)
			}

			asg := g.one(t, typeASG)
			minWant, maxWant := 1.0, 2.0
			if protect {
				minWant, maxWant = 2, 4
			}
			if asg.number("minSize") != minWant || asg.number("maxSize") != maxWant || asg.number("waitForElbCapacity") != minWant {
				t.Errorf("group min %v max %v waitForElbCapacity %v; want %v, %v, %v",
					asg.number("minSize"), asg.number("maxSize"), asg.number("waitForElbCapacity"), minWant, maxWant, minWant)
			}
			checkStr(t, asg, "healthCheckType", "ELB")
			if n := len(arrayOf(asg.input("vpcZoneIdentifiers"))); n < 2 {
				t.Errorf("group spans %d subnets; want two or more", n)
			}
			if len(arrayOf(asg.input("targetGroupArns"))) != 1 {
				t.Errorf("group is not in the target group")
			}
			for _, l := range g.byType(typeListener) {
				if !slices.Contains(asg.Dependencies, l.URN) {
					t.Errorf("group does not wait for listener %s (targets get health checks only behind a listener)", l.Name)
				}
			}
			if !asg.DeleteBeforeReplace || !strings.Contains(asg.str("namePrefix"), "-mlflow-"+s.cfg["mlflow-aws:mlflowVersion"]+"-") {
				t.Errorf("group: deleteBeforeReplace %v, namePrefix %q; want the MLflow version in its name and the old group gone first",
					asg.DeleteBeforeReplace, asg.str("namePrefix"))
			}
			policy := g.one(t, typeScaling)
			spec := policy.input("targetTrackingConfiguration.predefinedMetricSpecification")
			if strOf(field(spec, "predefinedMetricType")) != "ALBRequestCountPerTarget" ||
				!strings.HasPrefix(strOf(field(spec, "resourceLabel")), "app/") || !strings.Contains(strOf(field(spec, "resourceLabel")), "/targetgroup/") {
				t.Errorf("scaling policy metric %v", spec)
			}

			lt := g.one(t, typeLaunchTmpl)
			checkStr(t, lt, "metadataOptions.httpTokens", "required")
			ebs := field(at(lt.input("blockDeviceMappings"), 0), "ebs")
			if strOf(field(ebs, "encrypted")) != "true" || strOf(field(ebs, "volumeType")) != "gp3" {
				t.Errorf("launch template root volume %v", ebs)
			}
			if lt.str("iamInstanceProfile.name") == "" {
				t.Error("launch template has no instance profile")
			}
			ud := launchUserData(t, g)
			for _, h := range []string{testDomain + ",", testDomain + ":443"} {
				if !strings.Contains(ud, h) {
					t.Errorf("launch user data's allowed hosts lack %q", h)
				}
			}
			if strings.Contains(ud, mockPublicIP) {
				t.Error("launch user data names an Elastic IP; the servers have none")
			}
			// The server keeps idle connections open longer than the load balancer (no 502 on reuse;
			// TestRealMLflowBehindFrontDoor proves the variable reaches uvicorn).
			if m := keepAlive.FindStringSubmatch(ud); m == nil || num(t, m[1]) <= components.IdleTimeoutSeconds {
				t.Errorf("unit keep-alive %v; want above the load balancer's idle timeout %d s", m, components.IdleTimeoutSeconds)
			}
			// Exactly the hosts TestRealMLflowBehindFrontDoor (e2e) launches the real server with.
			hosts := components.LaunchAllowedHosts(&components.TrackingServerArgs{AllowedHosts: list(t, s.cfg["mlflow-aws:allowedHosts"]),
				FrontDoor: &components.FrontDoorArgs{DomainName: testDomain}}, "", "")
			if line := userdata.EnvAllowedHosts + "=" + strings.Join(hosts, ","); !strings.Contains(ud, line+"\n") {
				t.Errorf("launch user data lacks %q", line)
			}

			if got := g.outputs["trackingUri"]; got != "https://"+testDomain {
				t.Errorf("trackingUri = %q", got)
			}
			for _, k := range []string{"autoScalingGroupName", "loadBalancerArnSuffix", "targetGroupArnSuffix", "loadBalancerDnsName"} {
				if g.outputs[k] == "" {
					t.Errorf("output %s is empty", k)
				}
			}
			if pf := g.outputs["portForwardCommand"]; !strings.Contains(pf, "describe-auto-scaling-groups") || !strings.Contains(pf, g.outputs["autoScalingGroupName"]) {
				t.Errorf("portForwardCommand %q does not find a server of the group", pf)
			}
		})
	}
}

// TestNothingButTheLoadBalancerReachesMLflow: with a front door the load balancer's group admits
// 443 and 80 from allowedCidrs only and sends only to 5000 of the servers' group; the servers'
// group admits 5000 from the load balancer's group only, no CIDR.
func TestNothingButTheLoadBalancerReachesMLflow(t *testing.T) {
	for _, s := range frontDoorScenarios(t) {
		g := deployed(t, s)
		var lbSG, serverSG string
		for _, sg := range g.byType(typeSG) {
			switch {
			case strings.HasSuffix(sg.Name, "-server-lb-sg"):
				lbSG = fakeID("sg-", sg.Name)
			case strings.HasSuffix(sg.Name, "-server-sg"):
				serverSG = fakeID("sg-", sg.Name)
			}
		}
		if lbSG == "" || serverSG == "" {
			t.Fatalf("%s: security groups: load balancer %q, servers %q", s.name, lbSG, serverSG)
		}
		cidrs := list(t, s.cfg["mlflow-aws:allowedCidrs"])
		want := map[string]bool{}
		for _, c := range cidrs {
			want[c+"/443"], want[c+"/80"] = true, true
		}
		fromLB := 0
		for _, r := range g.byType(typeIngress) {
			group, port := r.str("securityGroupId"), r.number("fromPort")
			switch group {
			case lbSG:
				key := r.str("cidrIpv4") + "/" + strconv.Itoa(int(port))
				if !want[key] || r.number("toPort") != port {
					t.Errorf("%s: load balancer ingress %s (%v-%v from %q)", s.name, r.Name, port, r.number("toPort"), r.str("cidrIpv4"))
				}
				delete(want, key)
			case serverSG:
				if port == components.TrackingPort || r.number("toPort") == components.TrackingPort {
					if r.str("cidrIpv4") != "" || r.str("referencedSecurityGroupId") != lbSG {
						t.Errorf("%s: port 5000 reachable from %q%q, not only the load balancer", s.name, r.str("cidrIpv4"), r.str("referencedSecurityGroupId"))
					}
					fromLB++
				}
			}
		}
		if len(want) != 0 || fromLB != 1 {
			t.Errorf("%s: load balancer rules missing %v; %d rules to 5000 from the load balancer (want 1)", s.name, want, fromLB)
		}
		for _, r := range g.byType(typeEgress) {
			if r.str("securityGroupId") == lbSG && (r.str("referencedSecurityGroupId") != serverSG || r.number("fromPort") != components.TrackingPort) {
				t.Errorf("%s: load balancer egress %s goes beyond 5000 of the servers", s.name, r.Name)
			}
		}
	}
}

// dataOf returns the resources holding or guarding user data, by URN: everything the artifact
// store, the backend store and the auth credentials own.
func dataOf(g *graph) map[string]recorded {
	out := map[string]recorded{}
	owners := map[string]bool{}
	for _, tok := range []string{tokArtifactStore, tokBackendStore, tokServerAuth} {
		for _, c := range g.byType(tok) {
			owners[c.URN] = true
		}
	}
	for _, r := range g.resources {
		if owners[r.Parent] {
			out[r.URN] = r
		}
	}
	return out
}

// TestSwitchingModesLeavesDataAlone: adding a front door to a stack, or removing it, changes no
// input, protection or URN of the database, its password and parameter, the bucket and its
// settings, or the auth credentials; only the tracking server's resources change.
func TestSwitchingModesLeavesDataAlone(t *testing.T) {
	for _, c := range []struct {
		stack    string
		plain    map[string]string
		withDoor map[string]string
	}{
		{"dev", stackConfig(t, "dev"), frontDoorDev(t)},
		{"prod", stackConfig(t, "prod"), frontDoorProd(t)},
	} {
		a, b := runStack(t, c.stack, c.plain), runStack(t, c.stack, c.withDoor)
		if a.err != nil || b.err != nil {
			t.Fatal(a.err, b.err)
		}
		before, after := dataOf(a), dataOf(b)
		if len(before) < 10 || len(before) != len(after) {
			t.Fatalf("%s: %d data resources before, %d after", c.stack, len(before), len(after))
		}
		for urn, r := range before {
			s, ok := after[urn]
			switch {
			case !ok:
				t.Errorf("%s: %s disappears when the front door is added", c.stack, urn)
			case !r.Inputs.DeepEquals(s.Inputs):
				t.Errorf("%s: the front door changes the inputs of %s", c.stack, urn)
			case r.Protect != s.Protect || r.RetainOnDelete != s.RetainOnDelete:
				t.Errorf("%s: the front door changes the protection of %s", c.stack, urn)
			}
		}
		if len(b.byType(typeLB)) != 1 || len(a.byType(typeLB)) != 0 {
			t.Errorf("%s: the switch did not happen (load balancers %d -> %d)", c.stack, len(a.byType(typeLB)), len(b.byType(typeLB)))
		}
	}
}

// TestNoFrontDoorKeepsTheDevStackCheap: without domainName (dev and prod as shipped) there is
// no load balancer, certificate, record or Auto Scaling group: one instance with its Elastic IP.
func TestNoFrontDoorKeepsTheDevStackCheap(t *testing.T) {
	for _, s := range scenarios(t) {
		g := deployed(t, s)
		for _, typ := range []string{typeLB, typeTG, typeListener, typeCert, typeRecord, typeASG, typeLaunchTmpl, typeScaling} {
			if n := len(g.byType(typ)); n != 0 {
				t.Errorf("%s: %d %s without domainName", s.name, n, typ)
			}
		}
		if len(g.byType(typeInstance)) != 1 || len(g.byType(typeEip)) != 1 {
			t.Errorf("%s: want one instance and one Elastic IP", s.name)
		}
	}
}

// TestPrivateURIOutlivesTheInstance: in private mode the tracking URI is the fixed network
// interface's address, not the instance's (the mock gives them different addresses); the
// instance takes that interface as device 0 and is deleted before its replacement; a new
// launch (another MLflow version) replaces the instance but not the interface or the URI.
func TestPrivateURIOutlivesTheInstance(t *testing.T) {
	cfg := privateNetwork(t)
	a := runStack(t, "private-network", cfg)
	cfg["mlflow-aws:mlflowVersion"] = "3.5.0"
	b := runStack(t, "private-network", cfg)
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	want := "http://" + mockPrivateIP + ":5000"
	if a.outputs["trackingUri"] != want || b.outputs["trackingUri"] != want {
		t.Errorf("trackingUri %q then %q, want %q (the interface's address; the instance's is %s)",
			a.outputs["trackingUri"], b.outputs["trackingUri"], want, mockInstancePrivateIP)
	}
	inst, eni := a.one(t, typeInstance), a.one(t, typeENI)
	nic := at(inst.input("networkInterfaces"), 0)
	if field(nic, "deviceIndex").NumberValue() != 0 || strOf(field(nic, "networkInterfaceId")) != fakeID("eni-", eni.Name) ||
		field(nic, "deleteOnTermination").BoolValue() {
		t.Errorf("instance's network interface %v; want the fixed interface as device 0, kept on termination", nic)
	}
	if !inst.DeleteBeforeReplace {
		t.Error("the instance is not deleted before its replacement (the interface attaches to one instance; two servers would overlap)")
	}
	if got := replaced(a.one(t, typeInstance), b.one(t, typeInstance)); len(got) == 0 {
		t.Error("a new MLflow version does not replace the instance (the test proves nothing)")
	}
	if got := replaced(eni, b.one(t, typeENI)); len(got) != 0 || !eni.Inputs.DeepEquals(b.one(t, typeENI).Inputs) {
		t.Errorf("a new MLflow version changes the interface: %v", got)
	}
	if assoc := a.one(t, typeEipAssoc); !assoc.DeleteBeforeReplace {
		t.Error("the Elastic IP association is not deleted before its replacement (EC2 refuses a second association)")
	}
	if assoc := a.one(t, typeEipAssoc); assoc.str("networkInterfaceId") != fakeID("eni-", eni.Name) || assoc.str("instanceId") != "" {
		t.Errorf("the Elastic IP is associated with %q/%q, want the interface", assoc.str("networkInterfaceId"), assoc.str("instanceId"))
	}
	if got := a.outputs["privateIp"]; got != mockPrivateIP {
		t.Errorf("privateIp output %q", got)
	}
}

// TestVersionChangeStopsTheOldGroupFirst (C9): with a front door, a new mlflowVersion is a new
// group name, and the group is deleted before it is replaced, so no old-version server runs
// while the new version migrates the schema; a change that keeps the version (workers) keeps
// the group and its name and changes only the launch template (an instance refresh).
func TestVersionChangeStopsTheOldGroupFirst(t *testing.T) {
	base := runStack(t, "prod", frontDoorProd(t))
	cfg := frontDoorProd(t)
	cfg["mlflow-aws:mlflowVersion"] = "3.5.0"
	version := runStack(t, "prod", cfg)
	cfg = frontDoorProd(t)
	cfg["mlflow-aws:workers"] = "3"
	same := runStack(t, "prod", cfg)
	for _, g := range []*graph{base, version, same} {
		if g.err != nil {
			t.Fatal(g.err)
		}
	}
	if got := replaced(base.one(t, typeASG), version.one(t, typeASG)); !slices.Contains(got, "namePrefix") || !version.one(t, typeASG).DeleteBeforeReplace {
		t.Errorf("a new version does not replace the group delete-first (replaced inputs %v)", got)
	}
	if got := replaced(base.one(t, typeASG), same.one(t, typeASG)); len(got) != 0 {
		t.Errorf("a same-version change replaces the group (%v); it should roll through an instance refresh", got)
	}
	if base.one(t, typeLaunchTmpl).str("userData") == same.one(t, typeLaunchTmpl).str("userData") {
		t.Error("changing workers does not change the launch template (the test proves nothing)")
	}
	if p := base.one(t, typeASG).input("instanceRefresh.preferences"); field(p, "minHealthyPercentage").NumberValue() != 100 || !field(p, "autoRollback").BoolValue() {
		t.Errorf("instance refresh preferences %v; want new servers healthy before old ones stop, and rollback", p)
	}
	if tags := base.one(t, typeLaunchTmpl); tags.str("tags."+components.TagMLflowVersion) != stackConfig(t, "prod")["mlflow-aws:mlflowVersion"] ||
		tags.str("tags."+components.TagUserDataDigest) == "" {
		t.Errorf("launch template tags do not name the launch: %v", tags.input("tags"))
	}
}

// TestProductionKeepsItsAMI (C12): a newer Amazon Linux AMI replaces the dev server (nothing to
// keep there) but not production's: in a protectData stack without amiId the instance and the
// launch template keep the AMI recorded in the state; a configured amiId is binding everywhere.
func TestProductionKeepsItsAMI(t *testing.T) {
	newer := func(t *testing.T, stack string, cfg map[string]string) (before, after *graph) {
		before = runStack(t, stack, cfg)
		mockLatestAMI = "ami-0fffffffffffffff1"
		t.Cleanup(func() { mockLatestAMI = mockAMI })
		after = runStack(t, stack, cfg)
		mockLatestAMI = mockAMI
		if before.err != nil || after.err != nil {
			t.Fatal(before.err, after.err)
		}
		return before, after
	}
	t.Run("prod", func(t *testing.T) {
		a, b := newer(t, "prod", stackConfig(t, "prod"))
		if got := replaced(a.one(t, typeInstance), b.one(t, typeInstance)); len(got) != 0 {
			t.Errorf("a new AMI replaces the production server (%v)", got)
		}
		if b.one(t, typeInstance).str("ami") == a.one(t, typeInstance).str("ami") {
			t.Error("the mock's new AMI did not reach the program (the test proves nothing)")
		}
	})
	t.Run("prod-front-door", func(t *testing.T) {
		a, b := newer(t, "prod", frontDoorProd(t))
		lt := b.one(t, typeLaunchTmpl)
		if !slices.Contains(lt.IgnoreChanges, "imageId") || a.one(t, typeLaunchTmpl).str("imageId") == lt.str("imageId") {
			t.Errorf("launch template: ignoreChanges %v, imageId %q -> %q", lt.IgnoreChanges, a.one(t, typeLaunchTmpl).str("imageId"), lt.str("imageId"))
		}
	})
	t.Run("dev", func(t *testing.T) {
		a, b := newer(t, "dev", stackConfig(t, "dev"))
		if got := replaced(a.one(t, typeInstance), b.one(t, typeInstance)); !slices.Contains(got, "ami") {
			t.Errorf("dev does not follow the latest AMI (replaced inputs %v)", got)
		}
	})
	t.Run("pinned", func(t *testing.T) {
		cfg := stackConfig(t, "prod")
		cfg["mlflow-aws:amiId"] = "ami-0aaaaaaaaaaaaaaa2"
		g := runStack(t, "prod", cfg)
		if g.err != nil {
			t.Fatal(g.err)
		}
		inst := g.one(t, typeInstance)
		if inst.str("ami") != "ami-0aaaaaaaaaaaaaaa2" || slices.Contains(inst.IgnoreChanges, "ami") {
			t.Errorf("a configured amiId is not binding: ami %q, ignoreChanges %v", inst.str("ami"), inst.IgnoreChanges)
		}
	})
}

// TestDetailedMonitoringReachesBothModes: TrackingServerArgs.DetailedMonitoring is what the
// instance's monitoring and the launch template's monitoring.enabled say (on by default, off
// when detailedMonitoring is false).
func TestDetailedMonitoringReachesBothModes(t *testing.T) {
	for _, want := range []bool{true, false} {
		dev, fd := stackConfig(t, "dev"), frontDoorDev(t)
		if !want {
			dev["mlflow-aws:detailedMonitoring"], fd["mlflow-aws:detailedMonitoring"] = "false", "false"
		}
		g, h := deployed(t, scenario{"dev", dev}), deployed(t, scenario{"frontdoor-dev", fd})
		if v, ok := g.one(t, typeInstance).boolean("monitoring"); !ok || v != want {
			t.Errorf("instance monitoring = %v (set %v), want %v", v, ok, want)
		}
		if v, ok := h.one(t, typeLaunchTmpl).boolean("monitoring.enabled"); !ok || v != want {
			t.Errorf("launch template monitoring.enabled = %v (set %v), want %v", v, ok, want)
		}
	}
}

// TestDeployerFrontDoorPolicy: a deployer holding docs/deployer-policy.json,
// docs/deployer-iam-policy.json and docs/deployer-frontdoor-policy.json may create, read,
// update and delete every resource of a stack with a front door (deployerActions) and call
// its data sources, on the resources' real names; the front door policy grants nothing no
// front-door resource calls, and creates only the Auto Scaling and load balancer
// service-linked roles.
func TestDeployerFrontDoorPolicy(t *testing.T) {
	policy := loadDeployerPolicy(t)
	door := loadPolicy(t, deployerFrontDoorPolicyPath)
	policy.Statement = append(policy.Statement, door.Statement...)
	frontDoorTypes, frontDoorInvokes := map[string]bool{}, map[string]bool{}
	for _, s := range frontDoorScenarios(t) {
		g := deployed(t, s)
		resources, invokes := graphTokens(g)
		for _, tok := range resources {
			c, ok := deployerActions[tok]
			if !ok {
				t.Errorf("%s: resource type %s is not in deployerActions", s.name, tok)
				continue
			}
			if len(g.byType(tok)) > 0 && slices.Contains([]string{typeLB, typeTG, typeListener, typeASG, typeScaling, typeLaunchTmpl, typeCert, typeCertValid, typeRecord}, tok) {
				frontDoorTypes[tok] = true
			}
			for _, a := range c.all() {
				if !policy.allows(a, "") {
					t.Errorf("%s: %s calls %s, which the three deployer policies do not allow", s.name, tok, a)
				}
			}
		}
		for _, tok := range invokes {
			if slices.Contains(localInvokes, tok) {
				continue
			}
			frontDoorInvokes[tok] = true
			for _, a := range deployerInvokes[tok] {
				if !policy.allows(a, "") {
					t.Errorf("%s: invoke %s calls %s, not allowed", s.name, tok, a)
				}
			}
			if len(deployerInvokes[tok]) == 0 {
				t.Errorf("%s: invoke %s is not in deployerInvokes", s.name, tok)
			}
		}
		// Names: the group, load balancer and target group the program names are in reach.
		region := s.cfg["aws:region"]
		asg := g.outputs["autoScalingGroupName"]
		for arn, action := range map[string]string{
			"arn:aws:autoscaling:" + region + ":" + mockAccount + ":autoScalingGroup:uuid:autoScalingGroupName/" + asg:           "autoscaling:UpdateAutoScalingGroup",
			"arn:aws:elasticloadbalancing:" + region + ":" + mockAccount + ":loadbalancer/" + g.outputs["loadBalancerArnSuffix"]: "elasticloadbalancing:DeleteLoadBalancer",
			"arn:aws:elasticloadbalancing:" + region + ":" + mockAccount + ":" + g.outputs["targetGroupArnSuffix"]:               "elasticloadbalancing:ModifyTargetGroup",
		} {
			if !policy.allows(action, arn) {
				t.Errorf("%s: %s is not allowed on %s", s.name, action, arn)
			}
		}
	}
	if len(frontDoorTypes) != 9 {
		t.Errorf("front door types seen: %v", frontDoorTypes)
	}
	var used []string
	for tok := range frontDoorTypes {
		used = append(used, deployerActions[tok].all()...)
	}
	for tok := range frontDoorInvokes {
		used = append(used, deployerInvokes[tok]...)
	}
	for _, st := range door.Statement {
		for _, a := range st.Action {
			if !slices.ContainsFunc(used, func(u string) bool { return iamGlob(a, u, true) }) {
				t.Errorf("%s statement %q grants %s, which no front-door resource calls", deployerFrontDoorPolicyPath, st.Sid, a)
			}
			if a == "iam:CreateServiceLinkedRole" && !slices.Equal(st.condition("StringEquals", "iam:AWSServiceName"),
				[]string{"autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"}) {
				t.Errorf("%s statement %q: service-linked roles beyond Auto Scaling and Elastic Load Balancing", deployerFrontDoorPolicyPath, st.Sid)
			}
			if strings.HasPrefix(a, "iam:") && a != "iam:CreateServiceLinkedRole" {
				t.Errorf("%s statement %q grants %s; IAM rights stay in docs/deployer-iam-policy.json", deployerFrontDoorPolicyPath, st.Sid, a)
			}
		}
	}
	for _, outside := range []struct{ action, arn string }{
		{"elasticloadbalancing:DeleteLoadBalancer", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/billing-prod/50dc6c495c0c9188"},
		{"autoscaling:DeleteAutoScalingGroup", "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/eks-nodes"},
	} {
		if policy.allows(outside.action, outside.arn) {
			t.Errorf("the deployer policies allow %s on %s, outside the project", outside.action, outside.arn)
		}
	}
}

// keepAlive finds the unit's uvicorn keep-alive (seconds).
var keepAlive = regexp.MustCompile(`\n *Environment=UVICORN_TIMEOUT_KEEP_ALIVE=([0-9]+)\n`)

// asgNamePattern: Auto Scaling group names are 1 to 255 characters of Unicode other than
// control characters; this program's are ASCII letters, digits, '-' and '.'.
var asgNamePattern = regexp.MustCompile(`^[A-Za-z0-9.-]{1,229}$`) // 255 minus the provider's 26-character suffix

// TestFrontDoorNamesAreLegalForEveryStackName: with a front door (and access logs) every name
// derived from the stack is legal: the access-log bucket (nameProblems), the group's prefix,
// the load balancer's and target group's 6-character prefixes.
func TestFrontDoorNamesAreLegalForEveryStackName(t *testing.T) {
	for _, stack := range []string{"dev_1", "my.stack", "a--b", "9", strings.Repeat("s_", 16), "team.ml-prod_eu"} {
		cfg := frontDoorProd(t)
		g := runStack(t, stack, cfg)
		if g.err != nil {
			t.Fatalf("stack %q refused: %v", stack, g.err)
		}
		for _, p := range nameProblems(g) {
			t.Errorf("%s: %s", stack, p)
		}
		if p := g.one(t, typeASG).str("namePrefix"); !asgNamePattern.MatchString(p) {
			t.Errorf("%s: group name prefix %q", stack, p)
		}
		if len(g.ownedBy(typeBucket, tokTrackingServer)) != 1 {
			t.Errorf("%s: no access-log bucket to check", stack)
		}
	}
}

// TestHostedZoneCheckedAtPreview: the hosted zone hostedZoneId names is looked up before any
// resource is registered; a zone that does not hold domainName, or a private one (ACM validates
// through public DNS), is refused naming hostedZoneId; the zone of the domain or of a parent
// domain passes.
func TestHostedZoneCheckedAtPreview(t *testing.T) {
	for _, tc := range []struct {
		zone    string
		private bool
		want    string // "" = accepted
	}{
		{"example.com.", false, ""},
		{"mlflow.example.com.", false, ""},
		{"Example.COM.", false, ""},
		{"example.org.", false, "does not hold mlflow-aws:domainName"},
		{"ample.com.", false, "does not hold"},
		{"other.example.com.", false, "does not hold"},
		{"example.com.", true, "is private"},
	} {
		g := runStackMocks(t, "dev", frontDoorDev(t), &mocks{zoneName: tc.zone, privateZone: tc.private})
		switch {
		case tc.want == "" && g.err != nil:
			t.Errorf("zone %s (private %v): %v", tc.zone, tc.private, g.err)
		case tc.want != "" && (g.err == nil || !strings.Contains(g.err.Error(), "mlflow-aws:hostedZoneId") || !strings.Contains(g.err.Error(), tc.want) || len(g.resources) != 0):
			t.Errorf("zone %s (private %v): err %v with %d resources, want a refusal naming hostedZoneId containing %q and no resources", tc.zone, tc.private, g.err, len(g.resources), tc.want)
		}
	}
	if g := runStack(t, "dev", stackConfig(t, "dev")); slices.Contains(g.invokes, "aws:route53/getZone:getZone") {
		t.Error("a stack without a front door looks up a hosted zone")
	}
}
