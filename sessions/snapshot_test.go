package sessions

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// randomTable drives a table through a seeded mix of opens, requests and
// ends, and returns it.
func randomTable(t *testing.T, seed uint64, ops int) *Table {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxTombstones = 8
	cfg.MaxResponses = 16
	tb, _ := New(cfg)
	r := rand.New(rand.NewPCG(seed, 0))
	var open []ID
	seqs := map[ID]uint64{}
	for i := 1; i <= ops; i++ {
		idx := uint64(i)
		switch k := r.IntN(10); {
		case k < 2 || len(open) == 0:
			key := ""
			if r.IntN(2) == 0 {
				key = fmt.Sprintf("key-%d", r.IntN(20))
			}
			info, existing, err := tb.Open(idx, int64(i), key, time.Duration(r.IntN(20))*time.Second, Owner{})
			if err != nil {
				t.Fatal(err)
			}
			if !existing {
				open = append(open, info.ID)
			}
		case k < 3:
			j := r.IntN(len(open))
			tb.End(open[j], EndReason(1+r.IntN(2)))
			open = append(open[:j], open[j+1:]...)
		default:
			id := open[r.IntN(len(open))]
			seqs[id]++
			low := seqs[id] - uint64(r.IntN(int(min(seqs[id], 5))))
			if _, dup, err := tb.Begin(id, seqs[id], low, Digest{}); err == nil && !dup {
				tb.Record(id, seqs[id], low, Digest{}, []byte(fmt.Sprint(idx)))
			}
		}
	}
	return tb
}

func TestSnapshotRoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		tb := randomTable(t, seed, 300)
		snap := mustSnapshot(t, tb)
		restored, _ := New(tb.Config())
		if err := restored.Restore(snap); err != nil {
			t.Fatalf("seed %d: restore: %v", seed, err)
		}
		if again := mustSnapshot(t, restored); !bytes.Equal(snap, again) {
			t.Fatalf("seed %d: snapshot of restored table differs", seed)
		}
		if fmt.Sprint(tb.List()) != fmt.Sprint(restored.List()) {
			t.Fatalf("seed %d: List differs after restore", seed)
		}
		// Both tables answer the same to every request and end.
		for _, s := range tb.List() {
			for q := uint64(0); q < 20; q++ {
				r1, d1, e1 := tb.Begin(s.ID, q, 0, Digest{})
				r2, d2, e2 := restored.Begin(s.ID, q, 0, Digest{})
				if !bytes.Equal(r1, r2) || d1 != d2 || fmt.Sprint(e1) != fmt.Sprint(e2) {
					t.Fatalf("seed %d: session %d seq %d answers differ", seed, s.ID, q)
				}
			}
		}
		for id := ID(0); id < 300; id++ {
			if e1, e2 := tb.Check(id), restored.Check(id); fmt.Sprint(e1) != fmt.Sprint(e2) {
				t.Fatalf("seed %d: Check(%d) %v vs %v", seed, id, e1, e2)
			}
		}
		// The key map survives: reopening a live key returns the session.
		for _, s := range tb.List() {
			if s.Key == "" {
				continue
			}
			info, existing, _ := restored.Open(1000, 0, s.Key, 0, Owner{})
			if !existing || info.ID != s.ID {
				t.Fatalf("seed %d: key %q not restored", seed, s.Key)
			}
		}
	}
}

func TestSnapshotIsDeterministic(t *testing.T) {
	a := mustSnapshot(t, randomTable(t, 42, 500))
	b := mustSnapshot(t, randomTable(t, 42, 500))
	if !bytes.Equal(a, b) {
		t.Fatal("same operations gave different snapshot bytes")
	}
	c := mustSnapshot(t, randomTable(t, 43, 500))
	if bytes.Equal(a, c) {
		t.Fatal("different operations gave equal snapshots; the test proves nothing")
	}
}

func TestRestoreRejectsCorruptSnapshotAndKeepsTable(t *testing.T) {
	good := mustSnapshot(t, randomTable(t, 7, 100))
	enc := func(st snapTable) []byte {
		var b []byte
		if err := encodeForTest(&b, &st); err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := map[string][]byte{
		"garbage":   {0xc1, 0x00, 0x17},
		"truncated": good[:len(good)/2],
		"version":   enc(snapTable{Version: 9}),
		"id above last": enc(snapTable{Version: snapshotVersion, LastID: 1,
			Sessions: []snapSession{{ID: 2, TTL: 1}}}),
		"unsorted sessions": enc(snapTable{Version: snapshotVersion, LastID: 5,
			Sessions: []snapSession{{ID: 3, TTL: 1}, {ID: 2, TTL: 1}}}),
		"zero ttl": enc(snapTable{Version: snapshotVersion, LastID: 5,
			Sessions: []snapSession{{ID: 3}}}),
		"response below mark": enc(snapTable{Version: snapshotVersion, LastID: 5,
			Sessions: []snapSession{{ID: 3, TTL: 1, Mark: 4, Responses: []snapResponse{{Seq: 2}}}}}),
		"duplicate key": enc(snapTable{Version: snapshotVersion, LastID: 5,
			Sessions: []snapSession{{ID: 2, TTL: 1, Key: "k"}, {ID: 3, TTL: 1, Key: "k"}}}),
		"tombstone of open session": enc(snapTable{Version: snapshotVersion, LastID: 5,
			Sessions: []snapSession{{ID: 2, TTL: 1}}, Ended: []snapTombstone{{ID: 2, Reason: 1}}}),
		"bad reason": enc(snapTable{Version: snapshotVersion, LastID: 5,
			Ended: []snapTombstone{{ID: 2, Reason: 7}}}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			tb := randomTable(t, 7, 100)
			if err := tb.Restore(data); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("err = %v, want ErrCorruptSnapshot", err)
			}
			if !bytes.Equal(good, mustSnapshot(t, tb)) {
				t.Fatal("failed restore changed the table")
			}
		})
	}
}

func encodeForTest(out *[]byte, v any) error {
	return newEncoder(out).Encode(v)
}
