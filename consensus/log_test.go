package consensus

import (
	"errors"
	"slices"
	"testing"
)

// newTestLog returns a log over storage holding the bootstrap snapshot and
// ents (which must start at 2).
func newTestLog(t *testing.T, ents []Entry) *raftLog {
	t.Helper()
	st := bootstrapStorage(t, []NodeID{"n1"})
	if err := st.Append(ents); err != nil {
		t.Fatal(err)
	}
	l, err := newLog(st)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func terms(ents []Entry) []uint64 {
	out := make([]uint64, len(ents))
	for i, e := range ents {
		out[i] = e.Term
	}
	return out
}

func mkEnts(firstIndex uint64, termsList ...uint64) []Entry {
	out := make([]Entry, len(termsList))
	for i, t := range termsList {
		out[i] = Entry{Index: firstIndex + uint64(i), Term: t}
	}
	return out
}

// Reference: Raft paper §5.3, AppendEntries receiver rules 2-4.
func TestLogMaybeAppend(t *testing.T) {
	base := mkEnts(2, 1, 2, 3) // indexes 2,3,4
	for _, tc := range []struct {
		name             string
		index, logTerm   uint64
		commit           uint64
		ents             []Entry
		wantOK           bool
		wantLast         uint64
		wantTerms        []uint64
		wantCommit       uint64
		wantUnstableFrom uint64
	}{
		{"prev mismatch", 4, 2, 4, nil, false, 0, []uint64{1, 2, 3}, 1, 5},
		{"prev past end", 5, 3, 4, nil, false, 0, []uint64{1, 2, 3}, 1, 5},
		{"heartbeat-like match", 4, 3, 3, nil, true, 4, []uint64{1, 2, 3}, 3, 5},
		{"commit capped at last new", 3, 2, 9, nil, true, 3, []uint64{1, 2, 3}, 3, 5},
		{"append new", 4, 3, 4, mkEnts(5, 4), true, 5, []uint64{1, 2, 3, 4}, 4, 5},
		{"duplicate is no-op", 2, 1, 1, mkEnts(3, 2, 3), true, 4, []uint64{1, 2, 3}, 1, 5},
		{"conflict truncates", 2, 1, 1, mkEnts(3, 4), true, 3, []uint64{1, 4}, 1, 3},
		{"conflict after match", 2, 1, 1, mkEnts(3, 2, 4, 4), true, 5, []uint64{1, 2, 4, 4}, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLog(t, base)
			last, ok := l.maybeAppend(tc.index, tc.logTerm, tc.commit, tc.ents)
			if ok != tc.wantOK || last != tc.wantLast {
				t.Fatalf("maybeAppend = %d, %v; want %d, %v", last, ok, tc.wantLast, tc.wantOK)
			}
			all, err := l.slice(2, l.lastIndex()+1, noLimit)
			if err != nil {
				t.Fatal(err)
			}
			if got := terms(all); !slices.Equal(got, tc.wantTerms) {
				t.Fatalf("terms %v, want %v", got, tc.wantTerms)
			}
			if l.committed != tc.wantCommit {
				t.Fatalf("commit %d, want %d", l.committed, tc.wantCommit)
			}
			if l.unstable.offset != tc.wantUnstableFrom {
				t.Fatalf("unstable offset %d, want %d", l.unstable.offset, tc.wantUnstableFrom)
			}
		})
	}
}

// Reference: Raft paper §5.3 (Log Matching): an entry that conflicts with a
// committed one means the leader is broken, and the core refuses loudly;
// only the negative-control mode lets it through.
func TestLogConflictWithCommittedEntry(t *testing.T) {
	l := newTestLog(t, mkEnts(2, 1, 1))
	l.commitTo(3)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("overwriting a committed entry did not panic")
			}
		}()
		l.maybeAppend(1, 1, 3, mkEnts(2, 2))
	}()
	l = newTestLog(t, mkEnts(2, 1, 1))
	l.unsafeOverwrite = true
	l.commitTo(3)
	l.applying, l.applied = 3, 3
	if _, ok := l.maybeAppend(1, 1, 1, mkEnts(2, 2)); !ok {
		t.Fatal("append refused")
	}
	if l.committed != 1 || l.applied != 1 || l.mustTerm(2) != 2 {
		t.Fatalf("unsafe overwrite: commit %d applied %d term(2) %d", l.committed, l.applied, l.mustTerm(2))
	}
}

