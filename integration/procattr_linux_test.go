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

// setProcGroup is setProcAttr for a peer that starts processes of its own
// (Chromium's renderers and helpers): they share a new process group, which
// killProcGroup ends.
func setProcGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// killProcGroup kills every process of cmd's group.
func killProcGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
