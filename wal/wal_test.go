package wal

import (
	"errors"
	"testing"

	"github.com/lockd/lockd/consensus"
)

func TestEmptyLogAnswersLikeANewJoiner(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	wantBounds(t, w, 1, 0)
	wantTerm(t, w, 0, 0)
	if _, err := w.Term(1); !errors.Is(err, consensus.ErrUnavailable) {
		t.Fatalf("Term(1) = %v, want ErrUnavailable", err)
	}
	hs, cs, err := w.InitialState()
	if err != nil || !hs.IsEmpty() || len(cs.Voters) != 0 {
		t.Fatalf("InitialState = %+v, %+v, %v", hs, cs, err)
	}
	snap, err := w.Snapshot()
	if err != nil || !snap.IsEmpty() {
		t.Fatalf("Snapshot = %+v, %v", snap, err)
	}
	if es, err := w.Entries(1, 1, noLimit); err != nil || len(es) != 0 {
		t.Fatalf("Entries(1,1) = %v, %v", es, err)
	}
}

func TestHardStateAloneSurvivesReopenOfAnEmptyLog(t *testing.T) {
	// A joining node votes before it has any entry: only the hard state is saved.
	w := mustOpen(t, testOptions(t.TempDir()))
	hs := consensus.HardState{Term: 5, Vote: "n3"}
	mustSave(t, w, hs, nil, nil)
	w = reopen(t, w)
	wantBounds(t, w, 1, 0)
	if got, _, err := w.InitialState(); err != nil || got != hs {
		t.Fatalf("InitialState = %+v, %v; want %+v", got, err, hs)
	}
}

func TestSaveAppendsEntriesAndHardState(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	hs := consensus.HardState{Term: 2, Vote: "n2", Commit: 3}
	mustSave(t, w, hs, append(ents(1, 3, 1), ents(4, 6, 2)...), nil)
	wantBounds(t, w, 1, 6)
	wantTerm(t, w, 0, 0)
	wantTerm(t, w, 3, 1)
	wantTerm(t, w, 4, 2)
	wantTerm(t, w, 6, 2)
	wantEntries(t, w, 2, 5, []consensus.Entry{ent(2, 1), ent(3, 1), ent(4, 2)})
	got, _, err := w.InitialState()
	if err != nil || got != hs {
		t.Fatalf("InitialState hard state = %+v, %v; want %+v", got, err, hs)
	}
	// A zero hard state leaves the saved one alone.
	mustSave(t, w, consensus.HardState{}, ents(7, 7, 2), nil)
	if got, _, _ := w.InitialState(); got != hs {
		t.Fatalf("hard state after zero save = %+v, want %+v", got, hs)
	}
}

func TestSaveTruncatesConflictingSuffix(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 4}, ents(1, 10, 1), nil)
	mustSave(t, w, consensus.HardState{Term: 2, Commit: 4}, ents(6, 7, 2), nil)
	wantBounds(t, w, 1, 7)
	wantTerm(t, w, 5, 1)
	wantTerm(t, w, 6, 2)
	if _, err := w.Term(8); !errors.Is(err, consensus.ErrUnavailable) {
		t.Fatalf("Term(8) after truncation = %v, want ErrUnavailable", err)
	}
	want := append(ents(1, 5, 1), ents(6, 7, 2)...)
	wantEntries(t, w, 1, 8, want)
	if keys := entryKeys(t, w); len(keys) != 7 || keys[6] != 7 {
		t.Fatalf("entry keys after truncation = %v, want 1..7 (stale suffix deleted)", keys)
	}
	w = reopen(t, w)
	wantBounds(t, w, 1, 7)
	wantEntries(t, w, 1, 8, want)
}

