package wal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

// corruptFixture is a closed WAL: entries 1..10 (terms 1 then 2), commit 8,
// a snapshot at 4. It returns the options to reopen it with.
func corruptFixture(t *testing.T) (Options, *WAL) {
	t.Helper()
	opts := testOptions(t.TempDir())
	opts.CacheBytes = 0
	w := mustOpen(t, opts)
	mustSave(t, w, consensus.HardState{Term: 2, Vote: "n1", Commit: 8}, append(ents(1, 5, 1), ents(6, 10, 2)...), nil)
	if _, err := w.CreateSnapshot(4, testConf(), []byte("snapshot data at four")); err != nil {
		t.Fatal(err)
	}
	return opts, w
}

func rawGet(t *testing.T, w *WAL, key []byte) []byte {
	t.Helper()
	var v []byte
	err := w.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatalf("raw get %q: %v", key, err)
	}
	return v
}

func rawSet(t *testing.T, w *WAL, key, value []byte) {
	t.Helper()
	if err := w.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) }); err != nil {
		t.Fatal(err)
	}
}

func rawDelete(t *testing.T, w *WAL, key []byte) {
	t.Helper()
	if err := w.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
		t.Fatal(err)
	}
}

// flip returns v with the byte at i (counted from the end if negative) inverted.
func flip(v []byte, i int) []byte {
	out := append([]byte(nil), v...)
	if i < 0 {
		i += len(out)
	}
	out[i] ^= 0xff
	return out
}

func TestOpenReportsCorruptRecordsByIndex(t *testing.T) {
	cases := []struct {
		name      string
		damage    func(t *testing.T, w *WAL)
		record    string
		index     uint64
		committed bool
	}{
		{"flipped data of a committed entry", func(t *testing.T, w *WAL) {
			rawSet(t, w, entryKey(5), flip(rawGet(t, w, entryKey(5)), -1))
		}, "entry", 5, true},
		{"flipped term of an entry above the commit index", func(t *testing.T, w *WAL) {
			rawSet(t, w, entryKey(9), flip(rawGet(t, w, entryKey(9)), 8))
		}, "entry", 9, false},
		{"flipped checksum", func(t *testing.T, w *WAL) {
			rawSet(t, w, entryKey(2), flip(rawGet(t, w, entryKey(2)), 0))
		}, "entry", 2, true},
		{"torn record", func(t *testing.T, w *WAL) {
			rawSet(t, w, entryKey(6), rawGet(t, w, entryKey(6))[:7])
		}, "entry", 6, true},
		{"record moved to another index", func(t *testing.T, w *WAL) {
			rawSet(t, w, entryKey(3), rawGet(t, w, entryKey(7)))
		}, "entry", 3, true},
		{"missing entry in the middle", func(t *testing.T, w *WAL) {
			rawDelete(t, w, entryKey(7))
		}, "entry", 7, true},
		{"missing last entry", func(t *testing.T, w *WAL) {
			rawDelete(t, w, entryKey(10))
		}, "entry", 10, false},
		{"term going backwards with a valid checksum", func(t *testing.T, w *WAL) {
			rawSet(t, w, entryKey(7), encodeEntry(ent(7, 1)))
		}, "entry", 7, true},
		{"flipped hard state", func(t *testing.T, w *WAL) {
			rawSet(t, w, keyHardState, flip(rawGet(t, w, keyHardState), -1))
		}, "hard state", 0, false},
		{"hard state committing past the log", func(t *testing.T, w *WAL) {
			rawSet(t, w, keyHardState, encodeHardState(consensus.HardState{Term: 2, Commit: 12}))
		}, "log", 11, true},
		{"flipped bounds", func(t *testing.T, w *WAL) {
			rawSet(t, w, keyBounds, flip(rawGet(t, w, keyBounds), 10))
		}, "bounds", 0, false},
		{"missing bounds", func(t *testing.T, w *WAL) {
			rawDelete(t, w, keyBounds)
		}, "bounds", 0, false},
		{"flipped membership", func(t *testing.T, w *WAL) {
			rawSet(t, w, keyConf, flip(rawGet(t, w, keyConf), 6))
		}, "membership", 4, false},
		{"flipped snapshot meta", func(t *testing.T, w *WAL) {
			rawSet(t, w, keySnapMeta, flip(rawGet(t, w, keySnapMeta), 12))
		}, "snapshot meta", 0, false},
		{"flipped applied membership", func(t *testing.T, w *WAL) {
			if err := w.SetConfState(testConf()); err != nil {
				t.Fatal(err)
			}
			rawSet(t, w, keyApplied, flip(rawGet(t, w, keyApplied), -1))
		}, "applied membership", 0, false},
		{"snapshot meta without membership", func(t *testing.T, w *WAL) {
			rawDelete(t, w, keyConf)
		}, "snapshot meta", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts, w := corruptFixture(t)
			c.damage(t, w)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, err := Open(opts)
			ce := wantCorrupt(t, err, c.record, c.index)
			if (c.record == "entry" || c.record == "log") && ce.Committed != c.committed {
				t.Fatalf("Committed = %v, want %v (%v)", ce.Committed, c.committed, err)
			}
			if c.record == "entry" && !c.committed && !strings.Contains(err.Error(), "above the commit index") {
				t.Fatalf("message %q does not say the entry is uncommitted", err)
			}
		})
	}
}

