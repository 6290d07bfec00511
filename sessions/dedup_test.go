package sessions

import (
	"bytes"
	"errors"
	"testing"
)

// step is one request on session 1 in a dedup script.
type step struct {
	seq, low uint64
	resp     string // response recorded if the request is new
	wantDup  string // kept response Begin must return ("" = new)
	wantErr  error
}

func TestDedupWindow(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
	}{
		{"new requests are recorded and retries answered", []step{
			{seq: 1, low: 1, resp: "r1"},
			{seq: 2, low: 1, resp: "r2"},
			{seq: 1, low: 1, wantDup: "r1"},
			{seq: 2, low: 1, wantDup: "r2"},
		}},
		{"out of order arrival above the mark is new", []step{
			{seq: 3, low: 1, resp: "r3"},
			{seq: 2, low: 1, resp: "r2"},
			{seq: 3, low: 1, wantDup: "r3"},
		}},
		{"advancing the mark forgets older responses", []step{
			{seq: 1, low: 1, resp: "r1"},
			{seq: 2, low: 1, resp: "r2"},
			{seq: 3, low: 2, resp: "r3"},
			{seq: 1, low: 2, wantErr: ErrResponseForgotten},
			{seq: 2, low: 2, wantDup: "r2"},
		}},
		{"a request below its own low mark is forgotten", []step{
			{seq: 4, low: 5, wantErr: ErrResponseForgotten},
		}},
		{"a lower mark than seen never moves it back", []step{
			{seq: 5, low: 5, resp: "r5"},
			{seq: 4, low: 1, wantErr: ErrResponseForgotten},
			{seq: 5, low: 1, wantDup: "r5"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := newTestTable(t)
			tb.Open(1, 0, "", 0, Owner{})
			for i, s := range c.steps {
				resp, dup, err := tb.Begin(1, s.seq, s.low, Digest{})
				switch {
				case s.wantErr != nil:
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
					}
				case s.wantDup != "":
					if err != nil || !dup || string(resp) != s.wantDup {
						t.Fatalf("step %d: got %q dup=%v err=%v, want kept %q", i, resp, dup, err, s.wantDup)
					}
				default:
					if err != nil || dup {
						t.Fatalf("step %d: got dup=%v err=%v, want new", i, dup, err)
					}
					tb.Record(1, s.seq, s.low, Digest{}, []byte(s.resp))
				}
			}
		})
	}
}

func TestBeginChangesNothing(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "", 0, Owner{})
	tb.Record(1, 1, 1, Digest{}, []byte("a"))
	tb.Record(1, 2, 1, Digest{}, []byte("b"))
	before := mustSnapshot(t, tb)
	for _, q := range [][2]uint64{{1, 1}, {2, 2}, {3, 3}, {0, 9}, {7, 7}} {
		tb.Begin(1, q[0], q[1], Digest{})
	}
	tb.Begin(99, 1, 1, Digest{})
	if !bytes.Equal(before, mustSnapshot(t, tb)) {
		t.Fatal("Begin changed the table")
	}
}

func TestWindowFullRefusesNewRequestsUntilAcknowledged(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxResponses = 3
	tb, _ := New(cfg)
	tb.Open(1, 0, "", 0, Owner{})
	for q := uint64(1); q <= 3; q++ {
		if _, _, err := tb.Begin(1, q, 1, Digest{}); err != nil {
			t.Fatal(err)
		}
		tb.Record(1, q, 1, Digest{}, []byte{byte(q)})
	}
	if _, _, err := tb.Begin(1, 4, 1, Digest{}); !errors.Is(err, ErrTooManyResponses) {
		t.Fatalf("fourth unacknowledged request: err = %v, want ErrTooManyResponses", err)
	}
	// Retries of kept requests are still answered when the window is full.
	if r, dup, err := tb.Begin(1, 2, 1, Digest{}); err != nil || !dup || r[0] != 2 {
		t.Fatalf("retry in full window: %v %v %v", r, dup, err)
	}
	// Acknowledging seq 1 (low = 2) makes room.
	if _, dup, err := tb.Begin(1, 4, 2, Digest{}); err != nil || dup {
		t.Fatalf("after ack: dup=%v err=%v, want new", dup, err)
	}
	tb.Record(1, 4, 2, Digest{}, []byte{4})
	if info, _ := tb.Get(1); info.Responses != 3 || info.Mark != 2 {
		t.Fatalf("after ack: %+v, want 3 responses from mark 2", info)
	}
}

func TestEndDropsResponses(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "", 0, Owner{})
	tb.Record(1, 1, 1, Digest{}, []byte("a"))
	tb.End(1, Closed)
	if _, _, err := tb.Begin(1, 1, 1, Digest{}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("retry on closed session: %v", err)
	}
}

func TestRecordPanicsOnMisuse(t *testing.T) {
	cases := []struct {
		name string
		do   func(*Table)
	}{
		{"unknown session", func(tb *Table) { tb.Record(9, 1, 1, Digest{}, nil) }},
		{"twice", func(tb *Table) { tb.Record(1, 1, 1, Digest{}, nil); tb.Record(1, 1, 1, Digest{}, nil) }},
		{"below mark", func(tb *Table) { tb.Record(1, 5, 5, Digest{}, nil); tb.Record(1, 4, 5, Digest{}, nil) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := newTestTable(t)
			tb.Open(1, 0, "", 0, Owner{})
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			c.do(tb)
		})
	}
}
