package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
)

// WAL is the durable Raft log. It implements consensus.Storage; Save,
// CreateSnapshot and Compact are its write side. All methods are safe for
// concurrent use; writes are serialised.
type WAL struct {
	opts    Options
	log     hclog.Logger
	db      *badger.DB
	snapDir string

	// writeMu serialises the writers (Save, CreateSnapshot, Compact, Close).
	// A writer reads st without mu: only writers change it.
	writeMu sync.Mutex

	// mu guards st, failed and closed. Writers change them only while
	// holding both writeMu and mu; readers hold mu.RLock for a whole call,
	// including their Badger reads.
	mu     sync.RWMutex
	st     state
	failed error // first write failure; never cleared
	closed bool

	// failPoint, when set by a test, is called after each durable step
	// ("commit", "snapshot file"); an error is treated as that step failing.
	failPoint func(stage string) error

	// syncErr holds a failure Badger reported only to its logger (a
	// sync, a memtable flush; see badgerLogger), wrapped in
	// ErrBackground; the next commit check fails on it.
	syncErr atomic.Pointer[error]
	// failedErr mirrors failed for Health, which must not wait on mu
	// while a stalled writer holds it.
	failedErr atomic.Pointer[error]
	// started and finished count write calls (see Health).
	started, finished atomic.Uint64

	// syncer makes each commit durable (Badger runs without SyncWrites;
	// see logSyncer); nil with UnsafeNoSync.
	syncer *logSyncer
	// valueThreshold is the value size from which Badger puts a value in
	// its value log; vlogDirty says a commit in progress put one there.
	// Both guarded by writeMu.
	valueThreshold int
	vlogDirty      bool
	// pendingBytes is about how much was written since the last sync
	// (guarded by writeMu).
	pendingBytes int64
}

// state is the in-memory image of what is durable.
//
// Invariant: terms and cache describe exactly the entries in [b.first, b.last];
// snap.index == 0 means no snapshot, and then conf is empty.
type state struct {
	b    bounds
	hs   consensus.HardState
	conf consensus.ConfState // membership of the latest snapshot
	// applied is the membership recorded by SetConfState since the latest
	// snapshot was installed, or nil.
	applied *consensus.ConfState
	snap    snapMeta
	terms   termIndex
	cache   entryCache
}

var _ consensus.Storage = (*WAL)(nil)

// Open opens or creates the WAL in opts.Dir and recovers it: it verifies
// every record's checksum, the contiguity of the log and the snapshot file,
// and fails with a *CorruptError rather than dropping anything. Leftovers of
// an interrupted truncation, compaction or snapshot are removed.
func Open(opts Options) (*WAL, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if opts.UnsafeNoSync {
		log.Warn("write-ahead log opened WITHOUT fsync: a machine crash can lose acknowledged writes", "dir", opts.Dir)
	}
	w := &WAL{opts: opts, log: log, snapDir: filepath.Join(opts.Dir, "snap")}
	w.st.cache.limit = opts.CacheBytes
	bdir := filepath.Join(opts.Dir, "badger")
	for _, d := range []string{opts.Dir, bdir, w.snapDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("wal: create %s: %w", d, err)
		}
	}
	if !opts.UnsafeNoSync {
		if err := syncDir(opts.Dir); err != nil {
			return nil, fmt.Errorf("wal: sync %s: %w", opts.Dir, err)
		}
	}
	if err := removeEmptyBadgerLogs(bdir, log); err != nil {
		return nil, fmt.Errorf("wal: prepare %s: %w", bdir, err)
	}
	bopts := badgerOptions(bdir, opts, newBadgerLogger(log, w.noteBackgroundError))
	w.valueThreshold = int(bopts.ValueThreshold)
	if !opts.UnsafeNoSync {
		w.syncer = newLogSyncer(bdir, opts.MemTableSize)
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("wal: open badger in %s: %w", bdir, err)
	}
	w.db = db
	if err := w.recover(); err != nil {
		if cerr := db.Close(); cerr != nil {
			log.Error("closing badger after a failed recovery", "error", cerr)
		}
		w.closeSyncer()
		return nil, err
	}
	log.Info("write-ahead log opened", "dir", opts.Dir, "first", w.st.b.first, "last", w.st.b.last,
		"term", w.st.hs.Term, "commit", w.st.hs.Commit, "snapshot", w.st.snap.index)
	return w, nil
}

// removeEmptyBadgerLogs deletes zero-length .mem and .vlog files. A crash
// between Badger creating such a file and sizing it leaves it empty, and
// Badger v4 then refuses to open (dgraph-io/badger#2207). An empty file
// holds no write, synced or not, so removing it loses nothing.
func removeEmptyBadgerLogs(dir string, log hclog.Logger) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, de := range des {
		n := de.Name()
		if !strings.HasSuffix(n, ".mem") && !strings.HasSuffix(n, ".vlog") {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		if fi.Size() != 0 || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return err
		}
		log.Warn("removed an empty Badger log file left by a crash", "file", n)
		removed = true
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}

