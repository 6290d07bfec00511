// Package wal is lockd's durable Raft log: a Badger v4 database holding log
// entries, the hard state, the membership (of the latest snapshot, and the
// applied one the driver records with SetConfState), the latest snapshot's
// metadata and the log bounds, with snapshot data in
// checksummed files beside it (Dir/snap/<term>-<index>.snap).
//
// A *WAL satisfies consensus.Storage (the read side) and offers the write side
// the driver uses: Save persists one Ready (hard state, entries, snapshot) in
// one synced write (a snapshot in it replaces the whole log, as
// consensus.Ready documents); SetConfState records the applied membership;
// CreateSnapshot and Compact shrink the log once the application has a
// snapshot; SetMeta and Meta keep small named records for the WAL's user
// (the server's record of the cluster a data directory was bootstrapped
// for) that the WAL never interprets.
//
// What wal owns:
//   - durability: nothing returns before Badger's commit and the fsync of
//     Badger's log files (and, for snapshots, the fsync of the file and of
//     its directory) have returned. The WAL does that fsync itself rather
//     than through Badger's SyncWrites, which flushes the device twice per
//     commit (once for an untouched value log); see logsync.go;
//   - integrity: every record carries a CRC32-C over its key and payload, and
//     Open verifies every record, the contiguity of the log and every
//     snapshot file, failing with a *CorruptError (errors.Is ErrCorrupt) that
//     names the index or file instead of dropping anything;
//   - versions: the directory records its format version (FormatVersion,
//     format.go) and Open refuses one it does not know with a *FormatError
//     (errors.Is ErrUnknownFormat) naming both versions, before reading
//     anything else; each record also starts with a version byte and each
//     snapshot file's magic ends with one, and another value is reported
//     with both versions;
//   - the log bounds record: it is written in the same Badger transaction as
//     the entries it covers, so an entry key outside [first, last] is garbage
//     from a truncation or compaction and is deleted, never read.
//
// Three Badger v4 quirks are handled here. Badger only logs (does not
// return) a failed fsync of its own, and retries a failed memtable flush
// for ever while commits pile up; the WAL does its own syncs (logsync.go)
// and their errors fail the commit directly, and the logger adapter
// turns Badger's log lines about a failed sync or flush, or carrying a
// failing disk's errno, into ErrBackground: the next commit fails on it
// and Health reports it at once. Badger writes its log files through
// memory maps of sparse, pre-sized files, where a full file system means
// SIGBUS rather than an error; Health reports ErrNoSpace while the free
// space is below what those files may still take (space_linux.go). And a
// crash right after Badger creates a memtable or value-log file leaves it
// empty and makes Badger refuse to open (dgraph-io/badger#2207), so Open
// first removes empty ones.
//
// Health (health.go) is for a watchdog outside the WAL, which has no clock
// and no goroutine to time its own writes: it counts the write calls
// started and finished and returns the failure, taking no lock a stalled
// writer holds. Options.BeforeSync lets tests stall or fail every sync.
//
// Tests: crash_test.go kills a writer process with SIGKILL at random
// moments (50 times by default; -wal.crashes N for a long run, -wal.seed to
// replay) and checks that every acknowledged entry survives intact.
//
// What wal must never do: retry a write or an fsync after one has failed
// (the WAL becomes permanently failed and every call returns ErrFailed),
// start writing without syncing unless Options.UnsafeNoSync says so, decide
// anything about Raft (it only checks that what it is given is a log), or
// keep goroutines of its own beyond Badger's.
//
// Lifecycle (state × event → state):
//
//	state   | Save/CreateSnapshot/Compact ok | write or sync error | Close
//	--------+--------------------------------+---------------------+--------
//	open    | open                           | failed              | closed
//	failed  | failed (ErrFailed)             | failed              | closed
//	closed  | closed (ErrClosed)             | closed              | closed
//
// Reads (the consensus.Storage methods) may run concurrently with one writer:
// they see only durable state, because the in-memory bounds move only after
// a commit has returned, and keys inside the bounds are overwritten only
// while readers are excluded.
package wal
