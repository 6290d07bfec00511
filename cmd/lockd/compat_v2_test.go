package main

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// testdata/datadir-v2 is the data directory of a one-node cluster written
// by lockd at commit 81515ee, the layout with the cluster record and
// before the WAL recorded its format version; see
// testdata/datadir-v2/README.md. It holds the same history as datadir-v1
// (an FSM snapshot at 6; session 7 holds compat/held with value
// held-by-v2 and token 8, session 9 waits for it) and records cluster
// c436067db1a58d41, founded as n1=127.0.0.1:47101.
const (
	v2DataDir   = "testdata/datadir-v2/n1"
	v2ClusterID = "c436067db1a58d41"
)

// TestDataDirectoryWithAClusterRecordStillStarts runs today's binary on a
// copy of a data directory of the previous layout, twice (the first start
// records the WAL's format version, the second reads it): each time the
// node keeps its cluster ID and serves the lock, its holder's token and
// value and the queue the old binary wrote.
func TestDataDirectoryWithAClusterRecordStillStarts(t *testing.T) {
	bin := lockdBinary(t)
	dir := filepath.Join(t.TempDir(), "n1")
	copyTree(t, v2DataDir, dir)
	for round := 1; round <= 2; round++ {
		a := freeAddrs(t, 3)
		p := startProc(t, fmt.Sprintf("n1 start %d", round), bin, []string{"--id", "n1", "--data-dir", dir,
			"--peer-addr", a[0], "--client-addr", a[1], "--http-addr", a[2], "--log-level", "warn"}, nil, nil)
		waitUntil(t, startTimeout, "n1 leading past the old log", func() (bool, string) {
			if p.exited() {
				t.Fatalf("n1 exited early: %v\n%s", p.err, p.log)
			}
			st, err := httpStatus(a[2])
			if err != nil {
				return false, err.Error()
			}
			return st.Role == "leader" && st.Applied > v1Applied, fmt.Sprintf("%+v", st)
		})
		if st, err := httpStatus(a[2]); err != nil || st.ClusterID != v2ClusterID {
			t.Fatalf("start %d: status %+v, %v; want cluster %s", round, st, err, v2ClusterID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var held api.LockInfo
		err := clientCall(ctx, a[1], api.MsgGetLock, &api.GetLockRequest{Name: "compat/held"}, &held)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(held.Holders) != 1 || held.Holders[0].Session != 7 || held.Holders[0].Token != 8 ||
			string(held.Holders[0].Value) != "held-by-v2" || len(held.Waiters) != 1 || held.Waiters[0].Session != 9 {
			t.Fatalf("start %d: compat/held %+v, want session 7 holding with token 8 and value held-by-v2, 9 waiting", round, held)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.waitExit(t, stopTimeout); code != 0 {
			t.Fatalf("start %d: exit %d after SIGTERM, want 0", round, code)
		}
	}
}
