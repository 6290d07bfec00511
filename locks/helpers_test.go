package locks

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// harness drives a table with growing entry indexes and a settable clock.
type harness struct {
	t     *testing.T
	tb    *Table
	index uint64
	now   int64
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	tb, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, tb: tb, now: 1_000}
}

func (h *harness) next() uint64 { h.index++; return h.index }

func (h *harness) acquire(s uint64, name string, m Mode, wait bool, delay time.Duration) (AcquireResult, Effects, error) {
	h.t.Helper()
	res, eff, err := h.tb.Acquire(h.next(), h.now, AcquireRequest{Session: s, Name: name, Mode: m, Wait: wait, LockDelay: delay,
		Value: fmt.Appendf(nil, "v%d", s)})
	h.checkInvariants()
	return res, eff, err
}

// hold acquires and fails the test unless it is granted; it returns the token.
func (h *harness) hold(s uint64, name string, m Mode) uint64 {
	h.t.Helper()
	res, _, err := h.acquire(s, name, m, false, 0)
	if err != nil || !res.Granted || res.Token != h.index {
		h.t.Fatalf("acquire %d %q: %+v %v, want granted with token %d", s, name, res, err, h.index)
	}
	return res.Token
}

// wait acquires and fails the test unless it is queued.
func (h *harness) wait(s uint64, name string, m Mode, delay time.Duration) {
	h.t.Helper()
	res, _, err := h.acquire(s, name, m, true, delay)
	if err != nil || res.Granted {
		h.t.Fatalf("acquire %d %q: %+v %v, want queued", s, name, res, err)
	}
}

func (h *harness) release(s uint64, name string, token uint64) (Effects, error) {
	h.t.Helper()
	eff, err := h.tb.Release(h.next(), h.now, s, name, token)
	h.checkInvariants()
	return eff, err
}

func (h *harness) end(s uint64, r LostReason) Effects {
	h.t.Helper()
	eff := h.tb.ReleaseSession(h.next(), h.now, s, r)
	h.checkInvariants()
	return eff
}

func (h *harness) tick() Effects {
	h.t.Helper()
	eff := h.tb.Tick(h.next(), h.now)
	h.checkInvariants()
	return eff
}

func (h *harness) snapshot() []byte {
	h.t.Helper()
	b, err := h.tb.Snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// holders returns the sessions holding name, in grant order.
func (h *harness) holders(name string) []uint64 {
	var out []uint64
	for _, hd := range h.tb.Get(name).Holders {
		out = append(out, hd.Session)
	}
	return out
}

func (h *harness) waiters(name string) []uint64 {
	var out []uint64
	for _, w := range h.tb.Get(name).Waiters {
		out = append(out, w.Session)
	}
	return out
}

// checkInvariants verifies every lock and the derived indexes.
func (h *harness) checkInvariants() {
	h.t.Helper()
	want := map[uint64]map[string]bool{}
	for name, l := range h.tb.locks {
		if err := l.check(); err != nil {
			h.t.Fatalf("after entry %d: %v", h.index, err)
		}
		if _, ok := h.tb.delayed[name]; ok != (l.delayUntil != 0) {
			h.t.Fatalf("lock %q delayed index out of sync", name)
		}
		for _, hd := range l.holders {
			if want[hd.Session] == nil {
				want[hd.Session] = map[string]bool{}
			}
			want[hd.Session][name] = true
		}
		for w := range l.waiters.all() {
			if want[w.Session] == nil {
				want[w.Session] = map[string]bool{}
			}
			want[w.Session][name] = true
		}
	}
	if len(want) != len(h.tb.bySession) {
		h.t.Fatalf("bySession has %d sessions, want %d", len(h.tb.bySession), len(want))
	}
	for s, names := range want {
		if len(names) != len(h.tb.bySession[s]) {
			h.t.Fatalf("bySession[%d] out of sync", s)
		}
		for n := range names {
			if _, ok := h.tb.bySession[s][n]; !ok {
				h.t.Fatalf("bySession[%d] lacks %q", s, n)
			}
		}
	}
	for name := range h.tb.delayed {
		if _, ok := h.tb.locks[name]; !ok {
			h.t.Fatalf("delayed names dropped lock %q", name)
		}
	}
}

func (h *harness) unchanged(before []byte, what string) {
	h.t.Helper()
	if !bytes.Equal(before, h.snapshot()) {
		h.t.Fatalf("%s changed the table", what)
	}
}
