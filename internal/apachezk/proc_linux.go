package apachezk

import "syscall"

// sysProcAttr asks the kernel to kill the JVM if the test binary dies
// without running its clean-ups (a panic, a timeout), so that no server
// outlives the test that started it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
