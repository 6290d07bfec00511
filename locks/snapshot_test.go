package locks

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// populated returns a harness with holders, a shared run, waiters, a
// lock-delay and freed revisions.
func populated(t *testing.T) *harness {
	h := newHarness(t)
	h.hold(1, "a", Exclusive)
	h.wait(2, "a", Shared, time.Second)
	h.wait(3, "a", Exclusive, 0)
	h.hold(4, "s", Shared)
	h.hold(5, "s", Shared)
	h.acquire(6, "d", Exclusive, false, 10*time.Second)
	h.wait(7, "d", Exclusive, 0)
	h.end(6, LostExpired)
	tok := h.hold(8, "gone", Exclusive)
	h.release(8, "gone", tok)
	return h
}

func TestSnapshotRoundTripKeepsEverything(t *testing.T) {
	h := populated(t)
	snap := h.snapshot()
	tb, _ := New(DefaultConfig())
	if err := tb.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.tb.List(), tb.List()) {
		t.Fatalf("List differs:\n%+v\n%+v", h.tb.List(), tb.List())
	}
	for _, s := range []uint64{1, 2, 3, 4, 7} {
		if !reflect.DeepEqual(h.tb.SessionLocks(s), tb.SessionLocks(s)) {
			t.Fatalf("SessionLocks(%d) differs", s)
		}
	}
	if a, b := h.tb.Get("gone"), tb.Get("gone"); a.Revision == 0 || a.Revision != b.Revision {
		t.Fatalf("freed revision %d vs %d", a.Revision, b.Revision)
	}
	d1, ok1 := h.tb.NextDeadline()
	d2, ok2 := tb.NextDeadline()
	if !ok1 || d1 != d2 || ok1 != ok2 {
		t.Fatalf("NextDeadline %d %v vs %d %v", d1, ok1, d2, ok2)
	}
	again, _ := tb.Snapshot()
	if !bytes.Equal(snap, again) {
		t.Fatal("snapshot of the restored table differs")
	}
}

func TestSnapshotIsDeterministic(t *testing.T) {
	if !bytes.Equal(populated(t).snapshot(), populated(t).snapshot()) {
		t.Fatal("same commands gave different snapshot bytes")
	}
}

func TestRestoreRejectsCorruptSnapshotAndKeepsTable(t *testing.T) {
	enc := func(st snapTable) []byte {
		var b []byte
		if err := codec.NewEncoderBytes(&b, newHandle()).Encode(&st); err != nil {
			t.Fatal(err)
		}
		return b
	}
	ex := func(s, tok uint64) Holder { return Holder{Session: s, Mode: Exclusive, Token: tok} }
	sh := func(s, tok uint64) Holder { return Holder{Session: s, Mode: Shared, Token: tok} }
	v := uint8(snapshotVersion)
	good := populated(t).snapshot()
	cases := map[string][]byte{
		"garbage":        {0x93, 0xff},
		"truncated":      good[:len(good)-3],
		"version":        enc(snapTable{Version: 2}),
		"unsorted":       enc(snapTable{Version: v, Locks: []snapLock{{Name: "b", Holders: []Holder{ex(1, 1)}}, {Name: "a", Holders: []Holder{ex(2, 2)}}}}),
		"empty name":     enc(snapTable{Version: v, Locks: []snapLock{{Name: "", Holders: []Holder{ex(1, 1)}}}}),
		"idle lock":      enc(snapTable{Version: v, Locks: []snapLock{{Name: "a"}}}),
		"two exclusive":  enc(snapTable{Version: v, Locks: []snapLock{{Name: "a", Holders: []Holder{ex(1, 1), ex(2, 1)}}}}),
		"mixed modes":    enc(snapTable{Version: v, Locks: []snapLock{{Name: "a", Holders: []Holder{sh(1, 1), ex(2, 1)}}}}),
		"zero token":     enc(snapTable{Version: v, Locks: []snapLock{{Name: "a", Holders: []Holder{ex(1, 0)}}}}),
		"session twice":  enc(snapTable{Version: v, Locks: []snapLock{{Name: "a", Holders: []Holder{ex(1, 1)}, Waiters: []Waiter{{Session: 1, Mode: Shared}}}}}),
		"waiter twice":   enc(snapTable{Version: v, Locks: []snapLock{{Name: "a", Holders: []Holder{ex(1, 1)}, Waiters: []Waiter{{Session: 2, Mode: Shared}, {Session: 2, Mode: Exclusive}}}}}),
		"grantable head": enc(snapTable{Version: v, Locks: []snapLock{{Name: "a", Holders: []Holder{sh(1, 1)}, Waiters: []Waiter{{Session: 2, Mode: Shared}}}}}),
		"bad mode":       enc(snapTable{Version: v, Locks: []snapLock{{Name: "a", Holders: []Holder{{Session: 1, Mode: 9, Token: 1}}}}}),
		"bad freed":      enc(snapTable{Version: v, Freed: []snapFreed{{Name: "x"}}}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			h := populated(t)
			if err := h.tb.Restore(data); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("err = %v, want ErrCorruptSnapshot", err)
			}
			h.unchanged(good, "failed restore")
		})
	}
}
