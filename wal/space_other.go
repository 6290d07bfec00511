//go:build !linux

package wal

// checkSpace is not implemented outside Linux: nothing is reported.
func checkSpace(dir string, memTableSize int64) error { return nil }
