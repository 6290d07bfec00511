package client

import (
	"testing"

	"github.com/lockd/lockd/api"
)

func TestClientFindsLeaderFromOneFollowerEndpoint(t *testing.T) {
	fc := newFakeCluster(t, 3, 2)
	c := newTestClient(t, testConfig(fc.nodes[0].addr)) // only a follower
	s := newTestSession(t, c)
	if _, err := s.TryAcquire(testCtx(t), "a"); err != nil {
		t.Fatal(err)
	}
	conn, _ := c.conns.current()
	if conn == nil || conn.Addr() != fc.nodes[2].addr {
		t.Fatalf("connected to %v, want the leader %s", conn, fc.nodes[2].addr)
	}
	fc.set(func(fc *fakeCluster) {
		if fc.notLeaderSeen == 0 {
			t.Error("the follower was never asked: the hint was not what found the leader")
		}
	})
}

func TestClientTriesOtherEndpointsWhileNoLeaderIsKnown(t *testing.T) {
	fc := newFakeCluster(t, 3, -1)
	// The third NotLeader (with an empty hint) ends the election.
	fc.set(func(fc *fakeCluster) {
		fc.onNotLeader = func(_, count int) {
			if count == 3 {
				fc.set(func(fc *fakeCluster) { fc.leader = 1 })
			}
		}
	})
	c := newTestClient(t, testConfig(fc.nodes[0].addr, fc.nodes[2].addr)) // the leader's address is not given
	s := newTestSession(t, c)
	if s.ID() == 0 {
		t.Fatal("session 0")
	}
	conn, _ := c.conns.current()
	if conn == nil || conn.Addr() != fc.nodes[1].addr {
		t.Fatalf("connected to %v, want the new leader %s", conn, fc.nodes[1].addr)
	}
}

func TestLeaderChangedPushMovesTheClientToTheNewLeader(t *testing.T) {
	fc := newFakeCluster(t, 3, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	conn, changed := c.conns.current()
	if conn.Addr() != fc.nodes[0].addr {
		t.Fatalf("connected to %s", conn.Addr())
	}
	fc.setLeader(1)
	waitClosed(t, changed, "connection change after LeaderChanged")
	// The background reconnect re-attaches the session on the new leader.
	fc.waitUntil(t, "session attached on node 1", func(fc *fakeCluster) bool {
		for conn := range fc.attached[s.ID()] {
			if conn.Err() == nil && conn.RemoteAddr() != nil {
				for _, nc := range fc.nodes[1].srv.Conns() {
					if nc == conn {
						return true
					}
				}
			}
		}
		return false
	})
	if _, err := s.TryAcquire(testCtx(t), "x"); err != nil {
		t.Fatal(err)
	}
	if got := len(fc.writesOf(api.MsgAcquire)); got != 1 {
		t.Fatalf("%d acquires reached a leader, want 1", got)
	}
}