func TestSaveRejectsInvalidLogChangesAndWritesNothing(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 3, Commit: 5}, append(ents(1, 5, 2), ents(6, 8, 3)...), nil)
	bad := func(i, term uint64, data string) consensus.Entry {
		return consensus.Entry{Index: i, Term: term, Data: []byte(data)}
	}
	cases := []struct {
		name string
		hs   consensus.HardState
		es   []consensus.Entry
	}{
		{"gap after last", consensus.HardState{}, ents(10, 11, 3)},
		{"not contiguous", consensus.HardState{}, []consensus.Entry{ent(9, 3), ent(11, 3)}},
		{"term goes back inside batch", consensus.HardState{}, []consensus.Entry{ent(9, 3), ent(10, 2)}},
		{"term below previous entry", consensus.HardState{}, ents(9, 9, 2)},
		{"overwrites committed entry", consensus.HardState{}, []consensus.Entry{bad(5, 3, "other")}},
		{"hard state term goes back", consensus.HardState{Term: 2, Commit: 5}, nil},
		{"hard state commit goes back", consensus.HardState{Term: 3, Commit: 4}, nil},
		{"commit beyond last index", consensus.HardState{Term: 3, Commit: 9}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := w.Save(c.hs, c.es, nil); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Save = %v, want ErrInvalidArgument", err)
			}
		})
	}
	w = reopen(t, w)
	wantBounds(t, w, 1, 8)
	wantEntries(t, w, 1, 9, append(ents(1, 5, 2), ents(6, 8, 3)...))
	if hs, _, _ := w.InitialState(); hs != (consensus.HardState{Term: 3, Commit: 5}) {
		t.Fatalf("hard state = %+v after refused saves", hs)
	}
	// A refused argument does not fail the WAL.
	mustSave(t, w, consensus.HardState{}, ents(9, 9, 3), nil)
}

func TestSaveSkipsCommittedEntriesItAlreadyHas(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 5}, ents(1, 6, 1), nil)
	// A resent prefix that matches is skipped; the new tail is appended.
	mustSave(t, w, consensus.HardState{}, append(ents(4, 5, 1), ent(6, 2)), nil)
	wantBounds(t, w, 1, 6)
	wantTerm(t, w, 6, 2)
	wantEntries(t, w, 4, 7, []consensus.Entry{ent(4, 1), ent(5, 1), ent(6, 2)})
}

func TestEntriesLimitsBytesAfterTheFirst(t *testing.T) {
	for _, cache := range []struct {
		name  string
		bytes int
	}{{"cached", 1 << 20}, {"uncached", 0}, {"partly cached", 5 * 40}} {
		t.Run(cache.name, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			opts.CacheBytes = cache.bytes
			w := mustOpen(t, opts)
			var es []consensus.Entry
			for i := uint64(1); i <= 20; i++ {
				es = append(es, consensus.Entry{Index: i, Term: 1, Data: make([]byte, 24)}) // size 40
			}
			mustSave(t, w, consensus.HardState{Term: 1}, es, nil)
			for _, c := range []struct{ lo, hi, max, want uint64 }{
				{1, 21, 0, 1},    // the first entry always comes back
				{1, 21, 39, 1},   // ... even when larger than the limit
				{1, 21, 80, 2},   // two fit exactly
				{1, 21, 119, 2},  // not three
				{12, 20, 120, 3}, // inside the cached part
				{13, 21, 400, 8}, // limited by hi
				{1, 21, noLimit, 20},
			} {
				got, err := w.Entries(c.lo, c.hi, c.max)
				if err != nil || uint64(len(got)) != c.want || got[0].Index != c.lo {
					t.Fatalf("Entries(%d, %d, %d) = %d entries, %v; want %d from %d", c.lo, c.hi, c.max, len(got), err, c.want, c.lo)
				}
				for k, e := range got {
					if e.Index != c.lo+uint64(k) {
						t.Fatalf("Entries(%d, %d, %d) not contiguous: %v", c.lo, c.hi, c.max, got)
					}
				}
			}
		})
	}
}

func TestStorageErrorsAtTheBoundsOfTheLog(t *testing.T) {
	// Reference: consensus/storage.go, Storage.Entries and Storage.Term.
	opts := testOptions(t.TempDir())
	opts.KeepTail = 0
	w := mustOpen(t, opts)
	mustSave(t, w, consensus.HardState{Term: 2, Commit: 8}, append(ents(1, 4, 1), ents(5, 10, 2)...), nil)
	if _, err := w.CreateSnapshot(6, testConf(), []byte("state at 6")); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(7); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, w, 7, 10)
	wantTerm(t, w, 6, 2) // FirstIndex()-1 still answers
	for _, c := range []struct {
		name   string
		lo, hi uint64
		want   error
	}{
		{"below first", 6, 8, consensus.ErrCompacted},
		{"far below first", 1, 11, consensus.ErrCompacted},
		{"past last", 7, 12, consensus.ErrUnavailable},
		{"reversed", 9, 8, ErrInvalidArgument},
	} {
		if _, err := w.Entries(c.lo, c.hi, noLimit); !errors.Is(err, c.want) {
			t.Errorf("%s: Entries(%d, %d) = %v, want %v", c.name, c.lo, c.hi, err, c.want)
		}
	}
	if _, err := w.Term(5); !errors.Is(err, consensus.ErrCompacted) {
		t.Errorf("Term(5) = %v, want ErrCompacted", err)
	}
	if _, err := w.Term(11); !errors.Is(err, consensus.ErrUnavailable) {
		t.Errorf("Term(11) = %v, want ErrUnavailable", err)
	}
	wantEntries(t, w, 7, 11, append([]consensus.Entry{ent(7, 2)}, ents(8, 10, 2)...))
}

