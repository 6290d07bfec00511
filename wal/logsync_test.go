package wal

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockd/lockd/consensus"
)

// syncWatch records what the WAL's logSyncer fsyncs.
type syncWatch struct {
	files []string // base names, in order
	dirs  int
	fail  error
}

func watchSyncs(t *testing.T, w *WAL) *syncWatch {
	t.Helper()
	if w.syncer == nil {
		t.Fatal("WAL has no log syncer")
	}
	sw := &syncWatch{}
	w.syncer.syncFile = func(f *os.File) error {
		sw.files = append(sw.files, filepath.Base(f.Name()))
		if sw.fail != nil {
			return sw.fail
		}
		return f.Sync()
	}
	w.syncer.syncDir = func(dir string) error {
		sw.dirs++
		return syncDir(dir)
	}
	return sw
}

// badgerFiles lists Badger's files in w's directory with the given suffix.
func badgerFiles(t *testing.T, w *WAL, suffix string) []string {
	t.Helper()
	des, err := os.ReadDir(w.syncer.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), suffix) {
			out = append(out, de.Name())
		}
	}
	return out
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// Every commit must end with an fsync of the memtable file that holds it:
// Badger runs without SyncWrites, so nothing else makes it durable.
func TestSaveSyncsEveryMemtableFileAndNotTheValueLog(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	sw := watchSyncs(t, w)
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 0}, ents(1, 3, 1), nil)
	mems := badgerFiles(t, w, ".mem")
	if len(mems) == 0 {
		t.Fatal("no memtable file in Badger's directory: the naming the WAL relies on changed")
	}
	if got := uniq(sw.files); !slices.Equal(got, mems) {
		t.Fatalf("synced %v, want every memtable file %v", got, mems)
	}
	sw.files = nil
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 3}, nil, nil)
	if got := uniq(sw.files); !slices.Equal(got, badgerFiles(t, w, ".mem")) {
		t.Fatalf("hard-state-only save synced %v, want the memtable files", got)
	}
	for _, f := range sw.files {
		if strings.HasSuffix(f, ".vlog") {
			t.Fatalf("synced value log %s although no value went there", f)
		}
	}
}

// A value at or above Badger's value threshold goes to the value log, so
// that commit must sync the value-log files too.
func TestSaveOfLargeEntrySyncsTheValueLog(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	sw := watchSyncs(t, w)
	big := consensus.Entry{Index: 1, Term: 1, Data: make([]byte, w.valueThreshold)}
	mustSave(t, w, consensus.HardState{}, []consensus.Entry{big}, nil)
	vlogs := badgerFiles(t, w, ".vlog")
	if len(vlogs) == 0 {
		t.Fatal("no value-log file in Badger's directory")
	}
	got := uniq(sw.files)
	for _, v := range vlogs {
		if !slices.Contains(got, v) {
			t.Fatalf("synced %v, missing value log %s", got, v)
		}
	}
	// The next small save does not sync the value log again.
	sw.files = nil
	mustSave(t, w, consensus.HardState{}, ents(2, 2, 1), nil)
	for _, f := range sw.files {
		if strings.HasSuffix(f, ".vlog") {
			t.Fatalf("small save synced value log %s", f)
		}
	}
	wantEntries(t, reopen(t, w), 1, 3, []consensus.Entry{big, ent(2, 1)})
}

// A memtable file seen for the first time gets its directory synced once,
// including the one Badger creates when it rotates a full memtable.
func TestNewMemtableFileSyncsTheDirectory(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir())) // 1 MiB memtables
	sw := watchSyncs(t, w)
	mustSave(t, w, consensus.HardState{}, ents(1, 1, 1), nil)
	if sw.dirs != 1 {
		t.Fatalf("first save synced the directory %d times, want 1", sw.dirs)
	}
	mustSave(t, w, consensus.HardState{}, ents(2, 2, 1), nil)
	if sw.dirs != 1 {
		t.Fatalf("second save synced the directory again (%d)", sw.dirs)
	}
	first := badgerFiles(t, w, ".mem")
	data := make([]byte, 8<<10)
	next := uint64(3)
	for i := 0; i < 400 && slices.Equal(badgerFiles(t, w, ".mem"), first); i++ {
		batch := make([]consensus.Entry, 8)
		for k := range batch {
			batch[k] = consensus.Entry{Index: next, Term: 1, Data: data}
			next++
		}
		sw.files = nil
		mustSave(t, w, consensus.HardState{}, batch, nil)
	}
	now := badgerFiles(t, w, ".mem")
	if slices.Equal(now, first) {
		t.Fatalf("Badger never rotated its memtable (files %v)", now)
	}
	if sw.dirs < 2 {
		t.Fatalf("directory synced %d times, want again for the new memtable file", sw.dirs)
	}
	for _, m := range now {
		if !slices.Contains(sw.files, m) && !slices.Contains(first, m) {
			t.Fatalf("new memtable file %s was not synced (synced %v)", m, sw.files)
		}
	}
}

// A failed fsync fails the WAL for good, like a failed Badger commit.
func TestFailedLogSyncFailsTheWAL(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	sw := watchSyncs(t, w)
	mustSave(t, w, consensus.HardState{}, ents(1, 1, 1), nil)
	injected := errors.New("injected EIO")
	sw.fail = injected
	err := w.Save(consensus.HardState{}, ents(2, 2, 1), nil)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, injected) {
		t.Fatalf("Save with failing fsync = %v, want ErrFailed wrapping the cause", err)
	}
	sw.fail = nil
	if err := w.Save(consensus.HardState{}, ents(2, 2, 1), nil); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save after a failed fsync = %v, want ErrFailed", err)
	}
}

// With UnsafeNoSync there is nothing to sync.
func TestUnsafeNoSyncHasNoLogSyncer(t *testing.T) {
	o := testOptions(t.TempDir())
	o.UnsafeNoSync = true
	w := mustOpen(t, o)
	if w.syncer != nil {
		t.Fatal("UnsafeNoSync WAL syncs Badger's logs")
	}
	mustSave(t, w, consensus.HardState{}, ents(1, 1, 1), nil)
}

// Small commits with one memtable file skip the directory listing (a
// rotation, which creates the next file name, is still seen: see
// TestNewMemtableFileSyncsTheDirectory).
func TestSyncListsTheDirectoryOnlyWhenBadgerMayHaveRotated(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir())) // 1 MiB memtables
	sw := watchSyncs(t, w)
	mustSave(t, w, consensus.HardState{}, ents(1, 1, 1), nil)
	base := w.syncer.listings
	for i := uint64(2); i <= 20; i++ {
		sw.files = nil
		mustSave(t, w, consensus.HardState{}, ents(i, i, 1), nil)
		if got := uniq(sw.files); !slices.Equal(got, badgerFiles(t, w, ".mem")) {
			t.Fatalf("save %d synced %v, want the memtable file", i, got)
		}
	}
	if w.syncer.listings != base {
		t.Fatalf("small saves listed the directory %d times", w.syncer.listings-base)
	}
}
