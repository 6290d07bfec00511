package consensus

import (
	"fmt"
	"sync"
)

// MemoryStorage is an in-memory Storage for tests and the simulator. Its
// write side (Append, SetHardState, SetConfState, ApplySnapshot,
// CreateSnapshot, Compact) plays the role of a synced disk: whatever has
// been written is "durable".
//
// Slices and snapshots returned by its methods share memory with the
// storage and must not be mutated; Clone gives an independent copy. It is
// safe for concurrent use.
type MemoryStorage struct {
	mu        sync.Mutex
	hardState HardState
	confState ConfState
	snapshot  Snapshot
	// ents[0] is a dummy entry at the snapshot index and term.
	// Invariant: len(ents) >= 1 and ents[i].Index == ents[0].Index+i.
	ents []Entry
}

// NewMemoryStorage returns an empty storage: no snapshot, no entries,
// FirstIndex 1 and LastIndex 0.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, cloneConfState(ms.confState), nil
}

// SetHardState records hs as durable.
func (ms *MemoryStorage) SetHardState(hs HardState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = hs
	return nil
}

// SetConfState records the membership the application has applied (from
// Ready.ConfState).
func (ms *MemoryStorage) SetConfState(cs ConfState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.confState = cloneConfState(cs)
	return nil
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxBytes uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, fmt.Errorf("%w: entries [%d, %d) past last index %d", ErrUnavailable, lo, hi, ms.lastIndex())
	}
	if lo >= hi {
		return nil, nil
	}
	ents := ms.ents[lo-offset : hi-offset]
	return limitSize(ents, maxBytes), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 { return ms.ents[0].Index + uint64(len(ms.ents)) - 1 }

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the log with snap: entries are discarded, the
// membership becomes snap's, and the log continues at snap.Meta.Index+1.
// ErrSnapshotOutOfDate if snap is older than the current snapshot.
func (ms *MemoryStorage) ApplySnapshot(snap Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if snap.Meta.Index < ms.snapshot.Meta.Index {
		return fmt.Errorf("%w: %d < %d", ErrSnapshotOutOfDate, snap.Meta.Index, ms.snapshot.Meta.Index)
	}
	snap.Meta.Conf = cloneConfState(snap.Meta.Conf)
	ms.snapshot = snap
	ms.confState = cloneConfState(snap.Meta.Conf)
	ms.ents = []Entry{{Index: snap.Meta.Index, Term: snap.Meta.Term}}
	return nil
}

// CreateSnapshot records a snapshot of the application state at index i
// (which must be in the log) with membership cs (nil: the stored
// membership) and returns it. It does not compact; call Compact for that.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *ConfState, data []byte) (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Meta.Index {
		return Snapshot{}, fmt.Errorf("%w: %d <= %d", ErrSnapshotOutOfDate, i, ms.snapshot.Meta.Index)
	}
	if i > ms.lastIndex() {
		return Snapshot{}, fmt.Errorf("%w: snapshot index %d past last index %d", ErrUnavailable, i, ms.lastIndex())
	}
	conf := ms.confState
	if cs != nil {
		conf = *cs
	}
	ms.snapshot = Snapshot{
		Meta: SnapshotMeta{Index: i, Term: ms.ents[i-ms.ents[0].Index].Term, Conf: cloneConfState(conf)},
		Data: append([]byte(nil), data...),
	}
	return ms.snapshot, nil
}

// Compact discards the entries before compactIndex; compactIndex itself
// becomes the dummy entry, so FirstIndex becomes compactIndex+1. Only
// entries covered by the latest snapshot may go (ErrCompactPastSnapshot),
// so the leader can always send that snapshot instead.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.snapshot.Meta.Index {
		return fmt.Errorf("%w: compact %d, snapshot %d", ErrCompactPastSnapshot, compactIndex, ms.snapshot.Meta.Index)
	}
	if compactIndex > ms.lastIndex() {
		return fmt.Errorf("%w: compact %d past last index %d", ErrUnavailable, compactIndex, ms.lastIndex())
	}
	i := compactIndex - offset
	ents := make([]Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ms.ents = append(ents, ms.ents[i+1:]...)
	return nil
}

// Append adds entries to the log. Entries already compacted are ignored; an
// entry at an index already present replaces it and everything after it
// (the conflicting suffix is truncated). ErrUnavailable if the entries
// would leave a gap after the last index.
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	first := ms.ents[0].Index + 1
	last := entries[len(entries)-1].Index
	if last < first {
		return nil
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		ms.ents = append(ms.ents[:offset:offset], entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return fmt.Errorf("%w: append at %d leaves a gap after last index %d", ErrUnavailable, entries[0].Index, ms.lastIndex())
	}
	return nil
}

// Clone returns a deep copy, for simulating a disk image at a point in time.
func (ms *MemoryStorage) Clone() *MemoryStorage {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	c := &MemoryStorage{
		hardState: ms.hardState,
		confState: cloneConfState(ms.confState),
		snapshot:  ms.snapshot,
		ents:      make([]Entry, len(ms.ents)),
	}
	c.snapshot.Meta.Conf = cloneConfState(ms.snapshot.Meta.Conf)
	c.snapshot.Data = append([]byte(nil), ms.snapshot.Data...)
	for i, e := range ms.ents {
		e.Data = append([]byte(nil), e.Data...)
		c.ents[i] = e
	}
	return c
}

// entrySize is the size an entry counts for against byte limits.
func entrySize(e Entry) uint64 { return uint64(len(e.Data)) + 17 }

// limitSize returns the longest prefix of ents whose total size is within
// maxBytes, but always at least one entry.
func limitSize(ents []Entry, maxBytes uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := entrySize(ents[0])
	for i := 1; i < len(ents); i++ {
		size += entrySize(ents[i])
		if size > maxBytes {
			return ents[:i]
		}
	}
	return ents
}