func TestBootstrapSnapshotStartsTheLogAfterIt(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	boot := consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: 1, Term: 1, Conf: testConf()}}
	mustSave(t, w, consensus.HardState{Term: 1}, nil, &boot)
	check := func(w *WAL) {
		t.Helper()
		wantBounds(t, w, 2, 1)
		wantTerm(t, w, 1, 1)
		hs, cs, err := w.InitialState()
		if err != nil || hs != (consensus.HardState{Term: 1}) || len(cs.Voters) != 3 || cs.Addrs["n4"] != "127.0.0.1:4" {
			t.Fatalf("InitialState = %+v, %+v, %v", hs, cs, err)
		}
		s, err := w.Snapshot()
		if err != nil || s.Meta.Index != 1 || s.Meta.Term != 1 || len(s.Data) != 0 || len(s.Meta.Conf.Learners) != 1 {
			t.Fatalf("Snapshot = %+v, %v", s, err)
		}
	}
	check(w)
	w = reopen(t, w)
	check(w)
	mustSave(t, w, consensus.HardState{Term: 2, Vote: "n1", Commit: 2}, ents(2, 2, 2), nil)
	wantEntries(t, w, 2, 3, ents(2, 2, 2))
}

func TestSaveSnapshotThatDoesNotMatchReplacesTheLog(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 3}, ents(1, 8, 1), nil)
	snap := consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: 6, Term: 3, Conf: testConf()}, Data: []byte("leader state")}
	mustSave(t, w, consensus.HardState{Term: 3, Commit: 7}, ents(7, 7, 3), &snap)
	wantBounds(t, w, 7, 7)
	wantTerm(t, w, 6, 3)
	wantEntries(t, w, 7, 8, ents(7, 7, 3))
	if keys := entryKeys(t, w); len(keys) != 1 || keys[0] != 7 {
		t.Fatalf("entry keys = %v, want [7]", keys)
	}
	if files := snapFiles(t, w.opts.Dir); len(files) != 1 || files[0] != snapFileName(3, 6) {
		t.Fatalf("snapshot files = %v", files)
	}
	w = reopen(t, w)
	wantBounds(t, w, 7, 7)
	s, err := w.Snapshot()
	if err != nil || string(s.Data) != "leader state" || s.Meta.Index != 6 {
		t.Fatalf("Snapshot = %+v, %v", s, err)
	}
}

func TestSaveSnapshotReplacesTheLogEvenWhereItMatches(t *testing.T) {
	// Reference: consensus.Ready.Snapshot, "persisted (replacing the log)".
	w := mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 2, Commit: 3}, append(ents(1, 4, 1), ents(5, 9, 2)...), nil)
	snap := consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: 6, Term: 2, Conf: testConf()}, Data: []byte("s")}
	mustSave(t, w, consensus.HardState{}, nil, &snap)
	wantBounds(t, w, 7, 6)
	wantTerm(t, w, 6, 2)
	if keys := entryKeys(t, w); len(keys) != 0 {
		t.Fatalf("entry keys after the snapshot = %v, want none", keys)
	}
	if err := w.Save(consensus.HardState{}, nil, &snap); !errors.Is(err, consensus.ErrSnapshotOutOfDate) {
		t.Fatalf("saving the same snapshot again = %v, want ErrSnapshotOutOfDate", err)
	}
	w = reopen(t, w)
	wantBounds(t, w, 7, 6)
}

