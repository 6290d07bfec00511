package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// testdata/datadir-v1 is the data directory of a one-node cluster written
// by lockd at commit 1e6a941 (before server/ was split into packages); see
// testdata/datadir-v1/README.md for how it was made. What it holds:
//
//	index 1..6   bootstrap, leader no-op, a session that took and released
//	             compat/released with value v0 and closed; the FSM
//	             snapshot at 6 (snap/0000000000000002-0000000000000006.snap)
//	index 7, 8   session 7 (TTL 5m) opened, holds compat/held with value
//	             held-by-v1, token 8
//	index 9, 10  session 9 (TTL 5m) opened, waits for compat/held
//
// The membership is n1 alone, at peer address 127.0.0.1:47101.
const (
	v1DataDir  = "testdata/datadir-v1/n1"
	v1Applied  = 10
	v1PeerAddr = "127.0.0.1:47101"
)

// copyTree copies the directory src to dst (which must not exist), so a
// test can let a node write to a copy of checked-in data.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// clientCall makes one client-protocol request on a fresh connection.
func clientCall(ctx context.Context, addr string, typ api.MsgType, req, resp any) error {
	conn, err := rpc.Dial(ctx, addr, rpc.KindClient, rpc.DefaultConfig(), ignorePushes())
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Call(ctx, rpc.MsgType(typ), req, resp)
}

// TestDataDirectoryOfTheFirstLayoutStillStarts runs today's binary on a
// copy of a data directory written before the server was split into
// packages: it must start, elect itself, and serve the sessions, locks,
// queue and membership that directory holds (from its FSM snapshot and
// the log entries after it), then take new writes and stop cleanly.
func TestDataDirectoryOfTheFirstLayoutStillStarts(t *testing.T) {
	bin := lockdBinary(t)
	dir := filepath.Join(t.TempDir(), "n1")
	copyTree(t, v1DataDir, dir)
	a := freeAddrs(t, 3)
	p := startProc(t, "n1", bin, []string{"--id", "n1", "--data-dir", dir, "--peer-addr", a[0],
		"--client-addr", a[1], "--http-addr", a[2], "--log-level", "warn"}, nil, nil)
	waitUntil(t, startTimeout, "n1 /readyz", func() (bool, string) {
		if p.exited() {
			t.Fatalf("n1 exited early: %v", p.err)
		}
		return readyz(a[2])
	})
	// Ready comes with the election; the new term's first entry, which
	// commits everything the old binary wrote (its stored commit index
	// may trail its log), follows.
	waitUntil(t, startTimeout, "n1 leading in a new term past the old log", func() (bool, string) {
		st, err := httpStatus(a[2])
		if err != nil {
			return false, err.Error()
		}
		ok := st.Role == "leader" && st.Leader == "n1" && st.Term > 2 && st.Applied > v1Applied
		return ok, fmt.Sprintf("status %+v: want n1 leading in a term above 2, applied above %d", st, v1Applied)
	})
	// The old layout has no record of the cluster it was bootstrapped for,
	// and none is made up: the cluster ID stays unknown.
	if st, err := httpStatus(a[2]); err != nil || st.ClusterID != "" {
		t.Fatalf("status %+v, %v: want no cluster ID for a data directory of the first layout", st, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var held api.LockInfo
	if err := clientCall(ctx, a[1], api.MsgGetLock, &api.GetLockRequest{Name: "compat/held"}, &held); err != nil {
		t.Fatal(err)
	}
	if len(held.Holders) != 1 || held.Holders[0].Session != 7 || held.Holders[0].Token != 8 ||
		string(held.Holders[0].Value) != "held-by-v1" || held.Holders[0].Mode != api.ModeExclusive {
		t.Fatalf("compat/held holders %+v, want session 7 with token 8 and value held-by-v1", held.Holders)
	}
	if len(held.Waiters) != 1 || held.Waiters[0].Session != 9 {
		t.Fatalf("compat/held waiters %+v, want session 9", held.Waiters)
	}
	var released api.LockInfo
	if err := clientCall(ctx, a[1], api.MsgGetLock, &api.GetLockRequest{Name: "compat/released"}, &released); err != nil {
		t.Fatal(err)
	}
	if len(released.Holders) != 0 || len(released.Waiters) != 0 {
		t.Fatalf("compat/released %+v, want free", released)
	}
	var sessions api.ListSessionsResponse
	if err := clientCall(ctx, a[1], api.MsgListSessions, &api.ListSessionsRequest{}, &sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions.Sessions) != 2 || sessions.Sessions[0].Session != 7 || sessions.Sessions[1].Session != 9 ||
		sessions.Sessions[0].TTL != int64(5*time.Minute) {
		t.Fatalf("sessions %+v, want 7 and 9 with a 5m TTL", sessions.Sessions)
	}
	var members api.MembersResponse
	if err := clientCall(ctx, a[1], api.MsgMembers, &api.MembersRequest{}, &members); err != nil {
		t.Fatal(err)
	}
	if len(members.Members) != 1 || members.Members[0].ID != "n1" || members.Members[0].PeerAddr != v1PeerAddr ||
		members.Members[0].Learner {
		t.Fatalf("members %+v, want voter n1 at %s", members.Members, v1PeerAddr)
	}

	// New writes go on from there: a new session takes the free lock with a
	// token above every index the old binary wrote.
	var opened api.OpenSessionResponse
	if err := clientCall(ctx, a[1], api.MsgOpenSession, &api.OpenSessionRequest{TTL: int64(time.Minute), Secret: testSessionSecret}, &opened); err != nil {
		t.Fatal(err)
	}
	if opened.Session <= v1Applied {
		t.Fatalf("new session %d, want an ID above %d", opened.Session, v1Applied)
	}
	var acq api.AcquireResponse
	req := &api.AcquireRequest{Write: api.Write{Session: opened.Session, Secret: testSessionSecret, Seq: 1, LowestUnanswered: 1},
		Name: "compat/released", Mode: api.ModeExclusive}
	if err := clientCall(ctx, a[1], api.MsgAcquire, req, &acq); err != nil {
		t.Fatal(err)
	}
	if !acq.Granted || acq.Token <= opened.Session {
		t.Fatalf("acquire %+v, want granted with a token above %d", acq, opened.Session)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, stopTimeout); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
}
