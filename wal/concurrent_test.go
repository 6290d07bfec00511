package wal

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lockd/lockd/consensus"
)

// TestReadersSeeOnlyConsistentLogsWhileSaving runs readers against a
// writer that appends, overwrites suffixes, snapshots and compacts. Every
// read must be a contiguous run of entries whose data matches their index
// and term, with terms that never go down.
func TestReadersSeeOnlyConsistentLogsWhileSaving(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.CacheBytes = 40 * 64 // some reads come from Badger
	opts.KeepTail = 30
	w := mustOpen(t, opts)
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				if err := readOnce(w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	term, last, commit := uint64(1), uint64(0), uint64(0)
	for round := 0; round < 150; round++ {
		// Append 8 entries, then overwrite the last 3 with a higher term.
		mustSave(t, w, consensus.HardState{Term: term, Commit: commit}, ents(last+1, last+8, term), nil)
		last += 8
		term++
		mustSave(t, w, consensus.HardState{Term: term, Commit: commit}, ents(last-2, last, term), nil)
		commit = last - 3
		if round%25 == 24 {
			mustSave(t, w, consensus.HardState{Term: term, Commit: commit}, nil, nil)
			if _, err := w.CreateSnapshot(commit, testConf(), []byte(fmt.Sprint(commit))); err != nil {
				t.Fatal(err)
			}
			if err := w.Compact(commit + 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func readOnce(w *WAL) error {
	last, err := w.LastIndex()
	if err != nil {
		return err
	}
	first, err := w.FirstIndex()
	if err != nil || last < first {
		return err
	}
	lo := first
	if last > 40 && last-40 > first {
		lo = last - 40
	}
	es, err := w.Entries(lo, last+1, noLimit)
	if errors.Is(err, consensus.ErrUnavailable) || errors.Is(err, consensus.ErrCompacted) {
		return nil // the log moved between the calls
	}
	if err != nil {
		return err
	}
	prev := uint64(0)
	for k, e := range es {
		if e.Index != lo+uint64(k) {
			return fmt.Errorf("Entries(%d, %d): entry %d at position %d", lo, last+1, e.Index, k)
		}
		if e.Term < prev {
			return fmt.Errorf("Entries(%d, %d): term %d after %d at %d", lo, last+1, e.Term, prev, e.Index)
		}
		if want := ent(e.Index, e.Term).Data; string(e.Data) != string(want) {
			return fmt.Errorf("entry %d: data %q, want %q", e.Index, e.Data, want)
		}
		prev = e.Term
	}
	return nil
}
