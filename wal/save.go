package wal

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

// plan is one validated Save: what to write and how memory changes.
type plan struct {
	hs      consensus.HardState
	writeHS bool

	snap *consensus.Snapshot
	meta snapMeta // of snap, once its file is written

	ents   []consensus.Entry // to write, all at or above nb.first
	values [][]byte          // sealed records of ents

	old, nb bounds
	// cut is set once writeInSteps has made a shortened log durable: the
	// final step must then write nb even if it equals old.
	cut bool
}

func (p *plan) empty() bool { return !p.writeHS && p.snap == nil && len(p.ents) == 0 }

// overwrites reports whether the plan writes keys inside the old bounds,
// which readers may be reading.
func (p *plan) overwrites() bool { return len(p.ents) > 0 && p.ents[0].Index <= p.old.last }

// Save durably persists one Ready: hs (zero means unchanged), ents (which
// replace any entries at or after ents[0].Index; entries below the first
// index are already compacted and skipped) and snap (nil or empty means
// none; otherwise it replaces the whole log, which then continues at
// snap.Meta.Index+1, and its membership replaces the recorded one).
//
// The snapshot file is written and fsynced first; then entries, bounds,
// hard state, snapshot meta and membership go in one synced Badger
// transaction. A Save too large for one transaction is written in several:
// first the log is shortened to before ents[0], then the entries beyond the
// bounds, then the bounds and the rest; a crash in between leaves a valid,
// shorter log and loses nothing acknowledged.
//
// Arguments that do not describe a valid log change return
// ErrInvalidArgument or consensus.ErrSnapshotOutOfDate and write nothing.
// If a write or sync fails, the WAL is failed for good: this and every later
// call return ErrFailed.
func (w *WAL) Save(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) error {
	defer w.beginWrite()()
	if err := w.usable(); err != nil {
		return err
	}
	p, err := w.plan(hs, ents, snap)
	if err != nil || p.empty() {
		return err
	}
	if p.snap != nil {
		if p.meta, err = w.writeSnapFile(snap.Meta.Index, snap.Meta.Term, snap.Data); err != nil {
			return w.setFailed("write snapshot file", err)
		}
	}
	if err := w.write(p); err != nil {
		return w.setFailed("save", err)
	}
	return w.cleanup(p.old, p.nb, p.snap != nil)
}

// plan validates a Save against the durable state and computes its effect.
func (w *WAL) plan(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) (*plan, error) {
	st := &w.st
	p := &plan{old: st.b, nb: st.b}
	committed := max(st.hs.Commit, st.snap.index) // nothing at or below this may change
	if !snap.IsEmpty() {
		m := snap.Meta
		if m.Index <= st.snap.index {
			return nil, fmt.Errorf("wal: save snapshot %d, have %d: %w", m.Index, st.snap.index, consensus.ErrSnapshotOutOfDate)
		}
		if m.Term == 0 {
			return nil, fmt.Errorf("%w: snapshot %d has term 0", ErrInvalidArgument, m.Index)
		}
		if st.hs.Commit > m.Index {
			return nil, fmt.Errorf("%w: snapshot %d is below the commit index %d", ErrInvalidArgument, m.Index, st.hs.Commit)
		}
		p.nb = bounds{first: m.Index + 1, last: m.Index, prevTerm: m.Term}
		p.snap = snap
		committed = max(committed, m.Index)
	}
	for len(ents) > 0 && ents[0].Index < p.nb.first {
		ents = ents[1:] // compacted: covered by a snapshot
	}
	for len(ents) > 0 && ents[0].Index <= committed && ents[0].Index <= p.nb.last &&
		st.termAt(ents[0].Index) == ents[0].Term {
		ents = ents[1:] // committed and identical (log matching): already here
	}
	if len(ents) > 0 {
		e0 := ents[0].Index
		if e0 > p.nb.last+1 {
			return nil, fmt.Errorf("%w: entries start at %d, after the last index %d", ErrInvalidArgument, e0, p.nb.last)
		}
		if e0 <= committed {
			return nil, fmt.Errorf("%w: entry %d would overwrite a committed entry (commit %d)", ErrInvalidArgument, e0, committed)
		}
		prevTerm := p.nb.prevTerm
		if e0-1 >= p.nb.first {
			prevTerm = st.terms.term(e0 - 1)
		}
		for i, e := range ents {
			if e.Index != e0+uint64(i) {
				return nil, fmt.Errorf("%w: entry %d follows entry %d", ErrInvalidArgument, e.Index, e0+uint64(i)-1)
			}
			if e.Term < prevTerm {
				return nil, fmt.Errorf("%w: entry %d has term %d after term %d", ErrInvalidArgument, e.Index, e.Term, prevTerm)
			}
			prevTerm = e.Term
		}
		p.ents = ents
		p.nb.last = ents[len(ents)-1].Index
	}
	if !hs.IsEmpty() && hs != st.hs {
		if hs.Term < st.hs.Term || hs.Commit < st.hs.Commit {
			return nil, fmt.Errorf("%w: hard state (term %d, commit %d) goes back from (term %d, commit %d)",
				ErrInvalidArgument, hs.Term, hs.Commit, st.hs.Term, st.hs.Commit)
		}
		p.hs, p.writeHS = hs, true
	}
	if commit := max(st.hs.Commit, p.hs.Commit); commit > p.nb.last {
		return nil, fmt.Errorf("%w: commit %d is beyond the last index %d", ErrInvalidArgument, commit, p.nb.last)
	}
	p.values = make([][]byte, len(p.ents))
	for i, e := range p.ents {
		p.values[i] = encodeEntry(e)
	}
	return p, nil
}

