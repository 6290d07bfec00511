package wal

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// logSyncer makes Badger's writes durable in place of Badger's own
// SyncWrites.
//
// With SyncWrites, Badger msyncs the value log on every commit, even when
// the commit wrote nothing to it (our records stay in the LSM tree, under
// the value threshold), and then the memtable's write-ahead file. Each
// msync ends in a device cache flush, so a commit paid for two flushes
// where one makes it durable: about 100 µs of a 170 µs commit on the disks
// we measured (docs/PERFORMANCE.md).
//
// So the WAL opens Badger without SyncWrites and, after each commit, fsyncs
// every memtable file in Badger's directory, and the value-log files too
// when the commit put a value in the value log. Badger writes these files
// through shared mappings; fsync of the file writes back the pages any
// mapping dirtied, exactly as Badger's msync would. A file seen for the
// first time also gets its directory synced, so a crash cannot lose the
// file's name (Badger does not sync the directory when it creates a
// memtable). Everything else Badger writes (tables, manifest) Badger syncs
// itself whatever SyncWrites says.
//
// Syncing every memtable file, not only the newest, covers a commit that
// landed in a memtable Badger has since rotated out: until Badger flushes
// that memtable to a (synced) table and deletes its file, the file is
// still listed and still synced.
type logSyncer struct {
	dir string
	// syncFile fsyncs one file; tests replace it to watch or fail syncs.
	syncFile func(f *os.File) error
	// syncDir fsyncs dir; tests replace it.
	syncDir func(dir string) error

	mu    sync.Mutex
	files map[string]*os.File // open handles by file name
}

func newLogSyncer(dir string) *logSyncer {
	return &logSyncer{
		dir:      dir,
		syncFile: func(f *os.File) error { return f.Sync() },
		syncDir:  syncDir,
		files:    make(map[string]*os.File),
	}
}

// sync makes every memtable file durable, and every value-log file too if
// vlog is set.
func (s *logSyncer) sync(vlog bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(s.files))
	newFile := false
	for _, de := range des {
		n := de.Name()
		isMem := strings.HasSuffix(n, ".mem")
		if !isMem && !strings.HasSuffix(n, ".vlog") {
			continue
		}
		seen[n] = true
		if !isMem && !vlog {
			continue
		}
		f := s.files[n]
		if f == nil {
			f, err = os.Open(filepath.Join(s.dir, n))
			if errors.Is(err, fs.ErrNotExist) {
				continue // flushed to a table and deleted since the listing
			}
			if err != nil {
				return err
			}
			s.files[n] = f
			newFile = true
		}
		if err := s.syncFile(f); err != nil {
			return err
		}
	}
	for n, f := range s.files {
		if !seen[n] {
			f.Close()
			delete(s.files, n)
		}
	}
	if newFile {
		return s.syncDir(s.dir)
	}
	return nil
}

// close releases the open handles.
func (s *logSyncer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, f := range s.files {
		f.Close()
		delete(s.files, n)
	}
}
