package main

import (
	"os"
	"testing"
)

// TestDevNullIsNotATerminal: /dev/null is a character device but not a
// terminal, so `lock` gives CMD a process group of its own under it.
func TestDevNullIsNotATerminal(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("/dev/null reported as a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(r) {
		t.Error("a pipe reported as a terminal")
	}
}
