package wal

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

// recover loads and verifies everything durable into w.st, then removes
// leftovers: entry keys outside the bounds and snapshot files other than
// the latest.
func (w *WAL) recover() error {
	if err := w.checkFormat(); err != nil {
		return err
	}
	garbage, err := w.load()
	if err != nil {
		return err
	}
	if w.st.snap.index != 0 {
		if _, err := w.readSnapFile(w.st.snap); err != nil {
			return err
		}
	}
	keep := ""
	if w.st.snap.index != 0 {
		keep = snapFileName(w.st.snap.term, w.st.snap.index)
	}
	if err := w.removeStaleSnapFiles(keep); err != nil {
		return fmt.Errorf("wal: remove stale snapshot files: %w", err)
	}
	if len(garbage) > 0 {
		w.log.Info("deleting entries outside the log left by an interrupted truncation or compaction", "count", len(garbage))
		wb := w.db.NewWriteBatch()
		defer wb.Cancel()
		for _, k := range garbage {
			if err := wb.Delete(k); err != nil {
				return fmt.Errorf("wal: delete leftover entries: %w", err)
			}
		}
		if err := wb.Flush(); err != nil {
			return fmt.Errorf("wal: delete leftover entries: %w", err)
		}
		if err := w.syncLogs(); err != nil {
			return fmt.Errorf("wal: sync after deleting leftover entries: %w", err)
		}
	}
	return nil
}

// load reads and verifies the records and the entries, and returns the keys
// of entries outside the bounds.
func (w *WAL) load() (garbage [][]byte, err error) {
	txn := w.db.NewTransaction(false)
	defer txn.Discard()
	get := func(key []byte) ([]byte, error) {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("wal: read %q: %w", key, err)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, fmt.Errorf("wal: read %q: %w", key, err)
		}
		return v, nil
	}
	st := &w.st
	st.b = bounds{first: 1}

	v, err := get(keyBounds)
	if err != nil {
		return nil, err
	}
	haveBounds := v != nil
	if haveBounds {
		var bad string
		if st.b, bad = decodeBounds(v); bad != "" {
			return nil, &CorruptError{Record: "bounds", Reason: bad}
		}
	}
	if v, err = get(keyHardState); err != nil {
		return nil, err
	}
	if v != nil {
		var bad string
		if st.hs, bad = decodeHardState(v); bad != "" {
			return nil, &CorruptError{Record: "hard state", Reason: bad}
		}
	}
	if err := w.loadSnapMeta(get); err != nil {
		return nil, err
	}
	if v, err = get(keyApplied); err != nil {
		return nil, err
	}
	if v != nil {
		cs, bad := decodeConfAt(keyApplied, v)
		if bad != "" {
			return nil, &CorruptError{Record: "applied membership", Reason: bad}
		}
		st.applied = &cs
	}
	if !haveBounds && st.snap.index != 0 {
		// Every save of a snapshot or of entries writes the bounds with them;
		// without them, entries would look like garbage and be deleted.
		return nil, &CorruptError{Record: "bounds", Reason: "missing, but a snapshot is recorded"}
	}
	if st.snap.index == 0 && st.b.first != 1 {
		return nil, &CorruptError{Record: "bounds", Reason: fmt.Sprintf("log starts at %d but there is no snapshot", st.b.first)}
	}
	if st.snap.index != 0 {
		switch {
		case st.b.first > st.snap.index+1:
			return nil, &CorruptError{Record: "bounds", Reason: fmt.Sprintf("log starts at %d, after snapshot %d", st.b.first, st.snap.index)}
		case st.b.last < st.snap.index:
			return nil, &CorruptError{Record: "bounds", Reason: fmt.Sprintf("log ends at %d, before snapshot %d", st.b.last, st.snap.index)}
		case st.b.first == st.snap.index+1 && st.b.prevTerm != st.snap.term:
			return nil, &CorruptError{Record: "bounds", Reason: "term before the log differs from the snapshot's"}
		}
	}

	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEntry}, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	next, prevTerm := st.b.first, st.b.prevTerm
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		idx, ok := entryIndex(item.Key())
		if !ok {
			return nil, &CorruptError{Record: "entry", Reason: fmt.Sprintf("malformed key %x", item.Key())}
		}
		if !haveBounds {
			return nil, &CorruptError{Record: "bounds", Reason: fmt.Sprintf("missing, but entry %d is stored", idx)}
		}
		if idx < st.b.first || idx > st.b.last {
			garbage = append(garbage, item.KeyCopy(nil))
			continue
		}
		if idx != next {
			return nil, &CorruptError{Record: "entry", Index: next, Committed: next <= st.hs.Commit, Reason: "missing"}
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, fmt.Errorf("wal: read entry %d: %w", idx, err)
		}
		e, bad := decodeEntry(idx, v)
		if bad == "" && e.Term < prevTerm {
			bad = fmt.Sprintf("term %d after term %d", e.Term, prevTerm)
		}
		if bad != "" {
			return nil, &CorruptError{Record: "entry", Index: idx, Committed: idx <= st.hs.Commit, Reason: bad}
		}
		st.terms.append(idx, e.Term)
		st.cache.append([]consensus.Entry{e})
		prevTerm = e.Term
		next++
	}
	if next != st.b.last+1 {
		return nil, &CorruptError{Record: "entry", Index: next, Committed: next <= st.hs.Commit, Reason: "missing"}
	}
	if st.hs.Commit > st.b.last {
		return nil, &CorruptError{Record: "log", Index: st.b.last + 1, Committed: true,
			Reason: fmt.Sprintf("hard state commits %d but the log ends at %d", st.hs.Commit, st.b.last)}
	}
	return garbage, nil
}

// loadSnapMeta reads the snapshot meta and membership, which exist together.
func (w *WAL) loadSnapMeta(get func([]byte) ([]byte, error)) error {
	mv, err := get(keySnapMeta)
	if err != nil {
		return err
	}
	cv, err := get(keyConf)
	if err != nil {
		return err
	}
	if (mv == nil) != (cv == nil) {
		return &CorruptError{Record: "snapshot meta", Reason: "snapshot meta and membership are not both present"}
	}
	if mv == nil {
		return nil
	}
	var bad string
	if w.st.snap, bad = decodeSnapMeta(mv); bad != "" {
		return &CorruptError{Record: "snapshot meta", Reason: bad}
	}
	if w.st.snap.index == 0 {
		return &CorruptError{Record: "snapshot meta", Reason: "index 0"}
	}
	if w.st.conf, bad = decodeConf(cv); bad != "" {
		return &CorruptError{Record: "membership", Index: w.st.snap.index, Reason: bad}
	}
	return nil
}
