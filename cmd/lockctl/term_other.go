//go:build !linux

package main

import "os"

// isTerminal reports whether f is a character device, as terminals are
// (so is /dev/null, which this check cannot tell apart).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
