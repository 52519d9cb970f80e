// Package testenv starts and finds the real tools the tests run against: free loopback ports,
// moto_server, and the command-line tools CI installs. It is imported by tests only. Every
// server listens on 127.0.0.1 and is stopped by the test's cleanup; a missing tool fails the
// test (never skips it), naming how to get it.
//
// Importing it puts the repository's .tools/venv/bin (the pinned Python tools .ci/install-deps
// installs: moto_server, aws, uv) first on the test process's PATH, so tests and the scripts
// they run find those tools whether they were started by make or by go test.
//
// Tests by cost: every test that needs a real tool (cloud-init, shellcheck, systemd-analyze,
// PostgreSQL, moto, the AWS CLI, ...) asks RequireTool or StartMoto for it, so `go test -short`
// (`make unit`) skips exactly those and runs the mocked-graph and pure tests in seconds; `go
// test` without -short (`make test`, CI) runs everything.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InstallHint is the one command that installs every tool the tests use.
const InstallHint = "run `make deps` (bash .ci/install-deps) as root on Debian 12"

func init() {
	if root, err := RepoRoot(); err == nil {
		bin := filepath.Join(root, ".tools", "venv", "bin")
		if _, err := os.Stat(bin); err == nil {
			os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		}
	}
}

// RepoRoot returns the directory holding go.mod, found from the working directory upwards (go
// test runs each package in its own directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// RequireTool returns the path of an external tool (a name on PATH or an absolute path), or
// fails the test saying how to install it.
func RequireTool(t testing.TB, name, install string) string {
	t.Helper()
	SkipInShortMode(t, name)
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err != nil {
			t.Fatalf("%s is missing: %s (%v)", name, install, err)
		}
		return name
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not on PATH: %s", name, install)
	}
	return p
}

// SkipInShortMode skips t under `go test -short`, the fast loop without real tools.
func SkipInShortMode(t testing.TB, tool string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s; runs without -short (make test)", tool)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitForPort waits until something accepts TCP connections on 127.0.0.1:port, with a bare
// connect (no request is sent). It fails the test after timeout, or as soon as exited yields
// (the server died); exited may be nil.
func WaitForPort(t testing.TB, port int, timeout time.Duration, what string, exited <-chan error) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case werr := <-exited:
			t.Fatalf("%s exited before listening on %s: %v", what, addr, werr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s within %s: %v", what, addr, timeout, err)
		}
	}
}

// MotoInstall is what to do when moto_server is missing.
const MotoInstall = "moto_server comes from .tools/venv: " + InstallHint

// LogBuffer collects a child process's output while it runs; safe for concurrent writes.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Tail returns the last n bytes written, prefixed with "..." when cut.
func (b *LogBuffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// StartMoto starts `moto_server -H 127.0.0.1 -p <free port>` with extra environment
// (e.g. "INITIAL_NO_AUTH_ACTION_COUNT=9"), waits until it listens (bare TCP, so no request
// counts against INITIAL_NO_AUTH_ACTION_COUNT) and stops its whole process group in
// t.Cleanup, logging its output when the test failed. It returns the endpoint URL,
// e.g. "http://127.0.0.1:43121".
func StartMoto(t testing.TB, env ...string) string {
	t.Helper()
	bin := RequireTool(t, "moto_server", MotoInstall)
	port := FreePort(t)
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("moto_server output (tail):\n%s", logs.Tail(4000))
		}
	})
	WaitForPort(t, port, 30*time.Second, "moto_server", exited)
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}
