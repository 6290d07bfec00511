package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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
// we measured (docs/PERFORMANCE-HISTORY.md, "One device flush per WAL
// write").
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
//
// Listing the directory costs four system calls, so a commit that cannot
// have rotated the memtable more than once skips it while only one
// memtable file is known: Badger names memtable files by a counter
// (00001.mem, 00002.mem, ...), and a rotation creates the next one, so a
// stat of that name tells whether one happened.
type logSyncer struct {
	dir string
	// memTableSize is Badger's; a commit of half of it or more is listed
	// in full (it could span several rotations).
	memTableSize int64
	// syncFile fsyncs one file; tests replace it to watch or fail syncs.
	syncFile func(f *os.File) error
	// syncDir fsyncs dir; tests replace it.
	syncDir func(dir string) error

	mu    sync.Mutex
	files map[string]*os.File // open handles by file name
	mems  int                 // memtable files among them
	next  string              // name of the memtable file after the newest known
	// listings counts directory listings, for tests.
	listings int
}

func newLogSyncer(dir string, memTableSize int64) *logSyncer {
	return &logSyncer{
		dir:          dir,
		memTableSize: memTableSize,
		syncFile:     func(f *os.File) error { return f.Sync() },
		syncDir:      syncDir,
		files:        make(map[string]*os.File),
	}
}

// sync makes every memtable file durable, and every value-log file too if
// vlog is set. bytes is about how much the commits since the last sync
// wrote.
func (s *logSyncer) sync(vlog bool, bytes int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !vlog && s.mems == 1 && 2*bytes < s.memTableSize {
		if _, err := os.Lstat(filepath.Join(s.dir, s.next)); errors.Is(err, fs.ErrNotExist) {
			for n, f := range s.files {
				if strings.HasSuffix(n, ".mem") {
					return s.syncFile(f)
				}
			}
		}
	}
	return s.syncListed(vlog)
}

// syncListed lists the directory and syncs what sync must.
func (s *logSyncer) syncListed(vlog bool) error {
	s.listings++
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
	s.mems, s.next = 0, ""
	newest := -1
	for n := range s.files {
		if fid, ok := memFid(n); ok {
			s.mems++
			newest = max(newest, fid)
		}
	}
	if newest >= 0 {
		s.next = fmt.Sprintf("%05d.mem", newest+1) // Badger's own naming
	}
	if newFile {
		return s.syncDir(s.dir)
	}
	return nil
}

// memFid parses a memtable file name such as 00042.mem.
func memFid(name string) (int, bool) {
	num, ok := strings.CutSuffix(name, ".mem")
	if !ok {
		return 0, false
	}
	fid, err := strconv.Atoi(num)
	return fid, err == nil && fid >= 0
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
