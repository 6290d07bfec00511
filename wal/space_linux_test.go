package wal

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The free space Health asks for counts the unwritten (sparse) parts of
// Badger's mapped log files: a memtable log whose hole exceeds the free
// space is ErrNoSpace, a small one is not (negative control).
func TestCheckSpaceCountsTheHolesOfMappedFiles(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Skipf("statfs %s: %v", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	mem := filepath.Join(dir, "00001.mem")
	f, err := os.Create(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := checkSpace(dir, 1<<20); err != nil {
		t.Fatalf("checkSpace with a 1 MiB hole and %d bytes free = %v", free, err)
	}
	if err := f.Truncate(2*free + 1<<30); err != nil {
		t.Skipf("cannot make a sparse file larger than the free space here: %v", err)
	}
	err = checkSpace(dir, 1<<20)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("checkSpace with a hole twice the free space = %v, want ErrNoSpace", err)
	}
	// A file that is not one of Badger's mapped logs is not counted.
	if err := os.Rename(mem, filepath.Join(dir, "000001.sst")); err != nil {
		t.Fatal(err)
	}
	if err := checkSpace(dir, 1<<20); err != nil {
		t.Fatalf("checkSpace with only a table file = %v", err)
	}
}