// badgerOptions sizes Badger for a small log that must survive a crash.
// Values up to half a transaction's byte budget (at most 1 MiB) stay in
// the LSM tree; only larger entries go to the value log. Badger's own
// SyncWrites is off: the WAL syncs Badger's log files itself after each
// commit (logSyncer), with one device flush where Badger would take two.
func badgerOptions(dir string, opts Options, log badger.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(false).
		WithLogger(log).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(2).
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithValueThreshold(min(1<<20, opts.MemTableSize*15/100/2)).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithBaseTableSize(1 << 20).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithNumVersionsToKeep(1).
		WithCompression(options.None).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
}

// Close closes Badger. Later calls return ErrClosed; Close itself is
// idempotent.
func (w *WAL) Close() error {
	w.writeMu.Lock()
	defer w.writeMu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.closeSyncer()
	if err := w.closeBadger(); err != nil {
		return fmt.Errorf("wal: close badger: %w", err)
	}
	return nil
}

// closeBadger closes the database, waiting at most CloseTimeout.
func (w *WAL) closeBadger() error {
	if w.opts.CloseTimeout == 0 {
		return w.db.Close()
	}
	done := make(chan error, 1)
	go func() { done <- w.db.Close() }()
	timer := time.NewTimer(w.opts.CloseTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		if _, err := os.Stat(w.opts.Dir); err != nil {
			return fmt.Errorf("%w after %v: data directory: %w", ErrCloseTimeout, w.opts.CloseTimeout, err)
		}
		return fmt.Errorf("%w after %v", ErrCloseTimeout, w.opts.CloseTimeout)
	}
}

// usable returns ErrClosed or ErrFailed if the WAL cannot be used. The
// caller holds mu (read or write) or writeMu.
func (w *WAL) usable() error {
	if w.closed {
		return ErrClosed
	}
	if w.failed != nil {
		return failedError(w.failed)
	}
	return nil
}

// setFailed records the first write failure and returns it as ErrFailed.
// The caller holds writeMu and not mu.
func (w *WAL) setFailed(op string, err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = fmt.Errorf("%s: %w", op, err)
		f := failedError(w.failed)
		w.failedErr.Store(&f)
		w.log.Error("write-ahead log failed; refusing all further calls", "op", op, "error", err)
	}
	return failedError(w.failed)
}

// fail runs the test fail point for stage.
func (w *WAL) fail(stage string) error {
	if w.failPoint == nil {
		return nil
	}
	return w.failPoint(stage)
}

// termAt returns the term of entry i, for first-1 <= i <= last. The caller
// holds mu or writeMu and has checked the range.
func (st *state) termAt(i uint64) uint64 {
	if i == st.b.first-1 {
		return st.b.prevTerm
	}
	return st.terms.term(i)
}

// commit commits txn and makes it durable, then fails if Badger logged a
// sync failure meanwhile, and runs the fail point. The caller holds writeMu.
func (w *WAL) commit(txn *badger.Txn) error {
	if err := txn.Commit(); err != nil {
		return err
	}
	if err := w.syncLogs(); err != nil {
		return err
	}
	if err := w.syncErr.Load(); err != nil {
		return *err
	}
	return w.fail("commit")
}

// noteBackgroundError records a failure Badger only logged.
func (w *WAL) noteBackgroundError(err error) { w.syncErr.CompareAndSwap(nil, &err) }

// deleteRange deletes the entry keys [lo, hi), which lie outside the log's
// bounds (garbage), in as many transactions as Badger needs.
func (w *WAL) deleteRange(lo, hi uint64) error {
	if lo >= hi {
		return nil
	}
	wb := w.db.NewWriteBatch()
	defer wb.Cancel()
	for i := lo; i < hi; i++ {
		if err := wb.Delete(entryKey(i)); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	return w.syncLogs()
}

// syncLogs makes everything committed to Badger so far durable. The caller
// holds writeMu.
func (w *WAL) syncLogs() error {
	if err := w.beforeSync(); err != nil {
		return err
	}
	if w.syncer == nil {
		return nil
	}
	vlog, n := w.vlogDirty, w.pendingBytes
	w.vlogDirty, w.pendingBytes = false, 0
	return w.syncer.sync(vlog, n)
}

// noteValue records that a value of n bytes is being written.
func (w *WAL) noteValue(n int) {
	w.pendingBytes += int64(n)
	if n >= w.valueThreshold {
		w.vlogDirty = true
	}
}

func (w *WAL) closeSyncer() {
	if w.syncer != nil {
		w.syncer.close()
	}
}

func cloneConf(c consensus.ConfState) consensus.ConfState {
	out := consensus.ConfState{
		Voters:   append([]consensus.NodeID(nil), c.Voters...),
		Learners: append([]consensus.NodeID(nil), c.Learners...),
	}
	if c.Addrs != nil {
		out.Addrs = make(map[consensus.NodeID]string, len(c.Addrs))
		for k, v := range c.Addrs {
			out.Addrs[k] = v
		}
	}
	if len(out.Voters) == 0 {
		out.Voters = nil
	}
	if len(out.Learners) == 0 {
		out.Learners = nil
	}
	return out
}