func TestSetConfStateRecordsAppliedMembershipUntilASnapshotArrives(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	boot := consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: 1, Term: 1, Conf: consensus.ConfState{Voters: []consensus.NodeID{"n1"}}}}
	mustSave(t, w, consensus.HardState{Term: 1}, nil, &boot)
	applied := testConf()
	if err := w.SetConfState(applied); err != nil {
		t.Fatal(err)
	}
	w = reopen(t, w)
	if _, cs, err := w.InitialState(); err != nil || len(cs.Voters) != 3 || cs.Addrs["n4"] != "127.0.0.1:4" {
		t.Fatalf("InitialState membership = %+v, %v; want the applied one", cs, err)
	}
	if s, _ := w.Snapshot(); len(s.Meta.Conf.Voters) != 1 {
		t.Fatalf("snapshot membership changed to %+v", s.Meta.Conf)
	}
	// An installed snapshot supersedes the applied membership.
	snap := consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: 5, Term: 2, Conf: consensus.ConfState{Voters: []consensus.NodeID{"n2"}}}}
	mustSave(t, w, consensus.HardState{Term: 2, Commit: 5}, nil, &snap)
	w = reopen(t, w)
	if _, cs, _ := w.InitialState(); len(cs.Voters) != 1 || cs.Voters[0] != "n2" {
		t.Fatalf("InitialState membership after a snapshot = %+v", cs)
	}
}

func TestCreateSnapshotAndCompactKeepATail(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.KeepTail = 10
	w := mustOpen(t, opts)
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 90}, ents(1, 100, 1), nil)
	if _, err := w.CreateSnapshot(50, testConf(), []byte("at 50")); err != nil {
		t.Fatal(err)
	}
	s, err := w.CreateSnapshot(80, testConf(), []byte("at 80"))
	if err != nil || s.Meta.Index != 80 || s.Meta.Term != 1 {
		t.Fatalf("CreateSnapshot = %+v, %v", s, err)
	}
	if files := snapFiles(t, dir); len(files) != 1 || files[0] != snapFileName(1, 80) {
		t.Fatalf("snapshot files = %v, want only the latest", files)
	}
	if err := w.Compact(82); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Compact past the snapshot = %v, want ErrInvalidArgument", err)
	}
	if err := w.Compact(81); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, w, 71, 100)
	wantTerm(t, w, 70, 1)
	if keys := entryKeys(t, w); len(keys) != 30 || keys[0] != 71 {
		t.Fatalf("entry keys after compaction: %d from %v", len(keys), keys[:1])
	}
	// Compacting to the same point again, or lower, does nothing.
	if err := w.Compact(60); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, w, 71, 100)
	w = reopen(t, w)
	wantBounds(t, w, 71, 100)
	wantEntries(t, w, 71, 101, ents(71, 100, 1))
	got, err := w.Snapshot()
	if err != nil || string(got.Data) != "at 80" || got.Meta.Index != 80 || len(got.Meta.Conf.Voters) != 3 {
		t.Fatalf("Snapshot after reopen = %+v, %v", got, err)
	}
}

func TestCreateSnapshotRefusesIndexesItCannotCover(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.KeepTail = 0
	w := mustOpen(t, opts)
	mustSave(t, w, consensus.HardState{Term: 1, Commit: 8}, ents(1, 10, 1), nil)
	if _, err := w.CreateSnapshot(5, testConf(), nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(6); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		index uint64
		want  error
	}{
		{5, consensus.ErrSnapshotOutOfDate},
		{9, ErrInvalidArgument}, // beyond the commit index
		{11, consensus.ErrUnavailable},
	} {
		if _, err := w.CreateSnapshot(c.index, testConf(), nil); !errors.Is(err, c.want) {
			t.Errorf("CreateSnapshot(%d) = %v, want %v", c.index, err, c.want)
		}
	}
}

func TestReopenPreservesEverything(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	hs := consensus.HardState{Term: 4, Vote: "n3", Commit: 30}
	var es []consensus.Entry
	for i := uint64(1); i <= 40; i++ {
		e := ent(i, 1+i/10)
		e.Type = consensus.EntryType(i % 3)
		if i%7 == 0 {
			e.Data = nil
		}
		es = append(es, e)
	}
	mustSave(t, w, hs, es, nil)
	if _, err := w.CreateSnapshot(25, testConf(), []byte("twenty-five")); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(26); err != nil {
		t.Fatal(err)
	}
	w = reopen(t, w)
	wantBounds(t, w, 16, 40)
	wantEntries(t, w, 16, 41, es[15:])
	gotHS, cs, err := w.InitialState()
	if err != nil || gotHS != hs || cs.Addrs["n2"] != "127.0.0.1:2" || cs.Learners[0] != "n4" {
		t.Fatalf("InitialState = %+v, %+v, %v", gotHS, cs, err)
	}
	s, err := w.Snapshot()
	if err != nil || s.Meta.Index != 25 || s.Meta.Term != 3 || string(s.Data) != "twenty-five" {
		t.Fatalf("Snapshot = %+v, %v", s, err)
	}
}

