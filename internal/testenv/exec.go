package testenv

import (
	"os"
	"syscall"
)

// WriteExecutable writes data to path with mode 0755, like os.WriteFile, while holding
// syscall.ForkLock for writing, so no process that another goroutine forks meanwhile inherits
// the open file: such a child keeps it open for writing until it execs, and executing path then
// fails with ETXTBSY ("Text file busy"), a known race of Go programs that write a script and run it while
// other goroutines start processes.
func WriteExecutable(path string, data []byte) error {
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	return os.WriteFile(path, data, 0o755)
}
