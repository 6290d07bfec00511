package wal

import (
	"errors"
	"fmt"
)

// ErrNoSpace: the file system holding the WAL has less free space than
// Badger may still write into its files without asking for any (see
// spaceNeeded). Badger writes its memtable logs, value logs and new tables
// through memory maps of files it sized in advance but left sparse; a
// store into such a page when the file system is full kills the process
// with SIGBUS, not with an error. Health reports this before it can
// happen, so that the node fail-stops with a reason instead.
var ErrNoSpace = errors.New("wal: not enough free space for the log's mapped files")

// headroomMemTables is how many memtable sizes of free space Health asks
// for beyond the unwritten parts of the current files: the next memtable
// log (twice the memtable size, sparse) and the table a memtable flush
// writes.
const headroomMemTables = 4

// spaceError returns an ErrNoSpace error if free < need.
func spaceError(dir string, free, need int64) error {
	if free >= need {
		return nil
	}
	return fmt.Errorf("%w: %d bytes free in %s, %d needed (the unwritten parts of Badger's mapped files and %d memtables of headroom)",
		ErrNoSpace, free, dir, need, headroomMemTables)
}
