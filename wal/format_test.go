package wal

import (
	"errors"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/lockd/lockd/consensus"
)

// setRaw writes a raw Badger record, as another build would have.
func setRaw(t *testing.T, w *WAL, key, value []byte) {
	t.Helper()
	if err := w.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) }); err != nil {
		t.Fatal(err)
	}
}

// A data directory of a format version this build does not know is
// refused at Open with both versions named; the same directory at the
// known version opens (the negative control), and one without a format
// record (written before it existed) opens and gets one.
func TestDataDirectoryOfAnUnknownFormatVersionIsRefusedNamingBoth(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, testOptions(dir))
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 3}, ents(1, 3, 1), nil)
	setRaw(t, w, keyFormat, encodeFormat(FormatVersion+1))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(testOptions(dir))
	var fe *FormatError
	if !errors.Is(err, ErrUnknownFormat) || !errors.As(err, &fe) || fe.Found != FormatVersion+1 || fe.Known != FormatVersion {
		t.Fatalf("Open of a directory of format %d: %v, want a *FormatError", FormatVersion+1, err)
	}
	for _, want := range []string{"format version 2", "reads format version 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%q does not say %q", err, want)
		}
	}

	w = mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 3}, ents(1, 3, 1), nil)
	setRaw(t, w, keyFormat, encodeFormat(FormatVersion))
	w = reopen(t, w)
	wantBounds(t, w, 1, 3)

	// Before the format record: none, and Open records the version.
	if err := w.db.Update(func(txn *badger.Txn) error { return txn.Delete(keyFormat) }); err != nil {
		t.Fatal(err)
	}
	w = reopen(t, w)
	wantBounds(t, w, 1, 3)
	if err := w.db.View(func(txn *badger.Txn) error { _, err := txn.Get(keyFormat); return err }); err != nil {
		t.Fatalf("the format record after opening a directory without one: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A record of an unknown record version is reported as corrupt with both
// versions in the reason.
func TestRecordOfAnUnknownVersionNamesBothVersions(t *testing.T) {
	_, bad := unseal(keyHardState, seal(keyHardState, []byte{recordVersion + 1, 0}))
	if !strings.Contains(bad, "record format version 2") || !strings.Contains(bad, "reads record version 1") {
		t.Fatalf("reason %q", bad)
	}
	if _, bad := unseal(keyHardState, seal(keyHardState, []byte{recordVersion, 0})); bad != "" {
		t.Fatalf("a record of the known version: %q", bad)
	}
}
