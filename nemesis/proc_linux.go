package nemesis

import "syscall"

// childAttr makes the kernel SIGKILL a node when the test process dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
