package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lockd/lockd/rpc"
)

// nextInfo reads the next LeaderInfo, failing after 10s.
func nextInfo(t *testing.T, ch <-chan LeaderInfo) LeaderInfo {
	t.Helper()
	select {
	case li, ok := <-ch:
		if !ok {
			t.Fatal("observe channel closed")
		}
		return li
	case <-time.After(10 * time.Second):
		t.Fatal("no leader change observed within 10s")
	}
	return LeaderInfo{}
}

func TestElectionCampaignProclaimLeaderResign(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	a, b := newTestSession(t, c), newTestSession(t, c)
	ea, eb := a.Election("billing"), b.Election("billing")
	if _, err := ea.Leader(testCtx(t)); !errors.Is(err, ErrNoElectionLeader) {
		t.Fatalf("Leader of an empty election: %v, want ErrNoElectionLeader", err)
	}
	if err := eb.Proclaim(testCtx(t), []byte("x")); !errors.Is(err, ErrNotElected) {
		t.Fatalf("Proclaim without leading: %v, want ErrNotElected", err)
	}
	if err := ea.Campaign(testCtx(t), []byte("10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eb.Campaign(testCtx(t), []byte("10.0.0.2")) }()
	fc.waitUntil(t, "b campaigning", func(fc *fakeCluster) bool { return len(fc.lockInfoLocked("billing").Waiters) == 1 })
	if err := ea.Proclaim(testCtx(t), []byte("10.0.0.9")); err != nil {
		t.Fatal(err)
	}
	li, err := eb.Leader(testCtx(t))
	if err != nil || li.Session != a.ID() || string(li.Value) != "10.0.0.9" || li.Token != ea.Lock().Token() {
		t.Fatalf("Leader = %+v, %v; want session %d value 10.0.0.9", li, err, a.ID())
	}
	if err := ea.Resign(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	li, err = ea.Leader(testCtx(t))
	if err != nil || li.Session != b.ID() || string(li.Value) != "10.0.0.2" {
		t.Fatalf("Leader after resign = %+v, %v; want session %d", li, err, b.ID())
	}
	if err := ea.Resign(testCtx(t)); err != nil {
		t.Fatalf("Resign when not leading: %v", err)
	}
}

// Campaign acquires the election's lock with the election's lock-delay:
// DefaultElectionLockDelay (none) unless WithElectionLockDelay chose
// another; a plain Acquire's default is not the election's.
func TestElectionCampaignAsksForTheChosenLockDelay(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	for _, tc := range []struct {
		name string
		opts []ElectionOption
		want time.Duration
	}{
		{"default", nil, DefaultElectionLockDelay},
		{"lock default", []ElectionOption{WithElectionLockDelay(DefaultLockDelay)}, DefaultLockDelay},
		{"none", []ElectionOption{WithElectionLockDelay(0)}, 0},
		{"short", []ElectionOption{WithElectionLockDelay(2 * time.Second)}, 2 * time.Second},
	} {
		if err := s.Election(tc.name, tc.opts...).Campaign(testCtx(t), []byte("v")); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []time.Duration
		fc.set(func(fc *fakeCluster) {
			for _, req := range fc.acquires {
				if req.Name == tc.name {
					got = append(got, time.Duration(req.LockDelay))
				}
			}
		})
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: Acquires asked for lock-delays %v, want [%v]", tc.name, got, tc.want)
		}
	}
}

func TestObserveDeliversEachChangeAndOnlyTheLatestToASlowReader(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	e := s.Election("e")
	ctx, cancel := context.WithCancel(testCtx(t))
	ch := e.Observe(ctx)
	fc.waitUntil(t, "observer subscribed", func(fc *fakeCluster) bool { return len(fc.watchers["e"]) == 1 })
	if err := e.Campaign(testCtx(t), []byte("v0")); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := 0; i < 5; i++ {
		if i > 0 {
			if err := e.Proclaim(testCtx(t), []byte(fmt.Sprintf("v%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		li := nextInfo(t, ch)
		if want := fmt.Sprintf("v%d", i); string(li.Value) != want || li.Revision <= last || li.Session != s.ID() {
			t.Fatalf("observed %+v (last revision %d), want %s", li, last, want)
		}
		last = li.Revision
	}
	// Nobody reads while 200 changes happen: the client must not stall.
	for i := 5; i < 205; i++ {
		if err := e.Proclaim(testCtx(t), []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	reads := 0
	for {
		li := nextInfo(t, ch)
		reads++
		if li.Revision <= last {
			t.Fatalf("revision went from %d to %d", last, li.Revision)
		}
		last = li.Revision
		if bytes.Equal(li.Value, []byte("v204")) {
			break
		}
	}
	if reads > 100 {
		t.Fatalf("%d reads to reach the latest value: older values were queued", reads)
	}
	cancel()
	for range ch { // closed when ctx ends
	}
}

func TestObserveResubscribesAfterFailoverWithoutMissingAChange(t *testing.T) {
	fc := newFakeCluster(t, 2, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	e := s.Election("e")
	if err := e.Campaign(testCtx(t), []byte("before")); err != nil {
		t.Fatal(err)
	}
	ch := e.Observe(testCtx(t))
	if li := nextInfo(t, ch); string(li.Value) != "before" {
		t.Fatalf("first observed %q, want the current leader", li.Value)
	}
	fc.stopNode(0)
	fc.set(func(fc *fakeCluster) { fc.leader = 1 })
	if err := e.Proclaim(testCtx(t), []byte("after")); err != nil {
		t.Fatal(err)
	}
	if li := nextInfo(t, ch); string(li.Value) != "after" {
		t.Fatalf("observed %q after failover, want after", li.Value)
	}
}

func TestObserveChannelClosesWithItsContext(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s := newTestSession(t, c)
	ctx, cancel := context.WithCancel(testCtx(t))
	ch := s.Election("z").Observe(ctx)
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("a value on an election nobody leads")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after ctx ended")
	}
}

// An observer that outlives a restart of the cluster with fresh data (same
// addresses, revisions from the start again) reports the new cluster's
// state: first that the election has no leader, then its new leader,
// although their revisions are lower than the last one it saw.
func TestObserveFollowsAClusterStartedAgainWithFreshData(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	addr := fc.addrs()[0]
	fc.set(func(fc *fakeCluster) { fc.index = 1000 })
	c := newTestClient(t, testConfig(addr))
	old := newTestClient(t, testConfig(addr))
	if err := newTestSession(t, old).Election("e").Campaign(testCtx(t), []byte("old")); err != nil {
		t.Fatal(err)
	}
	ch := newTestSession(t, c).Election("e").Observe(testCtx(t))
	if li := nextInfo(t, ch); string(li.Value) != "old" || li.Revision <= 1000 {
		t.Fatalf("observed %q at revision %d, want old above 1000", li.Value, li.Revision)
	}

	// Fresh data: nothing held, the log starts again.
	fc.stopNode(0)
	fc.set(func(fc *fakeCluster) {
		fc.index, fc.sessions, fc.keys, fc.locks = 0, map[uint64]*fakeSession{}, map[string]uint64{}, map[string]*fakeLock{}
		fc.watchers, fc.attached = map[string]map[*rpc.Conn]bool{}, map[uint64]map[*rpc.Conn]bool{}
	})
	nd := fc.startNode(0, addr)
	fc.set(func(fc *fakeCluster) { fc.nodes[0] = nd }) // hintLocked reads nodes under mu

	if li := nextInfo(t, ch); li.Session != 0 {
		t.Fatalf("after the restart observed %+v, want no leader", li)
	}
	fresh := newTestClient(t, testConfig(addr))
	if err := newTestSession(t, fresh).Election("e").Campaign(testCtx(t), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if li := nextInfo(t, ch); string(li.Value) != "new" || li.Revision >= 1000 {
		t.Fatalf("observed %q at revision %d, want the new cluster's leader", li.Value, li.Revision)
	}
}
