package wal

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrBackground: Badger failed work it does in the background (flushing a
// memtable to a table, syncing a file of its own) and only logged it;
// Badger would retry for ever while commits pile up behind it. Health
// reports it (wrapped with the logged line) and the next write fails on
// it, so the WAL's user can stop instead of waiting.
var ErrBackground = errors.New("wal: badger background write failed")

// Health is what a watchdog outside the WAL reads to tell a stalled or
// failed disk (the WAL keeps no clock and no goroutine of its own: timing a
// write is the reader's job).
//
// Started and Finished count the write calls (Save, SetConfState,
// CreateSnapshot, Compact, SetMeta) that have taken the write lock and
// returned. Writes are serialised, so at most one is in flight:
// Started > Finished says one is, and Started names it. A watchdog that
// sees the same Started still in flight at two readings knows that write
// has lasted at least the time between them.
type Health struct {
	Started, Finished uint64
	// Err is the failure that made the WAL refuse writes (errors.Is
	// ErrFailed), or a failure Badger only logged (errors.Is
	// ErrBackground), or too little free space left for Badger's mapped
	// files (errors.Is ErrNoSpace; checked on Linux only), or nil.
	Err error
}

// InFlight reports whether a write call is running.
func (h Health) InFlight() bool { return h.Started > h.Finished }

// Health reads the write counters and the failure, and checks the free
// space (a statfs, a listing of Badger's directory and a stat of each of
// its log files), without waiting for a write in flight: it takes no lock
// a stalled write holds.
func (w *WAL) Health() Health {
	h := Health{Finished: w.finished.Load()}
	h.Started = w.started.Load()
	if e := w.failedErr.Load(); e != nil {
		h.Err = *e
	} else if e := w.syncErr.Load(); e != nil {
		h.Err = *e
	} else {
		h.Err = checkSpace(w.badgerDir(), w.opts.MemTableSize)
	}
	return h
}

// badgerDir is the directory of the Badger database.
func (w *WAL) badgerDir() string { return filepath.Join(w.opts.Dir, "badger") }

// beginWrite takes the write lock and counts a write call started; the
// returned function counts it finished and releases the lock:
//
//	defer w.beginWrite()()
func (w *WAL) beginWrite() func() {
	w.writeMu.Lock()
	w.started.Add(1)
	return func() {
		w.finished.Add(1)
		w.writeMu.Unlock()
	}
}

// beforeSync runs Options.BeforeSync, the test hook in front of every
// sync of the WAL's files.
func (w *WAL) beforeSync() error {
	if w.opts.BeforeSync == nil {
		return nil
	}
	if err := w.opts.BeforeSync(); err != nil {
		return fmt.Errorf("wal: sync: %w", err)
	}
	return nil
}