func TestOpenReportsCorruptSnapshotFiles(t *testing.T) {
	path := func(opts Options) string { return filepath.Join(opts.Dir, "snap", snapFileName(1, 4)) }
	rewrite := func(t *testing.T, p string, f func([]byte) []byte) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, p string)
		reason string
	}{
		{"flipped data byte", func(t *testing.T, p string) { rewrite(t, p, func(b []byte) []byte { return flip(b, -3) }) }, "data checksum"},
		{"flipped header byte", func(t *testing.T, p string) { rewrite(t, p, func(b []byte) []byte { return flip(b, 20) }) }, "header checksum"},
		{"bad magic", func(t *testing.T, p string) { rewrite(t, p, func(b []byte) []byte { return flip(b, 0) }) }, "magic"},
		{"another format version", func(t *testing.T, p string) {
			rewrite(t, p, func(b []byte) []byte { b[7] = '2'; return b })
		}, "snapshot file format version 2; this lockd reads snapshot format version 1"},
		{"truncated data", func(t *testing.T, p string) { rewrite(t, p, func(b []byte) []byte { return b[:len(b)-5] }) }, "truncated"},
		{"truncated header", func(t *testing.T, p string) { rewrite(t, p, func(b []byte) []byte { return b[:12] }) }, "truncated header"},
		{"missing", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, "missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts, w := corruptFixture(t)
			c.damage(t, path(opts))
			// The live WAL reports it when asked for the snapshot...
			_, err := w.Snapshot()
			ce := wantCorrupt(t, err, "snapshot file", 4)
			if ce.File != path(opts) || !strings.Contains(ce.Reason, c.reason) {
				t.Fatalf("error %v: want file %s and reason containing %q", err, path(opts), c.reason)
			}
			// ... and Open refuses it.
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = Open(opts)
			if ce := wantCorrupt(t, err, "snapshot file", 4); ce.File != path(opts) {
				t.Fatalf("Open error %v does not name %s", err, path(opts))
			}
		})
	}
}

func TestEntriesReportsACorruptRecordItReads(t *testing.T) {
	_, w := corruptFixture(t)
	rawSet(t, w, entryKey(5), flip(rawGet(t, w, entryKey(5)), -2))
	_, err := w.Entries(3, 8, noLimit)
	if ce := wantCorrupt(t, err, "entry", 5); !ce.Committed {
		t.Fatalf("entry 5 is below the commit index: %v", err)
	}
	rawDelete(t, w, entryKey(6))
	_, err = w.Entries(6, 8, noLimit)
	wantCorrupt(t, err, "entry", 6)
}

func TestOpenRemovesLeftoversOutsideTheLog(t *testing.T) {
	opts, w := corruptFixture(t)
	// Entries beyond the bounds, as an interrupted truncation leaves them.
	rawSet(t, w, entryKey(11), encodeEntry(ent(11, 2)))
	rawSet(t, w, entryKey(12), []byte("not even a record"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A temporary file and an unreferenced snapshot file, as a crash leaves them.
	snapDir := filepath.Join(opts.Dir, "snap")
	for _, n := range []string{snapFileName(2, 9) + tmpExt, snapFileName(2, 9), snapFileName(1, 2)} {
		if err := os.WriteFile(filepath.Join(snapDir, n), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w = mustOpen(t, opts)
	wantBounds(t, w, 1, 10)
	if keys := entryKeys(t, w); len(keys) != 10 || keys[9] != 10 {
		t.Fatalf("entry keys = %v, want 1..10", keys)
	}
	if files := snapFiles(t, opts.Dir); len(files) != 1 || files[0] != snapFileName(1, 4) {
		t.Fatalf("snapshot files = %v, want only the referenced one", files)
	}
}

func TestOpenSurvivesEmptyBadgerLogFilesLeftByACrash(t *testing.T) {
	// Reference: dgraph-io/badger#2207 — Badger v4 refuses to open with a
	// zero-length .mem file, which a kill right after creating it leaves.
	opts, w := corruptFixture(t)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"00099.mem", "000099.vlog"} {
		if err := os.WriteFile(filepath.Join(opts.Dir, "badger", n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w = mustOpen(t, opts)
	wantBounds(t, w, 1, 10)
	wantEntries(t, w, 9, 11, ents(9, 10, 2))
}
