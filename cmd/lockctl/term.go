package main

import (
	"os"

	"github.com/mattn/go-isatty"
)

// isTerminal reports whether f is a terminal: it answers the terminal
// attributes request (a character device like /dev/null does not).
func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd())
}