// Reference: Raft thesis §5.3 (conflict term optimisation).
func TestLogFindConflictByTerm(t *testing.T) {
	l := newTestLog(t, mkEnts(2, 1, 1, 3, 3, 5)) // 2..6
	for _, tc := range []struct{ index, term, wantIndex, wantTerm uint64 }{
		{6, 5, 6, 5},
		{6, 4, 5, 3},
		{6, 2, 3, 1},
		{6, 0, 0, 0}, // nothing at or below term 0
		{4, 9, 4, 3},
		{9, 9, 9, 0}, // past the end: unknown term
	} {
		i, tm := l.findConflictByTerm(tc.index, tc.term)
		if i != tc.wantIndex || tm != tc.wantTerm {
			t.Errorf("findConflictByTerm(%d,%d) = %d,%d; want %d,%d", tc.index, tc.term, i, tm, tc.wantIndex, tc.wantTerm)
		}
	}
}

// Reference: Raft paper §5.4.1 (election restriction: "up-to-date").
func TestLogIsUpToDate(t *testing.T) {
	l := newTestLog(t, mkEnts(2, 1, 2, 2)) // last (4, 2)
	for _, tc := range []struct {
		index, term uint64
		want        bool
	}{
		{4, 2, true}, {5, 2, true}, {3, 2, false}, {1, 3, true}, {9, 1, false},
	} {
		if got := l.isUpToDate(tc.index, tc.term); got != tc.want {
			t.Errorf("isUpToDate(%d,%d) = %v", tc.index, tc.term, got)
		}
	}
}

// Reference: Raft paper §7: entries come from storage below the unstable
// offset, from memory above it, and below the snapshot they are compacted.
func TestLogSliceAcrossStableAndUnstable(t *testing.T) {
	l := newTestLog(t, mkEnts(2, 1, 1, 1))
	l.append(mkEnts(5, 2, 2))
	got, err := l.slice(3, 7, noLimit)
	if err != nil || !slices.Equal(terms(got), []uint64{1, 1, 2, 2}) {
		t.Fatalf("slice = %v, %v", got, err)
	}
	// A size limit keeps at least one entry.
	got, _ = l.slice(3, 7, 0)
	if len(got) != 1 {
		t.Fatalf("limited slice has %d entries, want 1", len(got))
	}
	got, _ = l.slice(3, 7, 2*entrySize(Entry{})+1)
	if len(got) != 2 {
		t.Fatalf("limited slice has %d entries, want 2", len(got))
	}
	if _, err := l.slice(1, 3, noLimit); !errors.Is(err, ErrCompacted) {
		t.Fatalf("slice below first index: %v", err)
	}
	if _, err := l.term(0); !errors.Is(err, ErrCompacted) {
		t.Fatalf("term(0): %v", err)
	}
	if _, err := l.term(7); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("term(7): %v", err)
	}
}

// Reference: Raft thesis §10.2.1: entries become stable only if they are
// still the same entries when the caller confirms the write.
func TestUnstableStableToIgnoresOverwrittenEntries(t *testing.T) {
	u := unstable{offset: 5, entries: mkEnts(5, 1, 1, 1)}
	u.stableTo(6, 2) // wrong term: entry 6 was overwritten
	if u.offset != 5 || len(u.entries) != 3 {
		t.Fatalf("stableTo with a stale term moved the offset: %+v", u)
	}
	u.stableTo(6, 1)
	if u.offset != 7 || len(u.entries) != 1 {
		t.Fatalf("stableTo(6,1): offset %d len %d", u.offset, len(u.entries))
	}
	u.truncateAndAppend(mkEnts(4, 3))
	if u.offset != 4 || len(u.entries) != 1 {
		t.Fatalf("truncate below offset: %+v", u)
	}
	s := Snapshot{Meta: SnapshotMeta{Index: 10, Term: 3}}
	u.restore(s)
	if tm, ok := u.maybeTerm(10); !ok || tm != 3 || u.offset != 11 {
		t.Fatalf("after restore: term %d %v offset %d", tm, ok, u.offset)
	}
	u.stableSnapTo(10)
	if u.snapshot != nil {
		t.Fatal("snapshot not released")
	}
}
