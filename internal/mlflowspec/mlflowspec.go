// Package mlflowspec holds the facts about the MLflow tracking server launch that the stack
// configuration, the components and the boot templates share: the artifact access modes, the
// accepted MLflow releases and the worker bound. It imports nothing of this module.
package mlflowspec

import (
	"fmt"
	"regexp"
	"strconv"
)

// ArtifactAccess is how clients reach artifacts (MLflow "Artifact Stores" / "Tracking Server"
// docs).
type ArtifactAccess string

const (
	// ArtifactAccessProxied serves artifacts through the tracking server
	// ("mlflow server --serve-artifacts --artifacts-destination s3://..."); clients need no AWS
	// credentials and use mlflow-artifacts:/ URIs.
	ArtifactAccessProxied ArtifactAccess = "proxied"
	// ArtifactAccessDirect makes clients read and write s3:// themselves
	// ("--no-serve-artifacts --default-artifact-root s3://..."); clients need AWS credentials.
	ArtifactAccessDirect ArtifactAccess = "direct"
)

// ArtifactAccessModes lists every ArtifactAccess, the default first.
var ArtifactAccessModes = []ArtifactAccess{ArtifactAccessProxied, ArtifactAccessDirect}

// Valid reports whether a is one of ArtifactAccessModes.
func (a ArtifactAccess) Valid() bool {
	return a == ArtifactAccessProxied || a == ArtifactAccessDirect
}

// MaxWorkers bounds an explicit uvicorn worker count of the tracking server; 0 means "size from
// the instance's memory at boot".
const MaxWorkers = 64

// MinRelease is the oldest MLflow accepted: 3.5.0 added --allowed-hosts, which the launch uses
// (MLflow 3.5.0 release notes, "Protect Your Tracking Server from Network Exposure").
var MinRelease = [3]int{3, 5, 0}

var releasePattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$`)

// CheckRelease returns nil when v is a final MLflow release MAJOR.MINOR.PATCH (no pre-release,
// no local or post suffix: the pip pin must name exactly one published wheel) not older than
// MinRelease.
func CheckRelease(v string) error {
	m := releasePattern.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("%q is not an MLflow release like 3.17.2 (MAJOR.MINOR.PATCH, no pre-releases)", v)
	}
	for i := 0; i < 3; i++ {
		n, _ := strconv.Atoi(m[i+1])
		if n != MinRelease[i] {
			if n < MinRelease[i] {
				return fmt.Errorf("%q is older than %d.%d.%d, the first release with --allowed-hosts, which the launch needs", v, MinRelease[0], MinRelease[1], MinRelease[2])
			}
			break
		}
	}
	return nil
}

// Names and ports of the launch that the backend store, the tracking server and the
// configuration's size check all use.
const (
	// TrackingPort is the port `mlflow server` listens on.
	TrackingPort = 5000
	// DatabaseName is the PostgreSQL database of MLflow's backend store.
	DatabaseName = "mlflow_data"
	// DatabaseUser is the backend store's master user.
	DatabaseUser = "mlflow"
	// ArtifactsPrefix is the key prefix (no slashes) under which MLflow stores artifacts in the
	// bucket; the tracking server's IAM policy is scoped to it.
	ArtifactsPrefix = "artifacts"
)

// ServerAllowedHosts lists the Host header values the tracking server accepts (MLflow >= 3.5
// --allowed-hosts, "Protect Your Tracking Server from Network Exposure"): localhost and
// 127.0.0.1 (the SSM port forward), the Elastic IP and its DNS name, each bare and with
// TrackingPort, then extra exactly as configured. Empty hosts are skipped.
func ServerAllowedHosts(publicIP, publicDNS string, extra []string) []string {
	var out []string
	for _, h := range []string{"localhost", "127.0.0.1", publicIP, publicDNS} {
		if h != "" {
			out = append(out, h, h+":"+strconv.Itoa(TrackingPort))
		}
	}
	return append(out, extra...)
}

// FrontDoorHosts are the Host header values a load balancer serving https://<domain> brings to
// the tracking server: the domain bare (what browsers and MLflow clients send for
// https://<domain>) and with :443 (what clients send when the URI names the port). The launcher
// derives the CORS origin https://<domain> from them. Empty domain: none.
func FrontDoorHosts(domain string) []string {
	if domain == "" {
		return nil
	}
	return []string{domain, domain + ":443"}
}
