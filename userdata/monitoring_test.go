package userdata

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

// monitoringDocuments returns the documents that carry the CloudWatch agent (every golden, the
// every-option-changed fixture) with their written files; it fails when there are none.
func monitoringDocuments(t *testing.T) []struct {
	d     document
	files map[string]writtenFile
} {
	t.Helper()
	var out []struct {
		d     document
		files map[string]writtenFile
	}
	for _, d := range documents(t) {
		files, _ := parseDocument(t, d)
		if _, ok := files[AgentConfigPath]; ok {
			out = append(out, struct {
				d     document
				files map[string]writtenFile
			}{d, files})
		}
	}
	if len(out) < 2 {
		t.Fatalf("only %d documents carry the CloudWatch agent", len(out))
	}
	return out
}

// exportCommand returns the journalctl arguments of the export unit's ExecStart, as written.
func exportCommand(t *testing.T, unit string) []string {
	t.Helper()
	for _, l := range strings.Split(unit, "\n") {
		if rest, ok := strings.CutPrefix(l, "ExecStart=/bin/sh -c 'while /usr/bin/journalctl "); ok {
			args, _, ok := strings.Cut(rest, "; do sleep 10; done; exit 1'")
			if ok {
				return strings.Fields(args)
			}
		}
	}
	t.Fatalf("the export unit has no ExecStart running journalctl in a loop:\n%s", unit)
	return nil
}

// TestAgentConfigTailsTheExportedJournal: the agent's configuration is JSON of exactly the
// fields the program means (no unknown key), tails the very file the export unit appends to and
// logrotate rotates, into the stack's log group in a stream per instance id, and reports memory
// and the disk use of / (and of the spool volume when there is one) in the stack's namespace,
// rolled up by mount point and over the stack's instances; it runs as cwagent, not root.
func TestAgentConfigTailsTheExportedJournal(t *testing.T) {
	for _, m := range monitoringDocuments(t) {
		raw := mustFile(t, m.d, m.files, AgentConfigPath)
		var c agentConfig
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: agent configuration: %v\n%s", m.d.name, err, raw)
		}
		files := c.Logs.LogsCollected.Files.CollectList
		if len(files) != 1 || files[0].FilePath != JournalLogPath || files[0].LogStreamName != "{instance_id}" {
			t.Errorf("%s: collect_list %+v, want %s in a stream per instance id", m.d.name, files, JournalLogPath)
		}
		unit := mustFile(t, m.d, m.files, LogExportUnitPath)
		if !strings.Contains(unit, "\nStandardOutput=append:"+files[0].FilePath+"\n") {
			t.Errorf("%s: the export unit does not append to the file the agent tails (%s):\n%s", m.d.name, files[0].FilePath, unit)
		}
		if rotate := mustFile(t, m.d, m.files, LogrotatePath); !strings.HasPrefix(rotate, files[0].FilePath+" {\n") || !strings.Contains(rotate, "copytruncate") {
			t.Errorf("%s: logrotate does not copytruncate %s:\n%s", m.d.name, files[0].FilePath, rotate)
		}
		if c.Agent.RunAsUser != "cwagent" || c.Agent.MetricsCollectionInterval != 60 {
			t.Errorf("%s: agent section %+v", m.d.name, c.Agent)
		}
		if !slices.EqualFunc(c.Metrics.AggregationDimensions, [][]string{{DimensionPath}, {}}, slices.Equal) {
			t.Errorf("%s: aggregation_dimensions %v, want [[path] []]", m.d.name, c.Metrics.AggregationDimensions)
		}
		disk := c.Metrics.MetricsCollected.Disk
		if !slices.Equal(c.Metrics.MetricsCollected.Mem.Measurement, []string{"used_percent"}) || !slices.Equal(disk.Measurement, []string{"used_percent"}) || !disk.DropDevice {
			t.Errorf("%s: metrics %+v", m.d.name, c.Metrics.MetricsCollected)
		}
		if p := m.d.params; p != nil {
			want := []string{RootPath}
			if p.Monitoring.SpoolPath != "" {
				want = append(want, p.Monitoring.SpoolPath)
			}
			if !slices.Equal(disk.Resources, want) || c.Metrics.Namespace != p.Monitoring.MetricsNamespace || files[0].LogGroupName != p.Monitoring.LogGroupName {
				t.Errorf("%s: disks %v namespace %q group %q, want %v %q %q", m.d.name, disk.Resources, c.Metrics.Namespace, files[0].LogGroupName,
					want, p.Monitoring.MetricsNamespace, p.Monitoring.LogGroupName)
			}
		}
		boot := mustFile(t, m.d, m.files, BootstrapPath)
		for _, step := range []string{"\n  start_log_shipping\n", "dnf install -y amazon-cloudwatch-agent logrotate",
			"-a fetch-config -m ec2 -c 'file:" + AgentConfigPath + "'", "start_service '" + AgentUnitName + "'", "start_service '" + LogExportUnitName + "'"} {
			if !strings.Contains(boot, step) {
				t.Errorf("%s: the bootstrap lacks %q", m.d.name, step)
			}
		}
	}
	// Without Params.Monitoring nothing of it is written or run.
	d := documents(t)[0]
	files, _ := parseDocument(t, d)
	if _, ok := files[AgentConfigPath]; ok || strings.Contains(mustFile(t, d, files, BootstrapPath), "start_log_shipping") {
		t.Errorf("%s: no Monitoring, but the agent is configured or started", d.name)
	}
}

