package wal

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

// SetConfState durably records cs as the applied membership (Ready.ConfState
// after applying), which InitialState returns from then on until a
// snapshot is installed by Save. It is one synced write; ErrFailed if it
// fails (then for good).
func (w *WAL) SetConfState(cs consensus.ConfState) error {
	defer w.beginWrite()()
	if err := w.usable(); err != nil {
		return err
	}
	txn := w.db.NewTransaction(true)
	defer txn.Discard()
	err := txn.Set(keyApplied, encodeConfAt(keyApplied, cs))
	if err == nil {
		err = w.commit(txn)
	}
	if err != nil {
		return w.setFailed("save membership", err)
	}
	c := cloneConf(cs)
	w.mu.Lock()
	w.st.applied = &c
	w.mu.Unlock()
	return nil
}

// CreateSnapshot durably records data as the application state at index
// (an applied, hence committed, index still in the log) with membership
// conf, and removes the previous snapshot file. The log is not shortened;
// call Compact for that.
//
// Errors: consensus.ErrSnapshotOutOfDate if index is not newer than the
// current snapshot; consensus.ErrCompacted or ErrUnavailable if index is
// outside the log; ErrInvalidArgument if index is beyond the commit index;
// ErrFailed if a write failed (then for good).
func (w *WAL) CreateSnapshot(index uint64, conf consensus.ConfState, data []byte) (consensus.Snapshot, error) {
	defer w.beginWrite()()
	if err := w.usable(); err != nil {
		return consensus.Snapshot{}, err
	}
	st := &w.st
	switch {
	case index <= st.snap.index:
		return consensus.Snapshot{}, fmt.Errorf("wal: snapshot at %d, have %d: %w", index, st.snap.index, consensus.ErrSnapshotOutOfDate)
	case index+1 < st.b.first:
		return consensus.Snapshot{}, fmt.Errorf("wal: snapshot at %d, log starts at %d: %w", index, st.b.first, consensus.ErrCompacted)
	case index > st.b.last:
		return consensus.Snapshot{}, fmt.Errorf("wal: snapshot at %d, log ends at %d: %w", index, st.b.last, consensus.ErrUnavailable)
	case index > st.hs.Commit:
		return consensus.Snapshot{}, fmt.Errorf("%w: snapshot at %d is beyond the commit index %d", ErrInvalidArgument, index, st.hs.Commit)
	}
	term := st.termAt(index)
	m, err := w.writeSnapFile(index, term, data)
	if err != nil {
		return consensus.Snapshot{}, w.setFailed("write snapshot file", err)
	}
	txn := w.db.NewTransaction(true)
	defer txn.Discard()
	err = txn.Set(keySnapMeta, encodeSnapMeta(m))
	if err == nil {
		err = txn.Set(keyConf, encodeConf(conf))
	}
	if err == nil {
		err = w.commit(txn)
	}
	if err != nil {
		return consensus.Snapshot{}, w.setFailed("save snapshot meta", err)
	}
	w.mu.Lock()
	st.snap, st.conf = m, cloneConf(conf)
	err = w.removeStaleSnapFiles(snapFileName(term, index))
	w.mu.Unlock()
	if err != nil {
		return consensus.Snapshot{}, w.setFailed("remove old snapshot files", err)
	}
	w.log.Debug("snapshot created", "index", index, "term", term, "bytes", len(data))
	return consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: index, Term: term, Conf: cloneConf(conf)}, Data: data}, nil
}

// Compact discards the entries below index-KeepTail (never below the
// current first index). index may be at most the latest snapshot's index+1:
// entries not covered by a snapshot are never discarded (ErrInvalidArgument).
// Afterwards FirstIndex() is max(FirstIndex(), index-KeepTail), so with a
// tail FirstIndex() may stay at or below the snapshot index.
func (w *WAL) Compact(index uint64) error {
	defer w.beginWrite()()
	if err := w.usable(); err != nil {
		return err
	}
	st := &w.st
	if index > st.snap.index+1 {
		return fmt.Errorf("%w: compact to %d, but the latest snapshot is at %d", ErrInvalidArgument, index, st.snap.index)
	}
	first := st.b.first
	if index > w.opts.KeepTail {
		first = max(first, index-w.opts.KeepTail)
	}
	if first == st.b.first {
		return nil
	}
	old := st.b
	nb := bounds{first: first, last: old.last, prevTerm: st.termAt(first - 1)}
	txn := w.db.NewTransaction(true)
	defer txn.Discard()
	err := txn.Set(keyBounds, encodeBounds(nb))
	if err == nil {
		err = w.commit(txn)
	}
	if err != nil {
		return w.setFailed("compact", err)
	}
	w.mu.Lock()
	st.b = nb
	st.terms.compactTo(nb.first, nb.last)
	st.cache.compactTo(nb.first)
	w.mu.Unlock()
	if err := w.cleanup(old, nb, false); err != nil {
		return err
	}
	w.log.Debug("log compacted", "first", nb.first, "deleted", nb.first-old.first)
	w.collectValueLog()
	return nil
}

// collectValueLog asks Badger to rewrite at most one value-log file that is
// at least half garbage. Failing to collect is logged, not fatal: the data
// is intact, only space is not yet reclaimed.
func (w *WAL) collectValueLog() {
	err := w.db.RunValueLogGC(0.5)
	switch {
	case err == nil:
		w.log.Debug("value log garbage collected")
	case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
	default:
		w.log.Warn("value log garbage collection failed", "error", err)
	}
}
