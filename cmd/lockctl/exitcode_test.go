package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/lockd/lockd/client"
)

// TestExitCodeMapsEachSentinel checks the documented exit code of every
// outcome, also when the sentinel is wrapped.
func TestExitCodeMapsEachSentinel(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"generic", errors.New("boom"), 1},
		{"usage", usagef("missing NAME"), 2},
		{"invalid config", client.ErrInvalidConfig, 2},
		{"invalid name", client.ErrInvalidName, 2},
		{"lock held", client.ErrLockHeld, 3},
		{"wait ran out", errWaitExpired, 3},
		{"lock lost", errLockLost, 4},
		{"session expired", client.ErrSessionExpired, 4},
		{"fenced", client.ErrFenced, 4},
		{"session ended while waiting", fmt.Errorf("%w for lock %q: %w", errGaveUpWaiting, "x", client.ErrSessionExpired), 7},
		{"no quorum", client.ErrNoQuorum, 5},
		{"no endpoint", client.ErrNoEndpoint, 5},
		{"unavailable", client.ErrUnavailable, 5},
		{"no leader in status", errNoLeader, 5},
		{"deadline", context.DeadlineExceeded, 5},
		{"not found", errNotFound, 6},
		{"unknown session", client.ErrUnknownSession, 6},
		{"unknown member", client.ErrUnknownMember, 6},
		{"no election leader", client.ErrNoElectionLeader, 6},
		{"TLS files", client.ErrTLSFiles, 8},
		{"certificate refused", &client.TLSError{Addr: "a:1", Party: client.TLSServer}, 8},
		{"every endpoint refused on TLS", &client.UnreachableError{Endpoints: []client.EndpointError{
			{Addr: "a:1", Err: &client.TLSError{Addr: "a:1", Party: client.TLSClient}}}}, 8},
		{"permission denied", client.ErrPermissionDenied, 9},
		{"command code", &exitStatus{code: 7}, 7},
		{"signalled", &exitStatus{code: 143}, 143},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := exitCode(c.err); got != c.want {
				t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
			}
			if c.err == nil {
				return
			}
			wrapped := fmt.Errorf("outer: %w", c.err)
			if got := exitCode(wrapped); got != c.want {
				t.Errorf("exitCode(wrapped %v) = %d, want %d", c.err, got, c.want)
			}
		})
	}
}

// TestExitCodesAreDistinct: the documented outcomes never share a code.
func TestExitCodesAreDistinct(t *testing.T) {
	seen := map[int]string{}
	for name, code := range map[string]int{
		"ok": exitOK, "error": exitError, "usage": exitUsage, "held": exitLockHeld,
		"lost": exitLockLost, "no quorum": exitNoQuorum, "not found": exitNotFound, "gave up": exitGaveUp, "tls": exitTLS, "denied": exitDenied,
	} {
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s share exit code %d", name, other, code)
		}
		seen[code] = name
	}
}

// TestSignalExitIs128PlusSignal follows the shell convention.
func TestSignalExitIs128PlusSignal(t *testing.T) {
	for sig, want := range map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143, syscall.SIGHUP: 129} {
		if got := exitCode(signalExit(sig, "interrupted")); got != want {
			t.Errorf("signalExit(%v) exits %d, want %d", sig, got, want)
		}
	}
}
