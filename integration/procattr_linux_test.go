//go:build linux

package integration

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the broker if the test binary dies
// without running its cleanups (a panic or a -timeout).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