// TestMonitoringParamsAreValidated: a log group, namespace or spool path AWS or the agent would
// refuse is refused by Render, naming the field.
func TestMonitoringParamsAreValidated(t *testing.T) {
	for _, m := range []MonitoringParams{
		{LogGroupName: "", MetricsNamespace: "a/b"},
		{LogGroupName: "/a b", MetricsNamespace: "a/b"},
		{LogGroupName: "/a/" + strings.Repeat("x", 510), MetricsNamespace: "a/b"},
		{LogGroupName: "/a", MetricsNamespace: "AWS/EC2"},
		{LogGroupName: "/a", MetricsNamespace: "a$b"},
		{LogGroupName: "/a", MetricsNamespace: "a/b", SpoolPath: "/"},
		{LogGroupName: "/a", MetricsNamespace: "a/b", SpoolPath: "var/spool"},
		{LogGroupName: "/a", MetricsNamespace: "a/b", SpoolPath: "/var/spool'x"},
	} {
		p := devLikeParams()
		p.Monitoring = &m
		if _, err := Render(p); err == nil || !strings.Contains(err.Error(), "Monitoring.") {
			t.Errorf("Render with %+v: %v, want an error naming the Monitoring field", m, err)
		}
	}
}

// TestLogExportCopiesTheJournal runs the export unit's real journalctl command (from the rendered
// unit, only the cursor file moved to a scratch directory) against a real systemd-journald,
// started in a private mount namespace (its own /run and /var/log; nothing of the host's journal
// is touched) and stopped at the end. Entries are sent as a root daemon logs about a unit
// (OBJECT_SYSTEMD_UNIT=, which `journalctl --unit` matches like the unit's own output): a round
// appends the entries of mlflow.service and mlflow-bootstrap.service and nothing else, a round
// with nothing new appends nothing (no "-- No entries --"), the next round only what came
// since, and after logrotate's copytruncate only what is new (the cursor, not the file,
// remembers the position). The file is the one the agent configuration tails.
func TestLogExportCopiesTheJournal(t *testing.T) {
	unshare := requireTool(t, "unshare", "util-linux")
	requireTool(t, "logger", "bsdutils")
	requireTool(t, "/lib/systemd/systemd-journald", "systemd")
	if os.Geteuid() != 0 {
		t.Fatal("needs root (a mount namespace for a private systemd-journald); the tests run as root (README, Running the tests)")
	}
	m := monitoringDocuments(t)[0]
	args := exportCommand(t, mustFile(t, m.d, m.files, LogExportUnitPath))
	dir := t.TempDir()
	cursor := filepath.Join(dir, "cursor")
	for i, a := range args {
		if a == "--cursor-file="+LogExportCursorPath {
			args[i] = "--cursor-file=" + cursor
		}
	}
	if !slices.Contains(args, "--cursor-file="+cursor) {
		t.Fatalf("the export command %v has no --cursor-file=%s", args, LogExportCursorPath)
	}
	out := filepath.Join(dir, filepath.Base(JournalLogPath))
	driver := `set -euo pipefail
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/log
mkdir -p /run/systemd/journal
/lib/systemd/systemd-journald >"$DIR/journald.log" 2>&1 &
journald=$!
trap 'kill "$journald"; wait "$journald" || true' EXIT
for _ in $(seq 100); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.1; done
send() { printf 'MESSAGE=%s\nOBJECT_SYSTEMD_UNIT=%s\nSYSLOG_IDENTIFIER=%s\n' "$1" "$2" "$3" >"$DIR/entry"; logger --journald="$DIR/entry"; }
round() { sleep 0.5; journalctl "$@" >>"$OUT"; cp "$OUT" "$DIR/after-$ROUND"; ROUND=$((ROUND + 1)); }
ROUND=1
send 'Listening at: http://0.0.0.0:5000' mlflow.service mlflow-launch
send 'sshd started' sshd.service sshd
send 'mlflow-bootstrap: done' mlflow-bootstrap.service mlflow-bootstrap
round "$@"
round "$@"
send 'GET /health 200' mlflow.service uvicorn
round "$@"
: >"$OUT"
send 'after rotation' mlflow.service uvicorn
round "$@"
`
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "DIR=" + dir, "OUT=" + out}
	stdout, stderr, err := run(t, time.Minute, env, "", unshare, append([]string{"--mount", "--propagation", "private", "/bin/bash", "-c", driver, "driver"}, args...)...)
	if err != nil {
		jl, _ := os.ReadFile(filepath.Join(dir, "journald.log"))
		t.Fatalf("driver: %v\nstdout:%s\nstderr:%s\njournald:%s", err, stdout, stderr, jl)
	}
	lines := func(round int) []string {
		b, err := os.ReadFile(filepath.Join(dir, "after-"+string(rune('0'+round))))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			// 2026-11-30T17:28:11.127561+0000 mlflow-launch[20587]: message
			ts, rest, _ := strings.Cut(l, " ")
			if _, err := time.Parse("2006-01-02T15:04:05.000000-0700", ts); err != nil {
				t.Errorf("line %q does not start with an ISO 8601 timestamp: %v", l, err)
			}
			msgs = append(msgs, rest[strings.Index(rest, " ")+1:])
		}
		return msgs
	}
	for round, want := range map[int][]string{
		1: {"Listening at: http://0.0.0.0:5000", "mlflow-bootstrap: done"},
		2: {"Listening at: http://0.0.0.0:5000", "mlflow-bootstrap: done"},
		3: {"Listening at: http://0.0.0.0:5000", "mlflow-bootstrap: done", "GET /health 200"},
		4: {"after rotation"},
	} {
		if got := lines(round); !slices.Equal(got, want) {
			t.Errorf("after round %d the file holds %q, want %q", round, got, want)
		}
	}
	if b, err := os.ReadFile(cursor); err != nil || !bytes.HasPrefix(b, []byte("s=")) {
		t.Errorf("cursor file %q (err %v), want a journal cursor", b, err)
	}
}

