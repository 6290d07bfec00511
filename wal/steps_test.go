package wal

import (
	"errors"
	"testing"

	"github.com/lockd/lockd/consensus"
)

// bigEnts are entries [lo, hi] of term t with 1 KiB of data each, so a few
// hundred exceed one transaction of a 1 MiB memtable.
func bigEnts(lo, hi, t uint64) []consensus.Entry {
	var out []consensus.Entry
	for i := lo; i <= hi; i++ {
		d := make([]byte, 1024)
		copy(d, ent(i, t).Data)
		out = append(out, consensus.Entry{Index: i, Term: t, Data: d})
	}
	return out
}

func TestSaveLargerThanATransactionIsWrittenInSteps(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	commits := 0
	w.failPoint = func(s string) error {
		if s == "commit" {
			commits++
		}
		return nil
	}
	old := bigEnts(1, 400, 1)
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 100}, old, nil)
	if commits < 3 {
		t.Fatalf("a 400 KiB save took %d commit(s); the test no longer exercises the stepped path", commits)
	}
	newer := bigEnts(200, 700, 2)
	mustSave(t, w, consensus.HardState{Term: 2, Commit: 150}, newer, nil)
	want := append(old[:199:199], newer...)
	wantBounds(t, w, 1, 700)
	wantEntries(t, w, 1, 701, want)
	w = reopen(t, w)
	wantEntries(t, w, 1, 701, want)

	// Overwriting exactly the same range leaves the bounds as they were,
	// but the stepped save shortened them on the way: they must be restored.
	again := bigEnts(300, 700, 3)
	mustSave(t, w, consensus.HardState{Term: 3, Commit: 200}, again, nil)
	want = append(want[:299:299], again...)
	w = reopen(t, w)
	wantBounds(t, w, 1, 700)
	wantEntries(t, w, 1, 701, want)
}

// TestLargeSaveInterruptedAfterAnyStepLeavesAValidLog crashes (in effect)
// after each durable step of a stepped save and checks that recovery finds
// the old log, the old log cut before the new entries, or the new log, and
// never a mixture.
func TestLargeSaveInterruptedAfterAnyStepLeavesAValidLog(t *testing.T) {
	old := bigEnts(1, 400, 1)
	newer := bigEnts(200, 700, 2)
	crash := errors.New("crash after this step")
	for k := 1; ; k++ {
		opts := testOptions(t.TempDir())
		w := mustOpen(t, opts)
		mustSave(t, w, consensus.HardState{Term: 1, Commit: 100}, old, nil)
		commits := 0
		w.failPoint = func(s string) error {
			if s == "commit" {
				if commits++; commits == k {
					return crash
				}
			}
			return nil
		}
		err := w.Save(consensus.HardState{Term: 2, Commit: 150}, newer, nil)
		if err == nil {
			if k < 3 {
				t.Fatalf("stepped save finished after %d commits", k-1)
			}
			return // every step has been interrupted once
		}
		if !errors.Is(err, crash) || !errors.Is(err, ErrFailed) {
			t.Fatalf("step %d: Save = %v", k, err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		w = mustOpen(t, opts)
		last, _ := w.LastIndex()
		hs, _, _ := w.InitialState()
		var want []consensus.Entry
		switch last {
		case 199: // cut before the new entries; they are not in the log yet
			want = old[:199]
			if hs.Term != 1 {
				t.Fatalf("step %d: hard state %+v with the cut log", k, hs)
			}
		case 700:
			want = append(old[:199:199], newer...)
			if hs.Term != 2 {
				t.Fatalf("step %d: hard state %+v with the new log", k, hs)
			}
		default:
			t.Fatalf("step %d: recovered log ends at %d, want 199 or 700", k, last)
		}
		wantEntries(t, w, 1, last+1, want)
		if keys := entryKeys(t, w); uint64(len(keys)) != last {
			t.Fatalf("step %d: %d entry keys after recovery, want %d (leftovers removed)", k, len(keys), last)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
