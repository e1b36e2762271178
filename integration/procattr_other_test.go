//go:build !linux

package integration

import "os/exec"

// setProcAttr does nothing where there is no parent-death signal.
func setProcAttr(*exec.Cmd) {}

// setProcGroup does nothing here; killProcGroup kills the process only.
func setProcGroup(*exec.Cmd) {}

func killProcGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