// TestBootstrapStartsLogShipping runs the bootstrap's real start_log_shipping (of a document with
// the agent) against stub dnf, systemctl and amazon-cloudwatch-agent-ctl that record their
// arguments: it installs the agent and logrotate, creates the log directory, queues the journal
// copy and the logrotate timer, loads the agent's configuration and queues the agent, in that
// order and without waiting for a start job; a failing fetch-config (a configuration the agent
// refuses) stops it with a non-zero exit before the agent is started, so the bootstrap retries.
func TestBootstrapStartsLogShipping(t *testing.T) {
	m := monitoringDocuments(t)[0]
	f := filepath.Join(t.TempDir(), "mlflow-bootstrap")
	if err := testenv.WriteExecutable(f, []byte(mustFile(t, m.d, m.files, BootstrapPath))); err != nil {
		t.Fatal(err)
	}
	for _, fail := range []bool{false, true} {
		dir := t.TempDir()
		bin := mkdir(t, dir, "bin")
		calls := filepath.Join(dir, "calls")
		for name, extra := range map[string]string{"dnf": "", "systemctl": `[[ "$1" != is-active ]]` + "\n",
			filepath.Base(AgentCtl): `[[ "$STUB_FAIL" != yes ]] || { echo "invalid configuration" >&2; exit 1; }` + "\n"} {
			script := "#!/bin/bash\nprintf '%s %s\\n' " + name + " \"$*\" >>\"$STUB_CALLS\"\n" + extra
			if err := testenv.WriteExecutable(filepath.Join(bin, name), []byte(script)); err != nil {
				t.Fatal(err)
			}
		}
		logDir := filepath.Join(dir, "log", "mlflow")
		stubFail := "no"
		if fail {
			stubFail = "yes"
		}
		env := []string{"PATH=" + bin + ":/usr/bin:/bin", "LC_ALL=C", "STUB_CALLS=" + calls, "STUB_FAIL=" + stubFail,
			"MLFLOW_LOG_DIR=" + logDir, "MLFLOW_AGENT_CTL=" + filepath.Join(bin, filepath.Base(AgentCtl))}
		_, stderr, err := run(t, 30*time.Second, env, "", "/bin/bash", "-c", `set -euo pipefail; source "$1"; start_log_shipping`, "bash", f)
		if (err != nil) != fail {
			t.Errorf("fetch-config fails %v: start_log_shipping err=%v\n%s", fail, err, stderr)
		}
		b, _ := os.ReadFile(calls)
		got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		queue := func(unit string) []string {
			return []string{"systemctl daemon-reload", "systemctl enable " + unit, "systemctl is-active --quiet " + unit, "systemctl start --no-block " + unit}
		}
		want := slices.Concat([]string{"dnf install -y amazon-cloudwatch-agent logrotate"}, queue(LogExportUnitName), queue("logrotate.timer"),
			[]string{filepath.Base(AgentCtl) + " -a fetch-config -m ec2 -c file:" + AgentConfigPath})
		if !fail {
			want = append(want, queue(AgentUnitName)...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("fetch-config fails %v: calls\n got %q\nwant %q", fail, got, want)
		}
		if info, err := os.Stat(logDir); err != nil || !info.IsDir() || info.Mode().Perm() != 0o755 {
			t.Errorf("log directory %s: %v %v", logDir, info, err)
		}
	}
}
