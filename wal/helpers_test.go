package wal

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

const noLimit = math.MaxUint64

// testOptions are DefaultOptions in dir with a small tail.
func testOptions(dir string) Options {
	o := DefaultOptions(dir)
	o.KeepTail = 10
	o.MemTableSize = 1 << 20
	o.ValueLogFileSize = 1 << 20
	return o
}

func mustOpen(t testing.TB, opts Options) *WAL {
	t.Helper()
	w, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func reopen(t testing.TB, w *WAL) *WAL {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return mustOpen(t, w.opts)
}

// ent is entry i of term t with data naming both.
func ent(i, t uint64) consensus.Entry {
	return consensus.Entry{Index: i, Term: t, Data: []byte(fmt.Sprintf("entry %d of term %d", i, t))}
}

func ents(lo, hi, t uint64) []consensus.Entry {
	var out []consensus.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, ent(i, t))
	}
	return out
}

func mustSave(t testing.TB, w *WAL, hs consensus.HardState, es []consensus.Entry, snap *consensus.Snapshot) {
	t.Helper()
	if err := w.Save(hs, es, snap); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

func mustEntries(t testing.TB, w *WAL, lo, hi uint64) []consensus.Entry {
	t.Helper()
	es, err := w.Entries(lo, hi, noLimit)
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", lo, hi, err)
	}
	return es
}

func equalEntries(a, b []consensus.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y consensus.Entry) bool {
		return x.Index == y.Index && x.Term == y.Term && x.Type == y.Type && string(x.Data) == string(y.Data)
	})
}

func wantEntries(t testing.TB, w *WAL, lo, hi uint64, want []consensus.Entry) {
	t.Helper()
	if got := mustEntries(t, w, lo, hi); !equalEntries(got, want) {
		t.Fatalf("Entries(%d, %d) = %v, want %v", lo, hi, got, want)
	}
}

func wantBounds(t testing.TB, w *WAL, first, last uint64) {
	t.Helper()
	f, err1 := w.FirstIndex()
	l, err2 := w.LastIndex()
	if err1 != nil || err2 != nil || f != first || l != last {
		t.Fatalf("FirstIndex, LastIndex = %d (%v), %d (%v); want %d, %d", f, err1, l, err2, first, last)
	}
}

func wantTerm(t testing.TB, w *WAL, i, term uint64) {
	t.Helper()
	got, err := w.Term(i)
	if err != nil || got != term {
		t.Fatalf("Term(%d) = %d, %v; want %d", i, got, err, term)
	}
}

// entryKeys lists the indexes of all entry keys in Badger, garbage included.
func entryKeys(t testing.TB, w *WAL) []uint64 {
	t.Helper()
	var out []uint64
	err := w.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixEntry}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			i, _ := entryIndex(it.Item().Key())
			out = append(out, i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func snapFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, "snap"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func testConf() consensus.ConfState {
	return consensus.ConfState{
		Voters:   []consensus.NodeID{"n1", "n2", "n3"},
		Learners: []consensus.NodeID{"n4"},
		Addrs:    map[consensus.NodeID]string{"n1": "127.0.0.1:1", "n2": "127.0.0.1:2", "n3": "127.0.0.1:3", "n4": "127.0.0.1:4"},
	}
}

func wantCorrupt(t testing.TB, err error, record string, index uint64) *CorruptError {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("error %v, want a *CorruptError", err)
	}
	if ce.Record != record || ce.Index != index {
		t.Fatalf("corrupt %q at %d (%v), want %q at %d", ce.Record, ce.Index, err, record, index)
	}
	return ce
}