// write commits p, in one transaction if Badger takes it, else in steps.
func (w *WAL) write(p *plan) error {
	txn := w.db.NewTransaction(true)
	defer txn.Discard()
	err := w.setEntries(txn, p, 0)
	if err == nil {
		err = w.setMeta(txn, p)
	}
	if errors.Is(err, badger.ErrTxnTooBig) {
		txn.Discard()
		return w.writeInSteps(p)
	}
	if err != nil {
		return err
	}
	if p.overwrites() {
		// Readers may be reading the keys being overwritten: exclude them
		// from the commit until memory matches what is durable.
		w.mu.Lock()
		defer w.mu.Unlock()
		if err := w.commit(txn); err != nil {
			return err
		}
		w.apply(p)
		return nil
	}
	if err := w.commit(txn); err != nil {
		return err
	}
	w.mu.Lock()
	w.apply(p)
	w.mu.Unlock()
	return nil
}

// writeInSteps commits a plan too large for one Badger transaction:
//  1. if it overwrites the log, shorten the log's bounds to before the
//     first new entry (those entries are above the commit index);
//  2. write the entries, now beyond the bounds, in as many transactions as
//     needed;
//  3. commit the new bounds, hard state and snapshot meta.
//
// Each step is durable before the next starts, and every prefix of the
// steps leaves a valid log.
func (w *WAL) writeInSteps(p *plan) error {
	if p.overwrites() {
		mid := p.old
		mid.last = p.ents[0].Index - 1
		txn := w.db.NewTransaction(true)
		defer txn.Discard()
		if err := txn.Set(keyBounds, encodeBounds(mid)); err != nil {
			return err
		}
		p.cut = true
		w.mu.Lock()
		err := w.commit(txn)
		if err == nil {
			w.st.b = mid
			w.st.terms.truncateFrom(mid.last + 1)
			w.st.cache.truncateFrom(mid.last + 1)
		}
		w.mu.Unlock()
		if err != nil {
			return err
		}
		w.log.Debug("large save: shortened the log first", "last", mid.last, "entries", len(p.ents))
	}
	for from := 0; ; {
		txn := w.db.NewTransaction(true)
		err := w.setEntries(txn, p, from)
		next := len(p.ents)
		if err == nil {
			if err = w.setMeta(txn, p); err == nil {
				err = w.commit(txn) // the step that makes the new log durable
				txn.Discard()
				if err != nil {
					return err
				}
				break
			}
		} else if too := (*tooBig)(nil); errors.As(err, &too) {
			next = too.at
		}
		txn.Discard()
		if !errors.Is(err, badger.ErrTxnTooBig) {
			return err
		}
		if next == from {
			return fmt.Errorf("a single record exceeds a Badger transaction: %w", err)
		}
		// Commit the entries that fit; they lie beyond the durable bounds.
		if err := w.commitEntries(p, from, next); err != nil {
			return err
		}
		from = next
	}
	w.mu.Lock()
	w.apply(p)
	w.mu.Unlock()
	return nil
}

