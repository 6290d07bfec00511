package consensus

import (
	"errors"
	"slices"
	"testing"
)

// Reference: Raft paper Figure 2, AppendEntries receiver rule 3 ("delete the
// existing entry and all that follow it").
func TestMemoryStorageAppendTruncatesConflictingSuffix(t *testing.T) {
	for _, tc := range []struct {
		name    string
		app     []Entry
		want    []uint64 // terms of indexes 2..
		wantErr error
	}{
		{"extend", mkEnts(5, 2), []uint64{1, 1, 1, 2}, nil},
		{"overwrite tail", mkEnts(4, 2, 2), []uint64{1, 1, 2, 2}, nil},
		{"overwrite all", mkEnts(2, 3), []uint64{3}, nil},
		{"compacted part ignored", mkEnts(1, 9, 1, 1, 1), []uint64{1, 1, 1}, nil},
		{"gap", mkEnts(6, 2), []uint64{1, 1, 1}, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := bootstrapStorage(t, []NodeID{"n1"})
			if err := st.Append(mkEnts(2, 1, 1, 1)); err != nil {
				t.Fatal(err)
			}
			if err := st.Append(tc.app); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Append: %v, want %v", err, tc.wantErr)
			}
			last, _ := st.LastIndex()
			ents, err := st.Entries(2, last+1, noLimit)
			if err != nil {
				t.Fatal(err)
			}
			if got := terms(ents); !slices.Equal(got, tc.want) {
				t.Fatalf("terms %v, want %v", got, tc.want)
			}
		})
	}
}

// Reference: Raft paper §7 (log compaction: the snapshot replaces the prefix
// and keeps the last included index and term).
func TestMemoryStorageSnapshotAndCompact(t *testing.T) {
	st := bootstrapStorage(t, []NodeID{"n1"})
	if err := st.Append(mkEnts(2, 1, 2, 2, 3)); err != nil { // 2..5
		t.Fatal(err)
	}
	cs := ConfState{Voters: []NodeID{"n1", "n2"}}
	snap, err := st.CreateSnapshot(4, &cs, []byte("app"))
	if err != nil || snap.Meta.Index != 4 || snap.Meta.Term != 2 || string(snap.Data) != "app" {
		t.Fatalf("CreateSnapshot: %+v, %v", snap, err)
	}
	if _, err := st.CreateSnapshot(3, nil, nil); !errors.Is(err, ErrSnapshotOutOfDate) {
		t.Fatalf("older snapshot: %v", err)
	}
	if err := st.Compact(5); !errors.Is(err, ErrCompactPastSnapshot) {
		t.Fatalf("compact past the snapshot: %v", err)
	}
	if err := st.Compact(4); err != nil {
		t.Fatal(err)
	}
	if fi, _ := st.FirstIndex(); fi != 5 {
		t.Fatalf("first index %d after Compact(4)", fi)
	}
	if tm, err := st.Term(4); err != nil || tm != 2 {
		t.Fatalf("Term(4) at the compaction point: %d, %v", tm, err)
	}
	if _, err := st.Term(3); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Term(3): %v", err)
	}
	if _, err := st.Entries(4, 6, noLimit); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Entries below first: %v", err)
	}
	if _, err := st.Entries(5, 7, noLimit); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Entries past last: %v", err)
	}
	if err := st.Compact(4); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact twice: %v", err)
	}
	if err := st.ApplySnapshot(Snapshot{Meta: SnapshotMeta{Index: 2, Term: 1}}); !errors.Is(err, ErrSnapshotOutOfDate) {
		t.Fatalf("apply older snapshot: %v", err)
	}
	clone := st.Clone()
	if err := st.Append(mkEnts(6, 4)); err != nil {
		t.Fatal(err)
	}
	if li, _ := clone.LastIndex(); li != 5 {
		t.Fatalf("clone changed with the original: last %d", li)
	}
}

// Reference: Raft thesis §10.2.1 (batching entries within a size bound).
func TestMemoryStorageEntriesSizeLimit(t *testing.T) {
	st := NewMemoryStorage()
	ents := []Entry{{Index: 1, Term: 1, Data: make([]byte, 10)}, {Index: 2, Term: 1, Data: make([]byte, 10)}, {Index: 3, Term: 1}}
	if err := st.Append(ents); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max  uint64
		want int
	}{{0, 1}, {entrySize(ents[0]), 1}, {entrySize(ents[0]) + entrySize(ents[1]), 2}, {noLimit, 3}} {
		got, err := st.Entries(1, 4, tc.max)
		if err != nil || len(got) != tc.want {
			t.Errorf("Entries(max %d) = %d entries, %v; want %d", tc.max, len(got), err, tc.want)
		}
	}
}
