package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/lockd/lockd/locks"
)

// randomCommand returns a random, mostly plausible command for the FSM in
// h's state. Sequence numbers come from h.seq; sometimes a request is
// replayed to exercise dedup.
func randomCommand(r *rand.Rand, h *fsmHarness, replay *[][]byte) []byte {
	h.now += int64(r.IntN(4)) * int64(400*time.Millisecond)
	open := h.f.Sessions()
	if len(open) == 0 || r.IntN(12) == 0 {
		return h.encode(Command{Type: CmdOpenSession}, OpenSessionBody{Key: fmt.Sprint("k", r.IntN(8)), TTL: int64(r.IntN(20)) * int64(time.Second)})
	}
	s := uint64(open[r.IntN(len(open))].ID)
	name := fmt.Sprint("l", r.IntN(4))
	var data []byte
	switch k := r.IntN(20); {
	case k < 7:
		data = h.encode(h.writeCmd(s, CmdAcquire), AcquireBody{Name: name, Mode: locks.Mode(1 + r.IntN(2)), Wait: r.IntN(3) > 0,
			LockDelay: int64(r.IntN(3)) * int64(time.Second), Value: []byte(name)})
	case k < 11:
		tok := uint64(r.IntN(100))
		for _, l := range h.f.SessionLocks(s) {
			for _, hd := range l.Holders {
				if hd.Session == s && r.IntN(4) > 0 {
					name, tok = l.Name, hd.Token
				}
			}
		}
		data = h.encode(h.writeCmd(s, CmdRelease), ReleaseBody{Name: name, Token: tok})
	case k < 12:
		data = h.encode(h.writeCmd(s, CmdCancelWait), CancelWaitBody{Name: name})
	case k < 13:
		data = h.encode(h.writeCmd(s, CmdProclaim), ProclaimBody{Name: name, Token: uint64(r.IntN(100)), Value: []byte("p")})
	case k < 14:
		data = h.encode(Command{Type: CmdExpireSession, Session: s}, nil)
	case k < 15:
		data = h.encode(Command{Type: CmdCloseSession, Session: s}, nil)
	case k < 17:
		data = h.encode(Command{Type: CmdTick}, nil)
	default:
		if len(*replay) > 0 {
			return (*replay)[r.IntN(len(*replay))]
		}
		data = h.encode(Command{Type: CmdNoop}, nil)
	}
	*replay = append(*replay, data)
	return data
}

// TestRestoredFSMBehavesIdentically: a follower that installs a snapshot at
// any point gives the same results and events for every later entry, and
// ends with the same bytes.
func TestRestoredFSMBehavesIdentically(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		h := newFSMHarness(t)
		var replay [][]byte
		var other *Machine
		cut := 50 + r.IntN(200)
		for step := 0; step < 300; step++ {
			data := randomCommand(r, h, &replay)
			res, evs := h.raw(data)
			if other != nil {
				ores, oevs := other.Apply(h.index, data)
				if !reflect.DeepEqual(res, ores) || !reflect.DeepEqual(evs, oevs) {
					t.Fatalf("seed %d step %d: restored FSM diverged:\n%+v %+v\n%+v %+v", seed, step, res, evs, ores, oevs)
				}
			}
			if step == cut {
				other, _ = New(h.f.cfg)
				if err := other.Restore(h.snapshot()); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
			}
		}
		a, _ := other.Snapshot()
		if !bytes.Equal(a, h.snapshot()) {
			t.Fatalf("seed %d: final snapshots differ", seed)
		}
	}
}

func TestSnapshotIsDeterministic(t *testing.T) {
	run := func(seed uint64) []byte {
		r := rand.New(rand.NewPCG(seed, 7))
		h := newFSMHarness(t)
		var replay [][]byte
		for range 300 {
			h.raw(randomCommand(r, h, &replay))
		}
		if len(h.f.Locks()) == 0 || len(h.f.Sessions()) == 0 {
			t.Fatalf("seed %d: empty state proves nothing", seed)
		}
		return h.snapshot()
	}
	a, b := run(5), run(5)
	if !bytes.Equal(a, b) {
		t.Fatal("same entries, different snapshot bytes")
	}
	f, _ := New(DefaultConfig())
	if err := f.Restore(a); err != nil {
		t.Fatal(err)
	}
	if again, _ := f.Snapshot(); !bytes.Equal(a, again) {
		t.Fatal("snapshot of the restored FSM differs")
	}
	if f.AppliedIndex() != 300 {
		t.Fatalf("restored applied index %d", f.AppliedIndex())
	}
}

