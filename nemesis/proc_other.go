//go:build !linux

package nemesis

import "syscall"

// childAttr: elsewhere nodes rely on the tests' Cleanup alone.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