func TestFailedCommitFailsTheWALForGood(t *testing.T) {
	for _, stage := range []string{"commit", "snapshot file"} {
		t.Run(stage, func(t *testing.T) {
			w := mustOpen(t, testOptions(t.TempDir()))
			mustSave(t, w, consensus.HardState{Term: 1, Commit: 5}, ents(1, 5, 1), nil)
			injected := errors.New("injected fsync failure")
			w.failPoint = func(s string) error {
				if s == stage {
					return injected
				}
				return nil
			}
			var err error
			if stage == "commit" {
				err = w.Save(consensus.HardState{}, ents(6, 6, 1), nil)
			} else {
				_, err = w.CreateSnapshot(5, testConf(), []byte("x"))
			}
			if !errors.Is(err, ErrFailed) || !errors.Is(err, injected) {
				t.Fatalf("failing write = %v, want ErrFailed wrapping the cause", err)
			}
			w.failPoint = nil // the disk "recovers": the WAL must not
			if err := w.Save(consensus.HardState{}, ents(7, 7, 1), nil); !errors.Is(err, ErrFailed) {
				t.Fatalf("Save after failure = %v, want ErrFailed", err)
			}
			if _, err := w.CreateSnapshot(5, testConf(), nil); !errors.Is(err, ErrFailed) {
				t.Fatalf("CreateSnapshot after failure = %v", err)
			}
			if err := w.Compact(1); !errors.Is(err, ErrFailed) {
				t.Fatalf("Compact after failure = %v", err)
			}
			if _, err := w.Term(1); !errors.Is(err, ErrFailed) {
				t.Fatalf("Term after failure = %v", err)
			}
			if _, err := w.Entries(1, 2, noLimit); !errors.Is(err, ErrFailed) {
				t.Fatalf("Entries after failure = %v", err)
			}
			if _, _, err := w.InitialState(); !errors.Is(err, ErrFailed) {
				t.Fatalf("InitialState after failure = %v", err)
			}
			if _, err := w.Snapshot(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Snapshot after failure = %v", err)
			}
		})
	}
}

func TestSyncFailureBadgerOnlyLogsFailsTheWAL(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 1}, ents(1, 2, 1), nil)
	// What Badger's value log does when its fsync fails: log, not return.
	newBadgerLogger(nil, w.noteBackgroundError).Errorf("Error while curlf sync: %v\n", errors.New("EIO"))
	err := w.Save(consensus.HardState{}, ents(3, 3, 1), nil)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, ErrBackground) {
		t.Fatalf("Save after a logged sync failure = %v, want ErrFailed", err)
	}
	if _, err := w.LastIndex(); !errors.Is(err, ErrFailed) {
		t.Fatalf("LastIndex = %v, want ErrFailed", err)
	}
}

func TestClosedWALReturnsErrClosed(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := w.Save(consensus.HardState{Term: 1}, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v", err)
	}
	if _, err := w.LastIndex(); !errors.Is(err, ErrClosed) {
		t.Fatalf("LastIndex after Close = %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions("/x").Validate(); err != nil {
		t.Fatalf("DefaultOptions invalid: %v", err)
	}
	for name, mut := range map[string]func(*Options){
		"no dir":             func(o *Options) { o.Dir = "" },
		"negative cache":     func(o *Options) { o.CacheBytes = -1 },
		"tiny memtable":      func(o *Options) { o.MemTableSize = 1000 },
		"huge value log":     func(o *Options) { o.ValueLogFileSize = 4 << 30 },
		"negative blk cache": func(o *Options) { o.BlockCacheSize = -1 },
	} {
		o := DefaultOptions(t.TempDir())
		mut(&o)
		if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: Validate = %v", name, err)
		}
		if _, err := Open(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: Open = %v", name, err)
		}
	}
}

// Durability comes from the WAL's own log syncer, never from Badger's
// SyncWrites (which would flush the device twice per commit): a default WAL
// has the syncer, an UnsafeNoSync one has none (TestUnsafeNoSyncHasNoLogSyncer).
func TestDefaultWALSyncsBadgerLogsItself(t *testing.T) {
	if badgerOptions("/x", DefaultOptions("/x"), newBadgerLogger(nil, nil)).SyncWrites {
		t.Fatal("Badger opened with SyncWrites: every commit would pay for two device flushes")
	}
	w := mustOpen(t, testOptions(t.TempDir()))
	if w.syncer == nil {
		t.Fatal("default WAL has no log syncer: commits would not be durable")
	}
}
