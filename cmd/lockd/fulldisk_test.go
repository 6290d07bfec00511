package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
)

// mountSmallFS mounts a tmpfs of size bytes on a new directory and
// unmounts it at cleanup; it skips the test, saying why, where that is not
// allowed (not root, or no mount in this container).
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a small file system made for the test: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs on %s (%v: %s); the full-disk test needs one", size, dir, err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system has at most leave
// bytes free (0: until it is full), and returns how much it wrote.
func fillDisk(t *testing.T, dir string, leave int64) int64 {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		if int64(st.Bavail)*int64(st.Bsize) <= leave {
			return n
		}
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}

// A node whose data directory's file system fills up exits with the
// fail-stop code and the reason, within the stall bound, while clients
// keep writing: it stops once the free space is below what Badger's
// mapped files may still take, before Badger can store into a page the
// file system cannot back (which kills the process with SIGBUS, exit 2:
// what this test sees with the free-space check taken out). The other two
// elect a leader if n1 led, and keep serving.
//
// The file system is filled to 24 MiB free at once, as a log or a
// neighbour filling it would over time; a disk filled to the last byte
// faster than the watch looks (every 100 ms) can still fault.
func TestFullDiskFailStopsTheNodeWithExit74(t *testing.T) {
	bin := lockdBinary(t)
	small := mountSmallFS(t, "160m")
	c := newThreeNodeCluster(t)
	root := t.TempDir()
	procs := map[string]*proc{}
	for i, id := range c.ids {
		dir := filepath.Join(root, id)
		if id == "n1" {
			dir = filepath.Join(small, "n1")
		}
		args := []string{"--id", id, "--data-dir", dir, "--peer-addr", c.peer[i], "--client-addr", c.client[i],
			"--http-addr", c.httpAdr[i], "--initial-cluster", c.initial, "--wal-stall-timeout", "10s"}
		procs[id] = startProc(t, id, bin, args, nil, nil)
	}
	for i, id := range c.ids {
		waitUntil(t, startTimeout, id+" /readyz", func() (bool, string) {
			if procs[id].exited() {
				t.Fatalf("%s exited early: %v", id, procs[id].err)
			}
			return readyz(c.httpAdr[i])
		})
	}
	cl, err := client.New(client.Config{Endpoints: c.client})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	sess, err := cl.NewSession(ctx)
	if err != nil {
		t.Fatalf("session before the disk fills: %v", err)
	}
	if _, err := sess.Acquire(ctx, "before"); err != nil {
		t.Fatalf("acquire before the disk fills: %v", err)
	}

	filled := fillDisk(t, small, 24<<20)
	start := time.Now()
	for i := 0; !procs["n1"].exited() && time.Since(start) < 10*time.Second; i++ { // clients keep writing
		_, _ = sess.TryAcquire(ctx, fmt.Sprintf("during-%d", i))
	}
	code := procs["n1"].waitExit(t, 10*time.Second) // the stall bound
	log := procs["n1"].log.String()
	t.Logf("filled %d MiB; n1 exited %d after %v", filled>>20, code, time.Since(start).Round(time.Millisecond))
	if code != exitFailStop {
		t.Fatalf("n1 exited %d on a full disk, want %d (fail-stop):\n%s", code, exitFailStop, tail(log, 20))
	}
	if strings.Contains(log, "SIGBUS") || strings.Contains(log, "unexpected fault address") {
		t.Fatalf("n1 died of a fault, not a fail-stop:\n%s", tail(log, 20))
	}
	if !strings.Contains(log, "fail-stop") || !strings.Contains(log, "not enough free space") {
		t.Fatalf("n1's log does not give the reason:\n%s", tail(log, 20))
	}

	// n2 and n3 go on: a new lock is granted (after an election if n1 led).
	var lastErr error
	waitUntil(t, startTimeout, "a lock granted by n2 and n3", func() (bool, string) {
		_, lastErr = sess.Acquire(ctx, "after")
		return lastErr == nil, fmt.Sprint(lastErr)
	})
}
