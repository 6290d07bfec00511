package wal

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Options configures a WAL.
type Options struct {
	// Dir is the directory the WAL owns: Dir/badger holds the Badger
	// database, Dir/snap the snapshot files. Created if missing.
	Dir string
	// Logger receives the WAL's and Badger's logs. nil means hclog.NewNullLogger().
	Logger hclog.Logger
	// UnsafeNoSync opens Badger without synced writes and skips the snapshot
	// fsyncs: a machine crash can lose acknowledged writes. For tests and
	// benchmarks only; never set it in a server.
	UnsafeNoSync bool
	// KeepTail is how many entries below the compaction point Compact keeps,
	// so a follower slightly behind can still be served from the log.
	KeepTail uint64
	// CacheBytes bounds the in-memory cache of the most recent entries that
	// serves Entries without reading Badger. 0 disables the cache.
	CacheBytes int
	// MemTableSize is Badger's memtable size in bytes. A single Save larger
	// than about 15% of it is written in several transactions (still safely:
	// see Save).
	MemTableSize int64
	// ValueLogFileSize is the size in bytes of one Badger value-log file.
	ValueLogFileSize int64
	// BlockCacheSize is Badger's block cache in bytes.
	BlockCacheSize int64
	// CloseTimeout bounds how long Close waits for Badger to flush and
	// close. Badger retries a failing flush forever (a removed or
	// read-only data directory); Close then gives up with
	// ErrCloseTimeout. Every acknowledged write is already in a synced
	// file by then, so nothing is lost. 0 waits forever.
	CloseTimeout time.Duration
	// BeforeSync, when set, is called before every sync of the WAL's
	// files: a fault-injection hook for tests, which block in it to
	// stall the disk or return an error to fail it (the write then
	// fails as a failed fsync would). nil in a server.
	BeforeSync func() error
}

// DefaultOptions returns options for a WAL in dir, sized for a lock
// service's small log: synced writes, a 5000-entry tail, a 4 MiB entry cache
// and Badger tables measured in megabytes, not gigabytes.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:              dir,
		KeepTail:         5000,
		CacheBytes:       4 << 20,
		MemTableSize:     8 << 20,
		ValueLogFileSize: 32 << 20,
		BlockCacheSize:   8 << 20,
		CloseTimeout:     30 * time.Second,
	}
}

// Validate reports options Open would refuse, wrapped in ErrInvalidOptions.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidOptions)
	case o.CacheBytes < 0:
		return fmt.Errorf("%w: CacheBytes %d is negative", ErrInvalidOptions, o.CacheBytes)
	case o.MemTableSize < 1<<20:
		return fmt.Errorf("%w: MemTableSize %d is below 1 MiB", ErrInvalidOptions, o.MemTableSize)
	case o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30:
		return fmt.Errorf("%w: ValueLogFileSize %d is outside [1 MiB, 2 GiB)", ErrInvalidOptions, o.ValueLogFileSize)
	case o.BlockCacheSize < 0:
		return fmt.Errorf("%w: BlockCacheSize %d is negative", ErrInvalidOptions, o.BlockCacheSize)
	case o.CloseTimeout < 0:
		return fmt.Errorf("%w: CloseTimeout %v is negative", ErrInvalidOptions, o.CloseTimeout)
	}
	return nil
}
