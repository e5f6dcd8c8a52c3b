package main

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel kill the child if the benchmark dies without cleaning
// up (e.g. SIGKILL), so no redis-server is left behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