// commitEntries commits p.ents[from:to] alone.
func (w *WAL) commitEntries(p *plan, from, to int) error {
	txn := w.db.NewTransaction(true)
	defer txn.Discard()
	for i := from; i < to; i++ {
		w.noteValue(len(p.values[i]))
		if err := txn.Set(entryKey(p.ents[i].Index), p.values[i]); err != nil {
			return err
		}
	}
	return w.commit(txn)
}

// tooBig says which entry did not fit in a transaction.
type tooBig struct {
	at  int
	err error
}

func (t *tooBig) Error() string { return t.err.Error() }
func (t *tooBig) Unwrap() error { return t.err }

// setEntries adds p.ents[from:] to txn; on ErrTxnTooBig it returns a
// *tooBig naming the entry that did not fit.
func (w *WAL) setEntries(txn *badger.Txn, p *plan, from int) error {
	for i := from; i < len(p.ents); i++ {
		w.noteValue(len(p.values[i]))
		if err := txn.Set(entryKey(p.ents[i].Index), p.values[i]); err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return &tooBig{at: i, err: err}
			}
			return err
		}
	}
	return nil
}

// setMeta adds the bounds, hard state, snapshot meta and membership (and
// drops the applied membership, which an installed snapshot supersedes).
func (w *WAL) setMeta(txn *badger.Txn, p *plan) error {
	if p.nb != p.old || p.cut {
		if err := txn.Set(keyBounds, encodeBounds(p.nb)); err != nil {
			return err
		}
	}
	if p.writeHS {
		if err := txn.Set(keyHardState, encodeHardState(p.hs)); err != nil {
			return err
		}
	}
	if p.snap != nil {
		if err := txn.Set(keySnapMeta, encodeSnapMeta(p.meta)); err != nil {
			return err
		}
		if err := txn.Set(keyConf, encodeConf(p.snap.Meta.Conf)); err != nil {
			return err
		}
		if err := txn.Delete(keyApplied); err != nil {
			return err
		}
	}
	return nil
}

// apply moves memory to the durable state p produced. The caller holds mu.
func (w *WAL) apply(p *plan) {
	st := &w.st
	if p.snap != nil {
		st.snap = p.meta
		st.conf = cloneConf(p.snap.Meta.Conf)
		st.applied = nil
		st.terms.runs = st.terms.runs[:0]
		st.cache.reset()
	}
	if len(p.ents) > 0 {
		e0 := p.ents[0].Index
		st.terms.truncateFrom(e0)
		st.cache.truncateFrom(e0)
		cached := make([]consensus.Entry, len(p.ents))
		for i, e := range p.ents {
			st.terms.append(e.Index, e.Term)
			// Share the sealed record's copy of the data, not the caller's.
			cached[i] = consensus.Entry{Index: e.Index, Term: e.Term, Type: e.Type}
			if len(e.Data) > 0 {
				cached[i].Data = p.values[i][len(p.values[i])-len(e.Data):]
			}
		}
		st.cache.append(cached)
	}
	st.b = p.nb
	if p.writeHS {
		st.hs = p.hs
	}
}

// cleanup deletes entry keys that were inside old but are outside nb, and
// (after a new snapshot) the older snapshot files. A failure here is a
// write failure.
func (w *WAL) cleanup(old, nb bounds, newSnap bool) error {
	if old.last >= old.first {
		if err := w.deleteRange(old.first, min(old.last+1, nb.first)); err != nil {
			return w.setFailed("delete compacted entries", err)
		}
		if err := w.deleteRange(max(old.first, nb.last+1), old.last+1); err != nil {
			return w.setFailed("delete truncated entries", err)
		}
	}
	if newSnap {
		w.mu.Lock() // readers may be reading the old file
		err := w.removeStaleSnapFiles(snapFileName(w.st.snap.term, w.st.snap.index))
		w.mu.Unlock()
		if err != nil {
			return w.setFailed("remove old snapshot files", err)
		}
	}
	return nil
}
