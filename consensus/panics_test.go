package consensus

import (
	"fmt"
	"strings"
	"testing"
)

// mustPanic runs f and fails the test unless f panics with a message
// containing want.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	msg, ok := panicOf(f)
	if !ok {
		t.Fatalf("no panic; want one containing %q", want)
	}
	if !strings.Contains(msg, want) {
		t.Fatalf("panic %q; want one containing %q", msg, want)
	}
}

// panicOf runs f and returns what it panicked with, if it did.
func panicOf(f func()) (msg string, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			msg, panicked = fmt.Sprint(v), true
		}
	}()
	f()
	return "", false
}