func TestRestoreOfEmptyDataResets(t *testing.T) {
	h := newFSMHarness(t)
	s := h.open("", 0)
	h.hold(s, "a", locks.Exclusive)
	if err := h.f.Restore(nil); err != nil {
		t.Fatal(err)
	}
	empty, _ := New(DefaultConfig())
	a, _ := empty.Snapshot()
	if !bytes.Equal(a, h.snapshot()) || h.f.AppliedIndex() != 0 {
		t.Fatal("Restore(nil) did not give the initial state")
	}
}

func TestRestoreAndCheckSnapshotRejectCorruptSnapshotAndKeepState(t *testing.T) {
	h := newFSMHarness(t)
	s := h.open("", 0)
	h.hold(s, "a", locks.Exclusive)
	good := h.snapshot()
	var st fsmSnapshot
	if err := codec.NewDecoderBytes(good, newCommandHandle()).Decode(&st); err != nil {
		t.Fatal(err)
	}
	enc := func(st fsmSnapshot) []byte {
		var b []byte
		if err := codec.NewEncoderBytes(&b, newCommandHandle()).Encode(&st); err != nil {
			t.Fatal(err)
		}
		return b
	}
	empty, _ := New(DefaultConfig())
	emptySnap, _ := empty.Snapshot()
	var est fsmSnapshot
	codec.NewDecoderBytes(emptySnap, newCommandHandle()).Decode(&est)

	bad := map[string][]byte{
		"garbage":             {0xde, 0xad},
		"version":             enc(fsmSnapshot{Version: 9}),
		"bad sessions":        enc(fsmSnapshot{Version: fsmSnapshotVersion, Sessions: []byte{1}, Locks: st.Locks}),
		"bad locks":           enc(fsmSnapshot{Version: fsmSnapshotVersion, Sessions: st.Sessions, Locks: []byte{1}}),
		"holder unknown":      enc(fsmSnapshot{Version: fsmSnapshotVersion, Index: st.Index, Sessions: est.Sessions, Locks: st.Locks}),
		"session after index": enc(fsmSnapshot{Version: fsmSnapshotVersion, Index: 0, Sessions: st.Sessions, Locks: st.Locks}),
	}
	if err := h.f.CheckSnapshot(good); err != nil {
		t.Fatalf("CheckSnapshot of a good snapshot: %v", err)
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			// CheckSnapshot refuses what Restore refuses, touching nothing.
			if err := h.f.CheckSnapshot(data); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("CheckSnapshot: err = %v, want ErrCorruptSnapshot", err)
			}
			if !bytes.Equal(good, h.snapshot()) {
				t.Fatal("CheckSnapshot changed the FSM")
			}
			if err := h.f.Restore(data); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("err = %v, want ErrCorruptSnapshot", err)
			}
			if !bytes.Equal(good, h.snapshot()) {
				t.Fatal("failed restore changed the FSM")
			}
		})
	}
}

// TestApplyOfCorruptedEntriesNeverPanics flips bytes of valid entries; an
// entry that is refused must change nothing.
func TestApplyOfCorruptedEntriesNeverPanics(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	h := newFSMHarness(t)
	var replay [][]byte
	for step := range 2000 {
		data := bytes.Clone(randomCommand(r, h, &replay))
		for range 1 + r.IntN(3) {
			data[r.IntN(len(data))] = byte(r.IntN(256))
		}
		if r.IntN(4) == 0 {
			data = data[:r.IntN(len(data))]
		}
		before := h.state()
		res, evs := h.raw(data)
		if res.Err != nil && (len(evs) != 0 || !bytes.Equal(before, h.state())) {
			t.Fatalf("step %d: refused entry (%v) changed state or pushed events", step, res.Err)
		}
	}
}

func FuzzApply(f *testing.F) {
	c := NewCodec()
	for _, seed := range []struct {
		cmd  Command
		body any
	}{
		{Command{Type: CmdOpenSession}, OpenSessionBody{Key: "k"}},
		{Command{Type: CmdAcquire, Session: 1, Seq: 1}, AcquireBody{Name: "a", Mode: locks.Shared}},
		{Command{Type: CmdExpireSession, Session: 1}, nil},
	} {
		b, err := c.Encode(seed.cmd, seed.body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x85})
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm, _ := New(DefaultConfig())
		c := NewCodec()
		open, _ := c.Encode(Command{Type: CmdOpenSession}, OpenSessionBody{})
		fsm.Apply(1, open)
		before := stateOf(t, fsm)
		res, evs := fsm.Apply(2, data)
		if res.Err != nil && (len(evs) != 0 || !bytes.Equal(before, stateOf(t, fsm))) {
			t.Fatalf("refused entry changed state: %v", res.Err)
		}
	})
}
