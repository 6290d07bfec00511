package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/server"
)

// A node that fail-stopped on its disk is not closed (its log may never
// answer again, and Close would wait on it): awaitStop returns the reason
// at once, which main turns into the fail-stop exit code.
func TestFailStopExitsWithoutClosingTheNode(t *testing.T) {
	reason := fmt.Errorf("%w: %w: write 9 pending for 10s", server.ErrFailStop, server.ErrWALStalled)
	d := &fakeDaemon{removed: make(chan struct{}), failStopped: make(chan struct{}), live: func() error { return reason }}
	close(d.failStopped)
	err := awaitStop(context.Background(), func() {}, d, time.Second, time.Hour, hclog.NewNullLogger())
	if !errors.Is(err, server.ErrFailStop) || !errors.Is(err, server.ErrWALStalled) || d.closes != 0 || d.shutdowns != 0 {
		t.Fatalf("awaitStop = %v, closes=%d shutdowns=%d; want the reason and no close", err, d.closes, d.shutdowns)
	}
	if got := exitCodeOf(err); got != exitFailStop {
		t.Fatalf("exit code for %v = %d, want %d", err, got, exitFailStop)
	}
}

// A stall below the bound (ErrWALStalled alone) only warns: the node
// decides when to fail-stop, and the polled Live that then reports
// ErrFailStop ends the wait without a close. Any other Live failure still
// closes the node and exits 1 (negative control).
func TestStallBelowTheBoundOnlyWarnsThenFailStopExits(t *testing.T) {
	calls := 0
	d := &fakeDaemon{removed: make(chan struct{}), live: func() error {
		calls++
		if calls < 4 {
			return fmt.Errorf("%w: write 3 pending for 6s", server.ErrWALStalled)
		}
		return fmt.Errorf("%w: %w", server.ErrFailStop, server.ErrWALStalled)
	}}
	err := awaitStop(context.Background(), func() {}, d, time.Second, time.Millisecond, hclog.NewNullLogger())
	if !errors.Is(err, server.ErrFailStop) || calls != 4 || d.closes != 0 {
		t.Fatalf("awaitStop = %v after %d polls, closes=%d", err, calls, d.closes)
	}

	other := errors.New("raftnode: restore snapshot: bad")
	d = &fakeDaemon{removed: make(chan struct{}), live: func() error { return other }}
	err = awaitStop(context.Background(), func() {}, d, time.Second, time.Millisecond, hclog.NewNullLogger())
	if !errors.Is(err, other) || errors.Is(err, server.ErrFailStop) || d.closes != 1 || exitCodeOf(err) != exitFailure {
		t.Fatalf("awaitStop on another failure = %v, closes=%d, exit %d", err, d.closes, exitCodeOf(err))
	}
}
