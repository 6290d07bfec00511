package wal

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

// InitialState returns the saved hard state and the membership: the last
// one recorded by SetConfState, or else the latest snapshot's (empty if
// there is none).
func (w *WAL) InitialState() (consensus.HardState, consensus.ConfState, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := w.usable(); err != nil {
		return consensus.HardState{}, consensus.ConfState{}, err
	}
	if w.st.applied != nil {
		return w.st.hs, cloneConf(*w.st.applied), nil
	}
	return w.st.hs, cloneConf(w.st.conf), nil
}

// FirstIndex returns the index of the first entry in the log. It is at most
// Snapshot().Meta.Index+1; with Options.KeepTail it may be lower.
func (w *WAL) FirstIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	return w.st.b.first, nil
}

// LastIndex returns the index of the last entry in the log (the snapshot
// index, or 0, if the log is empty).
func (w *WAL) LastIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	return w.st.b.last, nil
}

// Term returns the term of entry i for FirstIndex()-1 <= i <= LastIndex(),
// from memory. consensus.ErrCompacted below that range, ErrUnavailable above.
func (w *WAL) Term(i uint64) (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	switch {
	case i+1 < w.st.b.first:
		return 0, consensus.ErrCompacted
	case i > w.st.b.last:
		return 0, consensus.ErrUnavailable
	}
	return w.st.termAt(i), nil
}

// Entries returns the entries [lo, hi): the first one always, then more
// while their total size (len(Data)+16 each) stays within maxBytes (pass
// math.MaxUint64 for no limit). consensus.ErrCompacted if lo < FirstIndex(),
// ErrUnavailable if hi > LastIndex()+1. Recent entries come from memory,
// older ones from Badger, verified against their checksums. The returned
// entries' Data must not be modified.
func (w *WAL) Entries(lo, hi, maxBytes uint64) ([]consensus.Entry, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := w.usable(); err != nil {
		return nil, err
	}
	st := &w.st
	switch {
	case lo > hi:
		return nil, fmt.Errorf("%w: entries [%d, %d)", ErrInvalidArgument, lo, hi)
	case lo < st.b.first:
		return nil, consensus.ErrCompacted
	case hi > st.b.last+1:
		return nil, consensus.ErrUnavailable
	case lo == hi:
		return nil, nil
	}
	var out []consensus.Entry
	var size uint64
	cf := st.cache.first()
	if cf == 0 || lo < cf {
		end := hi
		if cf != 0 {
			end = min(hi, cf)
		}
		var full bool
		var err error
		out, size, full, err = w.readEntries(lo, end, maxBytes)
		if err != nil || full || end == hi {
			return out, err
		}
		lo = end
	}
	for _, e := range st.cache.ents[lo-cf : hi-cf] {
		if len(out) > 0 && size+entrySize(e) > maxBytes {
			break
		}
		size += entrySize(e)
		out = append(out, e)
	}
	return out, nil
}

// readEntries reads [lo, hi) from Badger within maxBytes. full reports that
// the byte limit stopped it. The caller holds mu.RLock.
func (w *WAL) readEntries(lo, hi, maxBytes uint64) (out []consensus.Entry, size uint64, full bool, err error) {
	txn := w.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{
		Prefix: []byte{prefixEntry}, PrefetchValues: true, PrefetchSize: int(min(hi-lo, 64)),
	})
	defer it.Close()
	next := lo
	for it.Seek(entryKey(lo)); it.Valid() && next < hi; it.Next() {
		item := it.Item()
		if idx, ok := entryIndex(item.Key()); !ok || idx != next {
			break
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, 0, false, fmt.Errorf("wal: read entry %d: %w", next, err)
		}
		e, bad := decodeEntry(next, v)
		if bad != "" {
			return nil, 0, false, &CorruptError{Record: "entry", Index: next, Committed: next <= w.st.hs.Commit, Reason: bad}
		}
		if len(out) > 0 && size+entrySize(e) > maxBytes {
			return out, size, true, nil
		}
		size += entrySize(e)
		out = append(out, e)
		next++
	}
	if next < hi {
		return nil, 0, false, &CorruptError{Record: "entry", Index: next, Committed: next <= w.st.hs.Commit, Reason: "missing"}
	}
	return out, size, false, nil
}

// Snapshot returns the latest snapshot with its data read from its file
// and verified, or an empty Snapshot if there is none. A damaged file is
// reported as a *CorruptError naming it.
func (w *WAL) Snapshot() (consensus.Snapshot, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := w.usable(); err != nil {
		return consensus.Snapshot{}, err
	}
	m := w.st.snap
	if m.index == 0 {
		return consensus.Snapshot{}, nil
	}
	data, err := w.readSnapFile(m)
	if err != nil {
		return consensus.Snapshot{}, err
	}
	return consensus.Snapshot{
		Meta: consensus.SnapshotMeta{Index: m.index, Term: m.term, Conf: cloneConf(w.st.conf)},
		Data: data,
	}, nil
}
