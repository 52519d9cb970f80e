package userdata

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlflow-aws/mlflow-aws/internal/testenv"
)

// optionalFiles are the spool and gc files document d must write, with their modes, read from
// what its bootstrap acts on: the drop-in exactly when the bootstrap mounts a spool volume, the
// gc script and units exactly when it enables the gc timer.
func optionalFiles(d document) map[string]string {
	out := map[string]string{}
	if strings.Contains(d.text, `spool_device="${MLFLOW_SPOOL_DEVICE-`+SpoolDeviceName+`}"`) {
		out[SpoolDropInPath] = "0644"
	}
	if strings.Contains(d.text, "readonly gc_timer='"+GCTimerName+"'") {
		out[GCPath], out[GCUnitPath], out[GCTimerPath] = "0755", "0644", "0644"
	}
	return out
}

// TestRenderWritesSpoolAndGCFilesOnlyWhenConfigured: each combination of SpoolVolume and
// GCOlderThan writes exactly its files, and the bootstrap acts on exactly those.
func TestRenderWritesSpoolAndGCFilesOnlyWhenConfigured(t *testing.T) {
	for _, c := range []struct {
		spool bool
		gc    string
	}{{false, ""}, {true, ""}, {false, "1d12h"}, {true, "30d"}} {
		p := devLikeParams()
		p.SpoolVolume, p.GCOlderThan = c.spool, c.gc
		d, files := renderDocument(t, "spool/gc", p)
		_, drop := files[SpoolDropInPath]
		_, gcUnit := files[GCUnitPath]
		_, gcTimer := files[GCTimerPath]
		_, gcScript := files[GCPath]
		if drop != c.spool || gcUnit != (c.gc != "") || gcTimer != gcUnit || gcScript != gcUnit {
			t.Errorf("spool %v gc %q: writes drop-in %v, gc unit %v, timer %v, script %v", c.spool, c.gc, drop, gcUnit, gcTimer, gcScript)
		}
		if got := len(optionalFiles(d)); got != btoi(c.spool)+3*btoi(c.gc != "") {
			t.Errorf("spool %v gc %q: the bootstrap acts on %d optional files", c.spool, c.gc, got)
		}
		if c.gc != "" && !strings.Contains(files[GCUnitPath].Content, "\nEnvironment="+EnvGCOlderThan+"="+c.gc+"\n") {
			t.Errorf("gc %q: the gc unit does not carry the period:\n%s", c.gc, files[GCUnitPath].Content)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCheckGCOlderThan accepts what `mlflow gc --older-than` parses (MLflow's pattern, units in
// order d h m s, fractions) and refuses what it would not parse, the empty string it would
// take as "everything now", numbers MLflow's float() would crash on, and periods outside 1h to
// 36500d (zero and seconds purge before anyone can restore; huge ones overflow timedelta).
func TestCheckGCOlderThan(t *testing.T) {
	for _, ok := range []string{"30d", "1d", "0.5d", "1d12h", "2d8h5m20s", "90m", "3600s", "12h", "1.5h30m", "1h", "3600s", "36500d"} {
		if err := CheckGCOlderThan(ok); err != nil {
			t.Errorf("CheckGCOlderThan(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "30", "30D", "30 d", "d", "1h1d", "1d1d", "1.2.3d", ".5d", "5.d", "-1d", "1w", "P30D", "30days", "0d", "0d0h", "0.0s", "1d;rm",
		"0.0001s", "1s", "59m", "59m59s", "36501d", "36500d1s", "99999999999999999999d"} {
		if err := CheckGCOlderThan(bad); err == nil {
			t.Errorf("CheckGCOlderThan(%q) = nil, want an error", bad)
		}
	}
}

// TestValidateGCOlderThan: a gc period mlflow gc would not parse is refused, naming the field.
func TestValidateGCOlderThan(t *testing.T) {
	p := devLikeParams()
	p.GCOlderThan = "2 weeks"
	err := Validate(p)
	for _, want := range []string{"GCOlderThan \"2 weeks\" is not a period"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

// TestSpoolAndGCFilesPassTools: the gc script parses with bash -n and is shellcheck clean; the
// service with its spool drop-in, the gc service and the gc timer pass systemd-analyze verify
// (any output fails) in a scratch root; the drop-in points TMPDIR at SpoolDir and lets the
// sandboxed service write there, and the gc unit runs as the service user with its env file.
func TestSpoolAndGCFilesPassTools(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck", "shellcheck")
	analyze := requireTool(t, "systemd-analyze", "systemd")
	p := devLikeParams()
	d, files := renderDocument(t, "dev-like", p)
	script := filepath.Join(t.TempDir(), "mlflow-gc")
	if err := testenv.WriteExecutable(script, []byte(mustFile(t, d, files, GCPath))); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("/bin/bash", "-n", script).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("bash -n %s: %v\n%s", GCPath, err, out)
	}
	if out, err := exec.Command(shellcheck, "--shell=bash", "--severity=style", script).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("shellcheck %s: %v\n%s", GCPath, err, out)
	}
	for path, lines := range map[string][]string{
		SpoolDropInPath: {"RequiresMountsFor=" + SpoolDir, "Environment=TMPDIR=" + SpoolDir, "ReadWritePaths=" + SpoolDir,
			"ExecStartPre=/usr/bin/find " + SpoolDir + " -mindepth 1 -delete"},
		GCUnitPath: {"Type=oneshot", "User=" + ServiceUser, "Group=" + ServiceUser, "EnvironmentFile=" + EnvFilePath,
			"ExecStart=" + GCPath, "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes", "After=network-online.target " + UnitName},
		GCTimerPath: {"OnCalendar=daily", "Persistent=true", "WantedBy=timers.target"},
	} {
		have := map[string]bool{}
		for _, l := range strings.Split(mustFile(t, d, files, path), "\n") {
			have[l] = true
		}
		for _, l := range lines {
			if !have[l] {
				t.Errorf("%s lacks the line %q", path, l)
			}
		}
	}
	root := t.TempDir()
	if out, err := exec.Command("cp", "-a", "/lib/systemd/system", filepath.Join(mkdir(t, root, "usr/lib/systemd"), "system")).CombinedOutput(); err != nil {
		t.Fatalf("copy /lib/systemd/system: %v\n%s", err, out)
	}
	for _, path := range []string{UnitPath, SpoolDropInPath, GCUnitPath, GCTimerPath} {
		content := mustFile(t, d, files, path)
		if err := os.WriteFile(filepath.Join(mkdir(t, root, filepath.Dir(path)), filepath.Base(path)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(content, "\n") {
			for _, prefix := range []string{"ExecStart=", "ExecStartPre="} {
				if cmd, ok := strings.CutPrefix(l, prefix); ok {
					exe := strings.Fields(cmd)[0]
					if err := testenv.WriteExecutable(filepath.Join(mkdir(t, root, filepath.Dir(exe)), filepath.Base(exe)), []byte("#!/bin/sh\nexit 0\n")); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	stdout, stderr, err := run(t, time.Minute, os.Environ(), "", analyze, "verify", "--root="+root, UnitName, GCUnitName, GCTimerName)
	if err != nil || stdout != "" || stderr != "" {
		t.Errorf("systemd-analyze verify: %v\n%s%s", err, stdout, stderr)
	}
}

// TestBootstrapMountsSpoolVolume runs the bootstrap's real mount_spool (sourced) as root on loop
// devices with the real mkfs.xfs, blkid and mount; only chown is stubbed (this machine has no
// mlflow user) and the fstab is a test file: a blank volume is formatted, listed in the fstab by
// UUID with nofail and mounted; a second run mounts it again without formatting (a file written
// there survives) or listing it twice; a volume holding another file system is refused and left
// as it was, the fstab untouched.
func TestBootstrapMountsSpoolVolume(t *testing.T) {
	for _, tool := range []string{"losetup", "mkfs.xfs", "mkfs.ext4", "blkid", "mount", "umount", "mountpoint"} {
		requireTool(t, tool, map[string]string{"mkfs.xfs": "xfsprogs", "mkfs.ext4": "e2fsprogs", "blkid": "util-linux", "mountpoint": "util-linux"}[tool]+" (or mount)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("loop devices and mount need root (the tests run as root on the project's machines)")
	}
	dir := t.TempDir()
	loop := func(name string, mib int) string {
		img := filepath.Join(dir, name+".img")
		if err := os.Truncate(mustCreate(t, img), int64(mib)<<20); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("losetup", "--find", "--show", img).Output()
		if err != nil {
			t.Fatalf("losetup %s: %v", img, err)
		}
		dev := strings.TrimSpace(string(out))
		t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
		link := filepath.Join(dir, name)
		if err := os.Symlink(dev, link); err != nil {
			t.Fatal(err)
		}
		return link
	}
	spool := filepath.Join(dir, "spool")
	fstab := filepath.Join(dir, "fstab")
	mustWrite(t, fstab, "# fstab\n")
	t.Cleanup(func() { _ = exec.Command("umount", spool).Run() })
	mount := func(device string) (string, error) {
		script := sourced(t, BootstrapPath) + "chown() { printf 'chown %s\\n' \"$*\"; }\nmount_spool\n"
		env := append(os.Environ(), "MLFLOW_SPOOL_DEVICE="+device, "MLFLOW_SPOOL_DIR="+spool, "MLFLOW_FSTAB="+fstab)
		stdout, stderr, err := run(t, 2*time.Minute, env, "", "/bin/bash", "-c", script)
		return stdout + stderr, err
	}
	blank := loop("sdf", 320)
	out, err := mount(blank)
	if err != nil || !strings.Contains(out, "formatting the blank spool volume") || !strings.Contains(out, "chown mlflow:mlflow "+spool) {
		t.Fatalf("mount_spool on a blank volume: %v\n%s", err, out)
	}
	if err := exec.Command("mountpoint", "-q", spool).Run(); err != nil {
		t.Fatalf("%s is not mounted after mount_spool", spool)
	}
	info, err := os.Stat(spool)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("spool dir mode %v (%v), want 0700", info.Mode(), err)
	}
	label, _ := exec.Command("blkid", "-p", "-s", "LABEL", "-o", "value", blank).Output()
	uuid, _ := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", blank).Output()
	wantLine := "UUID=" + strings.TrimSpace(string(uuid)) + " " + spool + " xfs defaults,nofail,noatime 0 2\n"
	if strings.TrimSpace(string(label)) != SpoolLabel || !strings.Contains(mustRead(t, fstab), wantLine) {
		t.Errorf("label %q, fstab:\n%s\nwant the line %q", label, mustRead(t, fstab), wantLine)
	}
	mustWrite(t, filepath.Join(spool, "kept"), "x")
	if out, err := exec.Command("umount", spool).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}

	out, err = mount(blank)
	if err != nil || strings.Contains(out, "formatting") {
		t.Fatalf("second mount_spool: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(spool, "kept")); err != nil {
		t.Errorf("the second run lost the file system's content: %v", err)
	}
	if n := strings.Count(mustRead(t, fstab), spool); n != 1 {
		t.Errorf("the fstab lists the spool %d times:\n%s", n, mustRead(t, fstab))
	}
	if out, err := exec.Command("umount", spool).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}

	other := loop("sdg", 16)
	if out, err := exec.Command("mkfs.ext4", "-q", "-L", "somebodys", other).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	before := mustRead(t, fstab)
	if out, err := mount(other); err == nil || !strings.Contains(out, "refusing it") || strings.Contains(out, "formatting") {
		t.Errorf("mount_spool accepted a volume holding ext4: %v\n%s", err, out)
	}
	if mustRead(t, fstab) != before {
		t.Errorf("refusing the ext4 volume changed the fstab:\n%s", mustRead(t, fstab))
	}
	if typ, _ := exec.Command("blkid", "-p", "-s", "TYPE", "-o", "value", other).Output(); strings.TrimSpace(string(typ)) != "ext4" {
		t.Errorf("the ext4 volume now holds %q", typ)
	}
}

func mustCreate(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGCScriptFindsTheLauncherFunctions: the gc script sources the rendered launcher for
// require_env, export_db_password, log and $venv; sourcing defines them (the launcher runs main
// only when executed), so a rename in the launcher fails here, not at 3 a.m. on the instance.
func TestGCScriptFindsTheLauncherFunctions(t *testing.T) {
	script := sourced(t, LauncherPath) + `declare -F require_env export_db_password log >/dev/null && [[ -n "${venv:-}" ]] && echo ok`
	stdout, stderr, err := run(t, time.Minute, []string{"PATH=/usr/bin:/bin"}, "", "/bin/bash", "-c", script)
	if err != nil || strings.TrimSpace(stdout) != "ok" {
		t.Errorf("the launcher, sourced, lacks what %s uses: %v\n%s%s", GCPath, err, stdout, stderr)
	}
	p := devLikeParams()
	d, files := renderDocument(t, "dev-like", p)
	gc := mustFile(t, d, files, GCPath)
	for _, want := range []string{`source "${MLFLOW_LAUNCHER:-` + LauncherPath + `}"`, "  require_env\n", "  export_db_password\n", `exec "$venv/bin/mlflow" gc `} {
		if !strings.Contains(gc, want) {
			t.Errorf("%s lacks %q", GCPath, want)
		}
	}
}
