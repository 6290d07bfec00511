package client

import (
	"errors"
	"reflect"
	"testing"

	"github.com/lockd/lockd/api"
)

func TestWriteRetriedAfterLostAnswerKeepsSeqAndAppliesOnce(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	dropped := false
	fc.set(func(fc *fakeCluster) {
		fc.dropAnswer = func(typ api.MsgType, _ api.Write) bool {
			if typ == api.MsgAcquire && !dropped {
				dropped = true
				return true
			}
			return false
		}
	})
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "jobs/a")
	if err != nil {
		t.Fatal(err)
	}
	ws := fc.writesOf(api.MsgAcquire)
	if len(ws) != 2 {
		t.Fatalf("leader saw %d acquires, want the original and one retry", len(ws))
	}
	if !reflect.DeepEqual(ws[0], ws[1]) {
		t.Fatalf("retry header %+v differs from original %+v", ws[1], ws[0])
	}
	if ws[0].Seq != 1 || ws[0].LowestUnanswered != 1 || ws[0].Session != s.ID() {
		t.Fatalf("first write header %+v, want session %d seq 1 lowest 1", ws[0], s.ID())
	}
	if n := fc.appliedOf(api.MsgAcquire); n != 1 {
		t.Fatalf("acquire applied %d times, want 1", n)
	}
	info, err := c.GetLock(testCtx(t), "jobs/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Holders) != 1 || info.Holders[0].Token != l.Token() {
		t.Fatalf("holders %+v, want one with token %d", info.Holders, l.Token())
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	rs := fc.writesOf(api.MsgRelease)
	if len(rs) != 1 || rs[0].Seq != 2 || rs[0].LowestUnanswered != 2 {
		t.Fatalf("release headers %+v, want seq 2 lowest 2 (seq 1 answered)", rs)
	}
}

func TestLowestUnansweredStaysAtAnOutstandingWrite(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	held := s.beginWrite() // a write still in flight
	if _, err := s.TryAcquire(testCtx(t), "b"); err != nil {
		t.Fatal(err)
	}
	s.endWrite(held)
	ws := fc.writesOf(api.MsgAcquire)
	if len(ws) != 1 || ws[0].Seq != held+1 || ws[0].LowestUnanswered != held {
		t.Fatalf("acquire header %+v, want seq %d lowest %d", ws, held+1, held)
	}
}

func TestWriteOnExpiredSessionEndsIt(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	// Expired on the server without a push reaching the client.
	fc.set(func(fc *fakeCluster) { fc.sessions[s.ID()].ended = true })
	_, err := s.TryAcquire(testCtx(t), "c")
	if !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("got %v, want ErrSessionExpired", err)
	}
	if s.State() != SessionExpired || !closed(s.Done()) {
		t.Fatalf("state %v, done %v: want expired and done", s.State(), closed(s.Done()))
	}
	if _, err := s.TryAcquire(testCtx(t), "d"); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("later call: %v, want ErrSessionExpired", err)
	}
}
