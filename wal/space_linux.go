package wal

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// checkSpace returns an ErrNoSpace error if the file system of dir has
// less free space (for an unprivileged user) than Badger's mapped files
// may still take: the sparse parts of every memtable log and value log,
// plus headroomMemTables memtables. A file system that cannot tell
// (statfs fails) is not reported.
func checkSpace(dir string, memTableSize int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	need := headroomMemTables * memTableSize
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	for _, de := range des {
		n := de.Name()
		if !strings.HasSuffix(n, ".mem") && !strings.HasSuffix(n, ".vlog") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			continue // flushed and removed since the listing
		}
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			need += max(fi.Size()-sys.Blocks*512, 0)
		}
	}
	return spaceError(dir, free, need)
}
