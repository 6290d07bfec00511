package consensus

import (
	"errors"
	"fmt"
)

// raftLog is the node's view of the log: the stable part in Storage and the
// unstable part not yet persisted.
type raftLog struct {
	storage  Storage
	unstable unstable
	// committed is the highest index known to be committed.
	// Invariant: applied <= applying <= committed <= lastIndex().
	committed uint64
	// applying is the highest index handed out in Ready.CommittedEntries.
	applying uint64
	// applied is the highest index the caller has applied (Advance).
	applied uint64
	// unsafeOverwrite lets a leader's entries overwrite committed ones
	// instead of panicking. Only Config.TestingUnsafeCommitPreviousTerm sets
	// it, so that the simulator observes the resulting safety violation.
	unsafeOverwrite bool
}

func newLog(st Storage) (*raftLog, error) {
	first, err := st.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := st.LastIndex()
	if err != nil {
		return nil, err
	}
	l := &raftLog{storage: st}
	l.unstable.offset = last + 1
	l.committed = first - 1
	l.applying = first - 1
	l.applied = first - 1
	return l, nil
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		panic(fmt.Sprintf("consensus: storage FirstIndex: %v", err))
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("consensus: storage LastIndex: %v", err))
	}
	return i
}

// stableIndex is the highest index the caller has persisted that agrees with
// this log (what a leader may count itself as holding).
func (l *raftLog) stableIndex() uint64 {
	if l.unstable.snapshot != nil {
		return 0
	}
	if len(l.unstable.entries) > 0 {
		return l.unstable.offset - 1
	}
	return l.lastIndex()
}

func (l *raftLog) lastTerm() uint64 { return l.mustTerm(l.lastIndex()) }

// term returns the term of entry i, ErrCompacted below the first index-1
// and ErrUnavailable past the last index.
func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err != nil && !errors.Is(err, ErrCompacted) && !errors.Is(err, ErrUnavailable) {
		panic(fmt.Sprintf("consensus: storage Term(%d): %v", i, err))
	}
	return t, err
}

func (l *raftLog) mustTerm(i uint64) uint64 {
	t, err := l.term(i)
	if err != nil {
		panic(fmt.Sprintf("consensus: term(%d) in [%d,%d]: %v", i, l.firstIndex()-1, l.lastIndex(), err))
	}
	return t
}

// termOr0 is term(i), or 0 when entry i is not available.
func (l *raftLog) termOr0(i uint64) uint64 {
	t, err := l.term(i)
	if err != nil {
		return 0
	}
	return t
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	gt, err := l.term(i)
	return err == nil && gt == t
}

// isUpToDate reports whether a log ending at (index, term) is at least as
// up to date as this one (Raft §5.4.1).
func (l *raftLog) isUpToDate(index, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && index >= l.lastIndex())
}

// maybeAppend appends ents after (index, logTerm) if this log has that
// entry, truncating the first conflicting suffix, and advances the commit
// index to min(committed, last new index). It returns the last index of the
// matched prefix plus ents.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastNew := index + uint64(len(ents))
	if ci := l.findConflict(ents); ci != 0 {
		if ci <= l.committed {
			if !l.unsafeOverwrite {
				panic(fmt.Sprintf("consensus: entry %d conflicts with committed entry (committed %d)", ci, l.committed))
			}
			// Negative-control mode: let the violation happen visibly.
			l.committed = ci - 1
			l.applying = min(l.applying, l.committed)
			l.applied = min(l.applied, l.committed)
		}
		l.append(ents[ci-ents[0].Index:])
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, true
}

// findConflict returns the index of the first entry of ents that is not in
// the log with the same term (a conflict or a new entry), or 0.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term, with that term: the leader and follower use it to skip a whole
// divergent term per round trip.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

func (l *raftLog) append(ents []Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		panic(fmt.Sprintf("consensus: append after %d is below committed %d", after, l.committed))
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

func (l *raftLog) commitTo(i uint64) {
	if i <= l.committed {
		return
	}
	if last := l.lastIndex(); i > last {
		panic(fmt.Sprintf("consensus: commit %d past last index %d", i, last))
	}
	l.committed = i
}

// maybeCommit commits i if entry i has term t.
func (l *raftLog) maybeCommit(i, t uint64) bool {
	if i > l.committed && l.termOr0(i) == t {
		l.commitTo(i)
		return true
	}
	return false
}

// entries returns entries from lo to the end, at most maxBytes after the
// first.
func (l *raftLog) entries(lo, maxBytes uint64) ([]Entry, error) {
	if lo > l.lastIndex() {
		return nil, nil
	}
	return l.slice(lo, l.lastIndex()+1, maxBytes)
}

// slice returns entries in [lo, hi), at most maxBytes after the first.
func (l *raftLog) slice(lo, hi, maxBytes uint64) ([]Entry, error) {
	if lo < l.firstIndex() {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("consensus: slice [%d,%d) past last index %d", lo, hi, l.lastIndex()))
	}
	if lo >= hi {
		return nil, nil
	}
	var out []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxBytes)
		if errors.Is(err, ErrCompacted) {
			return nil, err
		} else if err != nil {
			panic(fmt.Sprintf("consensus: storage Entries(%d,%d): %v", lo, min(hi, l.unstable.offset), err))
		}
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil // size limit reached
		}
		out = stored
	}
	if hi > l.unstable.offset {
		un := l.unstable.slice(max(lo, l.unstable.offset), hi)
		if len(out) > 0 {
			combined := make([]Entry, 0, len(out)+len(un))
			out = append(append(combined, out...), un...)
		} else {
			out = un
		}
	}
	return limitSize(out, maxBytes), nil
}

// snapshot is the newest snapshot the log knows about.
func (l *raftLog) snapshot() (Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

// restore resets the log to snapshot s.
func (l *raftLog) restore(s Snapshot) {
	l.committed = s.Meta.Index
	l.unstable.restore(s)
}

// nextCommitted returns the committed entries not yet handed out.
func (l *raftLog) nextCommitted() []Entry {
	lo := max(l.applying+1, l.firstIndex())
	if l.committed+1 <= lo {
		return nil
	}
	ents, err := l.slice(lo, l.committed+1, noLimit)
	if err != nil {
		panic(fmt.Sprintf("consensus: committed entries [%d,%d]: %v", lo, l.committed, err))
	}
	return ents
}

func (l *raftLog) hasNextCommitted() bool {
	return l.committed > max(l.applying, l.firstIndex()-1)
}

const noLimit = ^uint64(0)
