package fsm

import (
	"reflect"
	"testing"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// roundTrip moves the harness's state to a fresh FSM through Snapshot and
// Restore, as a new leader or a follower installing a snapshot would.
func (h *fsmHarness) roundTrip() {
	h.t.Helper()
	snap := h.snapshot()
	f, err := New(h.f.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := f.Restore(snap); err != nil {
		h.t.Fatal(err)
	}
	h.f = f
}

// TestRetriedWriteReturnsOriginalResponseAndAppliesNothing covers each
// deduplicated command, retried as the identical entry, on the same FSM and
// on one restored from a snapshot (a leader change or snapshot install).
func TestRetriedWriteReturnsOriginalResponseAndAppliesNothing(t *testing.T) {
	type setup struct {
		h      *fsmHarness
		s1, s2 uint64
		tok    uint64
	}
	cases := []struct {
		name string
		// retried returns the command applied once and then retried.
		retried func(x *setup) []byte
		check   func(t *testing.T, x *setup, first Result)
	}{
		{"granted acquire", func(x *setup) []byte {
			return x.h.encode(x.h.writeCmd(x.s2, CmdAcquire), AcquireBody{Name: "b", Mode: locks.Exclusive})
		}, func(t *testing.T, x *setup, first Result) {
			if !first.Granted || len(x.h.f.Lock("b").Holders) != 1 {
				t.Fatalf("first %+v lock %+v", first, x.h.f.Lock("b"))
			}
		}},
		{"queued acquire", func(x *setup) []byte {
			return x.h.encode(x.h.writeCmd(x.s2, CmdAcquire), AcquireBody{Name: "a", Mode: locks.Exclusive, Wait: true})
		}, func(t *testing.T, x *setup, first Result) {
			if !first.Queued || first.Position != 1 || len(x.h.f.Lock("a").Waiters) != 1 {
				t.Fatalf("first %+v, waiters %+v: queued once", first, x.h.f.Lock("a").Waiters)
			}
		}},
		{"release", func(x *setup) []byte {
			return x.h.encode(x.h.writeCmd(x.s1, CmdRelease), ReleaseBody{Name: "a", Token: x.tok})
		}, func(t *testing.T, x *setup, first Result) {
			if len(x.h.f.Lock("a").Holders) != 0 {
				t.Fatal("release not applied")
			}
		}},
		{"proclaim", func(x *setup) []byte {
			return x.h.encode(x.h.writeCmd(x.s1, CmdProclaim), ProclaimBody{Name: "a", Token: x.tok, Value: []byte("new")})
		}, func(t *testing.T, x *setup, first Result) {
			if string(x.h.f.Lock("a").Holders[0].Value) != "new" {
				t.Fatal("proclaim not applied")
			}
		}},
	}
	for _, c := range cases {
		for _, restore := range []bool{false, true} {
			name := c.name
			if restore {
				name += " after snapshot restore"
			}
			t.Run(name, func(t *testing.T) {
				h := newFSMHarness(t)
				x := &setup{h: h, s1: h.open("", 0), s2: h.open("", 0)}
				x.tok = h.hold(x.s1, "a", locks.Exclusive)
				data := c.retried(x)
				first, firstEvs := h.raw(data)
				h.mustOK(first)
				c.check(t, x, first)
				if restore {
					h.roundTrip()
				}
				before := h.state()
				again, evs := h.raw(data)
				if !again.Duplicate || len(evs) != 0 {
					t.Fatalf("retry = %+v %v, want a duplicate without events (first had %v)", again, evs, firstEvs)
				}
				again.Duplicate = false
				if !reflect.DeepEqual(again, first) {
					t.Fatalf("retry answered %+v, first answer %+v", again, first)
				}
				h.unchanged(before, "retry")
			})
		}
	}
}

// TestRetriedReleaseCannotFreeNextHolder: the lock passed on after the
// release; its retry returns the old answer and leaves the new holder.
func TestRetriedReleaseCannotFreeNextHolder(t *testing.T) {
	h := newFSMHarness(t)
	s1, s2 := h.open("", 0), h.open("", 0)
	tok := h.hold(s1, "a", locks.Exclusive)
	h.acquire(s2, "a", locks.Exclusive, true, 0)
	rel := h.encode(h.writeCmd(s1, CmdRelease), ReleaseBody{Name: "a", Token: tok})
	first, _ := h.raw(rel)
	h.mustOK(first)
	h.roundTrip()
	again, evs := h.raw(rel)
	if again.Err != nil || !again.Duplicate || len(evs) != 0 {
		t.Fatalf("retry = %+v %v", again, evs)
	}
	if in := h.f.Lock("a"); len(in.Holders) != 1 || in.Holders[0].Session != s2 {
		t.Fatalf("holders %+v, want s2", in.Holders)
	}
}

func TestAcknowledgedResponseIsForgotten(t *testing.T) {
	h := newFSMHarness(t)
	s := h.open("", 0)
	first := h.encode(Command{Type: CmdAcquire, Session: s, Seq: 1, LowestUnanswered: 1}, AcquireBody{Name: "a", Mode: locks.Shared})
	h.mustOK(func() Result { r, _ := h.raw(first); return r }())
	h.mustOK(func() Result {
		r, _ := h.cmd(Command{Type: CmdAcquire, Session: s, Seq: 2, LowestUnanswered: 2}, AcquireBody{Name: "b", Mode: locks.Shared})
		return r
	}())
	if info, _ := h.f.Session(s); info.Responses != 1 || info.Mark != 2 {
		t.Fatalf("session %+v, want one response from mark 2", info)
	}
	res, _ := h.raw(first)
	wantErr(t, res, sessions.ErrResponseForgotten)
}

// TestRefusedWriteIsNotRecorded: a refused command changed nothing and is
// not remembered, so its retry is applied afresh.
func TestRefusedWriteIsNotRecorded(t *testing.T) {
	h := newFSMHarness(t)
	s1, s2 := h.open("", 0), h.open("", 0)
	tok := h.hold(s1, "a", locks.Exclusive)
	try := h.encode(h.writeCmd(s2, CmdAcquire), AcquireBody{Name: "a", Mode: locks.Exclusive})
	res, _ := h.raw(try)
	wantErr(t, res, locks.ErrLockHeld)
	h.release(s1, "a", tok)
	res, _ = h.raw(try)
	if !res.Granted || res.Duplicate {
		t.Fatalf("retry after the lock was freed = %+v, want granted afresh", res)
	}
}

func TestFullDedupWindowRefusesNewWrites(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sessions.MaxResponses = 2
	h := newFSMHarnessConfig(t, cfg)
	s := h.open("", 0)
	for seq, name := range []string{"a", "b"} {
		res, _ := h.cmd(Command{Type: CmdAcquire, Session: s, Seq: uint64(seq + 1), LowestUnanswered: 1},
			AcquireBody{Name: name, Mode: locks.Shared})
		h.mustOK(res)
	}
	before := h.state()
	res, _ := h.cmd(Command{Type: CmdAcquire, Session: s, Seq: 3, LowestUnanswered: 1}, AcquireBody{Name: "c", Mode: locks.Shared})
	wantErr(t, res, sessions.ErrTooManyResponses)
	h.unchanged(before, "refused write in a full window")
	res, _ = h.cmd(Command{Type: CmdAcquire, Session: s, Seq: 3, LowestUnanswered: 2}, AcquireBody{Name: "c", Mode: locks.Shared})
	h.mustOK(res)
}
