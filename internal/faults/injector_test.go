package faults

import (
	"errors"
	"testing"
)

// recorder is a registered connection that records its cuts.
type recorder struct{ cuts []error }

func (r *recorder) cut(err error) { r.cuts = append(r.cuts, err) }

func TestBlockCutsTheConnectionsKnownByTheKeyOnly(t *testing.T) {
	f := New()
	var a, b recorder
	if _, err := f.Register(a.cut, "n1", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Register(b.cut, "n2", ""); err != nil {
		t.Fatal(err)
	}
	f.Block("127.0.0.1:1")
	if len(a.cuts) != 1 || !errors.Is(a.cuts[0], ErrBlocked) {
		t.Fatalf("a cut %v, want one ErrBlocked", a.cuts)
	}
	if len(b.cuts) != 0 {
		t.Fatalf("b cut %v, want none", b.cuts)
	}
	f.Block("") // an empty key names no connection
	if len(b.cuts) != 0 {
		t.Fatalf("b cut by the empty key: %v", b.cuts)
	}
}

func TestBlockedRefusesUntilUnblock(t *testing.T) {
	f := New()
	if err := f.Blocked("n1"); err != nil {
		t.Fatalf("fresh injector blocks: %v", err)
	}
	f.Block("n1")
	if err := f.Blocked("", "x", "n1"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Blocked = %v, want ErrBlocked", err)
	}
	var r recorder
	if _, err := f.Register(r.cut, "n1"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Register while blocked = %v, want ErrBlocked", err)
	}
	f.Block("n1")
	if len(r.cuts) != 0 {
		t.Fatal("a refused registration was cut later")
	}
	f.Unblock("n1")
	if err := f.Blocked("n1"); err != nil {
		t.Fatalf("after Unblock: %v", err)
	}
	if _, err := f.Register(r.cut, "n1"); err != nil {
		t.Fatalf("Register after Unblock: %v", err)
	}
}

func TestForgottenConnectionsAreNotCut(t *testing.T) {
	f := New()
	var r recorder
	forget, err := f.Register(r.cut, "n1")
	if err != nil {
		t.Fatal(err)
	}
	forget()
	f.Block("n1")
	if len(r.cuts) != 0 {
		t.Fatalf("forgotten connection cut: %v", r.cuts)
	}
}

// TestCutRunsWithoutTheLock: a cut may call back into the Injector (a
// closing connection forgets itself) without deadlocking.
func TestCutRunsWithoutTheLock(t *testing.T) {
	f := New()
	var forget func()
	forget, err := f.Register(func(error) { forget(); _ = f.Blocked("n1") }, "n1")
	if err != nil {
		t.Fatal(err)
	}
	f.Block("n1")
}

// TestACutConnectionIsCutOnce: Block forgets what it cuts, so a second
// Block of another of its keys does not cut it again.
func TestACutConnectionIsCutOnce(t *testing.T) {
	f := New()
	var r recorder
	if _, err := f.Register(r.cut, "n1", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	f.Block("n1")
	f.Block("127.0.0.1:1")
	if len(r.cuts) != 1 {
		t.Fatalf("cut %d times, want once", len(r.cuts))
	}
}
