package wal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

// A meta record survives a reopen, is replaced by a later SetMeta, and
// leaves the log (and an empty WAL's emptiness) alone.
func TestMetaRecordsSurviveReopenAndLeaveTheLogAlone(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	if v, err := w.Meta("cluster"); err != nil || v != nil {
		t.Fatalf("Meta of a new WAL = %q, %v; want nil, nil", v, err)
	}
	if err := w.SetMeta("cluster", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := w.SetMeta("cluster", []byte("second")); err != nil {
		t.Fatal(err)
	}
	w = reopen(t, w)
	if v, err := w.Meta("cluster"); err != nil || !bytes.Equal(v, []byte("second")) {
		t.Fatalf("Meta after reopen = %q, %v; want second", v, err)
	}
	if last, err := w.LastIndex(); err != nil || last != 0 {
		t.Fatalf("LastIndex = %d, %v: a meta record is not a log entry", last, err)
	}
	hs, _, err := w.InitialState()
	if err != nil || hs != (consensus.HardState{}) {
		t.Fatalf("InitialState = %+v, %v", hs, err)
	}
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 3}, ents(1, 3, 1), nil)
	w = reopen(t, w)
	if v, err := w.Meta("cluster"); err != nil || !bytes.Equal(v, []byte("second")) {
		t.Fatalf("Meta after entries and a reopen = %q, %v", v, err)
	}
	if err := w.SetMeta("", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SetMeta with no name: %v, want ErrInvalidArgument", err)
	}
}

// A meta record whose bytes changed fails its checksum.
func TestCorruptMetaRecordIsReported(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	if err := w.SetMeta("cluster", []byte("value")); err != nil {
		t.Fatal(err)
	}
	err := w.db.Update(func(txn *badger.Txn) error {
		return txn.Set(metaKey("cluster"), seal(metaKey("other"), []byte{recordVersion, 'x'}))
	})
	if err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := w.Meta("cluster"); !errors.As(err, &ce) {
		t.Fatalf("Meta of a corrupt record: %v, want *CorruptError", err)
	}
}
