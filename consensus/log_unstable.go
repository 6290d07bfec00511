package consensus

import "fmt"

// unstable holds what the core has accepted but the caller has not yet
// confirmed as persisted: at most one snapshot and the entries after it (or
// after the stable log).
type unstable struct {
	snapshot *Snapshot
	entries  []Entry
	// offset is the index of entries[0] (or where it would be).
	// Invariant: snapshot == nil || offset == snapshot.Meta.Index+1.
	offset uint64
}

// maybeFirstIndex is the first index when an unstable snapshot defines it.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Meta.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex is the last index when the unstable part defines it.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if n := len(u.entries); n > 0 {
		return u.offset + uint64(n) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Meta.Index, true
	}
	return 0, false
}

// maybeTerm is the term of entry i when the unstable part holds it.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Meta.Index == i {
			return u.snapshot.Meta.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo drops the entries up to i once the caller has persisted them,
// provided entry i still has term t (it may have been overwritten since).
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	n := i + 1 - u.offset
	u.entries = append([]Entry(nil), u.entries[n:]...)
	u.offset = i + 1
}

// stableSnapTo drops the snapshot once the caller has persisted it.
func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Meta.Index == i {
		u.snapshot = nil
	}
}

func (u *unstable) restore(s Snapshot) {
	u.offset = s.Meta.Index + 1
	u.entries = nil
	u.snapshot = &s
}

// truncateAndAppend appends ents, first truncating any entries at or after
// ents[0].Index.
func (u *unstable) truncateAndAppend(ents []Entry) {
	after := ents[0].Index
	switch {
	case after == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case after <= u.offset:
		// The new entries replace all unstable ones and possibly part of the
		// stable log; the caller truncates storage at Entries[0].Index.
		u.offset = after
		u.entries = append([]Entry(nil), ents...)
	default:
		kept := append([]Entry(nil), u.slice(u.offset, after)...)
		u.entries = append(kept, ents...)
	}
}

func (u *unstable) slice(lo, hi uint64) []Entry {
	if lo > hi || lo < u.offset || hi > u.offset+uint64(len(u.entries)) {
		panic(fmt.Sprintf("consensus: unstable slice [%d,%d) out of [%d,%d)", lo, hi, u.offset, u.offset+uint64(len(u.entries))))
	}
	return u.entries[lo-u.offset : hi-u.offset]
}
