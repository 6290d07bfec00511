package consensus

import "errors"

var (
	// ErrCompacted: the requested index is below the first index because the
	// log was compacted into a snapshot.
	ErrCompacted = errors.New("consensus: requested index is compacted")
	// ErrUnavailable: the requested index is past the last index.
	ErrUnavailable = errors.New("consensus: requested entry is unavailable")
	// ErrSnapshotOutOfDate: the snapshot is older than the one in storage.
	ErrSnapshotOutOfDate = errors.New("consensus: snapshot is out of date")
)

// Storage is the stable log the core reads from. The core never writes to
// it: the caller persists each Ready (through the write side of its storage)
// and then calls Advance. Everything returned must already be durable.
//
// Invariant: FirstIndex() <= snapshot.Meta.Index+1 (a store may keep a
// tail of entries below its latest snapshot for slow followers) and
// LastIndex() >= snapshot.Meta.Index; Term(FirstIndex()-1) is answerable.
type Storage interface {
	// InitialState returns the saved HardState and membership.
	InitialState() (HardState, ConfState, error)
	// Entries returns entries in [lo, hi), at least one if any exist in the
	// range, and no more than maxBytes in total after the first.
	// ErrCompacted if lo < FirstIndex(); ErrUnavailable if hi > LastIndex()+1.
	Entries(lo, hi, maxBytes uint64) ([]Entry, error)
	// Term returns the term of entry i, for i in [FirstIndex()-1, LastIndex()].
	Term(i uint64) (uint64, error)
	// FirstIndex is the index of the first entry still in the log.
	FirstIndex() (uint64, error)
	// LastIndex is the index of the last entry in the log.
	LastIndex() (uint64, error)
	// Snapshot returns the most recent snapshot.
	Snapshot() (Snapshot, error)
}
