package main

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// fakeDaemon records how the lifecycle drives a node.
type fakeDaemon struct {
	removed     chan struct{}
	failStopped chan struct{} // nil: never
	live        func() error  // nil: always live
	shutdownErr error
	closeErr    error
	shutdowns   int
	closes      int
	deadline    bool
}

func (f *fakeDaemon) Shutdown(ctx context.Context) error {
	f.shutdowns++
	_, f.deadline = ctx.Deadline()
	return f.shutdownErr
}
func (f *fakeDaemon) Live() error {
	if f.live == nil {
		return nil
	}
	return f.live()
}
func (f *fakeDaemon) Close() error                 { f.closes++; return f.closeErr }
func (f *fakeDaemon) Removed() <-chan struct{}     { return f.removed }
func (f *fakeDaemon) FailStopped() <-chan struct{} { return f.failStopped }

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestSignalShutsDownGracefullyWithADeadline(t *testing.T) {
	d := &fakeDaemon{removed: make(chan struct{})}
	signalled := false
	err := awaitStop(cancelled(), func() { signalled = true }, d, time.Second, time.Hour, hclog.NewNullLogger())
	if err != nil || !signalled || d.shutdowns != 1 || !d.deadline || d.closes != 0 {
		t.Fatalf("err=%v signalled=%v shutdowns=%d deadline=%v closes=%d", err, signalled, d.shutdowns, d.deadline, d.closes)
	}
}

func TestFailedHandOffStillExitsCleanlyWhenTheNodeClosed(t *testing.T) {
	d := &fakeDaemon{removed: make(chan struct{}), shutdownErr: context.DeadlineExceeded}
	if err := awaitStop(cancelled(), func() {}, d, time.Second, time.Hour, hclog.NewNullLogger()); err != nil {
		t.Fatalf("awaitStop = %v, want nil: the node closed cleanly", err)
	}
	if d.closes != 1 {
		t.Fatalf("closes = %d, want 1", d.closes)
	}
}

func TestCloseFailureAfterShutdownIsAnError(t *testing.T) {
	walErr := errors.New("wal: sync failed")
	d := &fakeDaemon{removed: make(chan struct{}), shutdownErr: walErr, closeErr: walErr}
	if err := awaitStop(cancelled(), func() {}, d, time.Second, time.Hour, hclog.NewNullLogger()); !errors.Is(err, walErr) {
		t.Fatalf("awaitStop = %v, want %v", err, walErr)
	}
}

func TestRemovalClosesTheNodeWithoutShutdown(t *testing.T) {
	d := &fakeDaemon{removed: make(chan struct{})}
	close(d.removed)
	signalled := false
	err := awaitStop(context.Background(), func() { signalled = true }, d, time.Second, time.Hour, hclog.NewNullLogger())
	if err != nil || signalled || d.closes != 1 || d.shutdowns != 0 {
		t.Fatalf("err=%v signalled=%v closes=%d shutdowns=%d", err, signalled, d.closes, d.shutdowns)
	}
}

func TestReserveAddrsFallsBackToAFreePortWhenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	got, err := reserveAddrs([]string{taken.Addr().String(), freeAddr})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] == taken.Addr().String() {
		t.Fatalf("a taken address was returned: %v", got)
	}
	if got[1] != freeAddr {
		t.Fatalf("the free preferred address %s was not used: %v", freeAddr, got)
	}
	for _, a := range got {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("reserved address %s cannot be bound: %v", a, err)
		}
		ln.Close()
	}
}

func TestANodeThatDiesByItselfEndsTheProcessWithAnError(t *testing.T) {
	walErr := errors.New("wal: sync failed")
	checks := 0
	d := &fakeDaemon{removed: make(chan struct{}), live: func() error {
		if checks++; checks < 3 {
			return nil
		}
		return walErr
	}}
	err := awaitStop(context.Background(), func() {}, d, time.Second, time.Millisecond, hclog.NewNullLogger())
	if !errors.Is(err, walErr) || d.closes != 1 || checks != 3 {
		t.Fatalf("err=%v closes=%d checks=%d", err, d.closes, checks)
	}
}
