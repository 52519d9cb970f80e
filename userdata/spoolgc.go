package userdata

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// The artifact spool volume and the garbage collection of deleted runs (issue 13, C8).
//
// In proxied mode MLflow (3.5.0 and 3.17.2 alike) writes every artifact it moves through
// Python's tempfile: an upload is streamed into a temporary file under TMPDIR and only then
// handed to the S3 repository (S3ArtifactRepository is no StreamUploadMixin: mlflow/server/
// handlers.py _upload_artifact and, in 3.17, mlflow/server/artifact_router.py upload_artifact),
// and a download is fetched from S3 into a temporary directory whole before the first byte goes
// out (_download_artifact, artifact_router.download_artifact). So each transfer in flight holds
// one whole artifact in TMPDIR. With Params.SpoolVolume set, TMPDIR of the server is SpoolDir,
// its own EBS volume, instead of /var/tmp on the root volume.
const (
	// SpoolDir is where the bootstrap mounts the spool volume and the server's TMPDIR when a
	// spool volume is configured (mode 0700, owned by ServiceUser). The monitoring alarm on
	// spool disk use watches this path.
	SpoolDir = "/var/spool/mlflow"
	// SpoolDeviceName is the block device name of the spool volume in the instance's (or launch
	// template's) block device mapping. On Nitro instances EBS volumes appear as NVMe devices
	// (/dev/nvme1n1, in no fixed order); AL2023's amazon-ec2-utils udev rule
	// (70-ec2-nvme-devices.rules: ebsnvme-id -u) links the mapped name, /dev/sdf, to it. On Xen
	// instances the kernel names it /dev/xvdf. The bootstrap accepts either.
	SpoolDeviceName = "/dev/sdf"
	// SpoolDropInPath is the drop-in of UnitName written when a spool volume is configured: it
	// points TMPDIR at SpoolDir, lets the sandboxed service write there (ProtectSystem=strict),
	// orders the service after the mount, and empties the spool before each start (a killed
	// server leaves its temporary files).
	SpoolDropInPath = "/etc/systemd/system/" + UnitName + ".d/spool.conf"
	// SpoolLabel is the XFS label the bootstrap gives the spool file system.
	SpoolLabel = "mlflow-spool"

	// GCUnitName is the oneshot service running `mlflow gc` (GCPath); GCTimerName starts it
	// daily. Both are written, and the timer enabled, only when Params.GCOlderThan is set.
	GCUnitName  = "mlflow-gc.service"
	GCTimerName = "mlflow-gc.timer"
	GCUnitPath  = "/etc/systemd/system/" + GCUnitName
	GCTimerPath = "/etc/systemd/system/" + GCTimerName
	// GCPath is the bash script GCUnitName runs: it sources LauncherPath for its functions (the
	// SSM password read), then runs the venv's `mlflow gc` against the backend store, resolving
	// mlflow-artifacts: URIs through the local server.
	GCPath = LibexecDir + "/mlflow-gc"
	// EnvGCOlderThan is the environment variable of GCUnitName holding Params.GCOlderThan.
	EnvGCOlderThan = "MLFLOW_GC_OLDER_THAN"
)

// MaxSpoolGiB is the largest spool volume: a gp3 volume holds at most 16 TiB (Amazon EBS User
// Guide, "Amazon EBS General Purpose SSD volumes").
const MaxSpoolGiB = 16384

// gcDurationRe is the `mlflow gc --older-than` format: days, hours, minutes, seconds in that
// order, each optional, numbers with an optional fraction ("30d", "1d12h", "0.5d", "90m").
// MLflow's own pattern (mlflow/cli/__init__.py, gc) is ^((?P<days>[\.\d]+?)d)?((?P<hours>…)h)?…$,
// which also takes "" (everything at once) and "1.2.3d" (a crash in float()): both refused here.
var gcDurationRe = regexp.MustCompile(`^(?:([0-9]+(?:\.[0-9]+)?)d)?(?:([0-9]+(?:\.[0-9]+)?)h)?(?:([0-9]+(?:\.[0-9]+)?)m)?(?:([0-9]+(?:\.[0-9]+)?)s)?$`)

// GCOlderThanMin and GCOlderThanMax bound the gc period: at least an hour, so a mistaken
// deletion stays restorable for a while, and at most 36,500 days (100 years), well inside
// Python's timedelta, which `mlflow gc` builds from it (a larger one would fail every run).
const (
	GCOlderThanMin = time.Hour
	GCOlderThanMax = 36500 * 24 * time.Hour
)

// CheckGCOlderThan returns nil when s is a period `mlflow gc --older-than` accepts, from
// GCOlderThanMin to GCOlderThanMax, e.g. "30d", "1d12h", "0.5d", "90m" (units d, h, m, s in that
// order, each at most once); "" is not a period (the caller decides what empty means).
func CheckGCOlderThan(s string) error {
	m := gcDurationRe.FindStringSubmatch(s)
	if s == "" || m == nil {
		return fmt.Errorf("%q is not a period like 30d, 1d12h or 90m (numbers followed by d, h, m, s, in that order)", s)
	}
	var seconds float64
	for i, unit := range []float64{86400, 3600, 60, 1} {
		f, _ := strconv.ParseFloat(m[i+1], 64)
		seconds += f * unit
	}
	if seconds < GCOlderThanMin.Seconds() || seconds > GCOlderThanMax.Seconds() {
		return fmt.Errorf("%q is outside 1h to 36500d: a shorter period purges deleted runs before anyone can restore them, a longer one overflows mlflow gc", s)
	}
	return nil
}

// spoolGCProblems returns one error per invalid spool or gc field of p.
func spoolGCProblems(p Params) []error {
	var errs []error
	if p.GCOlderThan != "" {
		if err := CheckGCOlderThan(p.GCOlderThan); err != nil {
			errs = append(errs, fmt.Errorf("GCOlderThan %w", err))
		}
	}
	return errs
}

// spoolGCFiles are the write_files entries of the spool drop-in and the gc units and script
// for p: none when neither is configured.
func spoolGCFiles(p Params) []struct{ path, mode, tmpl string } {
	var files []struct{ path, mode, tmpl string }
	if p.SpoolVolume {
		files = append(files, struct{ path, mode, tmpl string }{SpoolDropInPath, "0644", "mlflow-spool.conf.tmpl"})
	}
	if p.GCOlderThan != "" {
		files = append(files,
			struct{ path, mode, tmpl string }{GCPath, "0755", "mlflow-gc.sh.tmpl"},
			struct{ path, mode, tmpl string }{GCUnitPath, "0644", "mlflow-gc.service.tmpl"},
			struct{ path, mode, tmpl string }{GCTimerPath, "0644", "mlflow-gc.timer.tmpl"})
	}
	return files
}
