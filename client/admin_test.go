package client

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIntegrationReadsAndOperations(t *testing.T) {
	tc := newTestCluster(t, 3)
	c := newTestClient(t, integrationConfig(tc))
	s := newTestSession(t, c)
	w := newTestSession(t, c)
	l, err := s.Acquire(testCtx(t), "svc/a", WithValue([]byte("v")), Shared())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(testCtx(t), "svc/b"); err != nil {
		t.Fatal(err)
	}
	rw := goAcquire(testCtx(t), w, "svc/b")
	waitWaiters(t, c, "svc/b", 1)

	locks, err := c.ListLocks(testCtx(t), "svc/")
	if err != nil || len(locks) != 2 || locks[0].Name != "svc/a" || locks[1].Name != "svc/b" {
		t.Fatalf("ListLocks = %+v, %v", locks, err)
	}
	a := locks[0]
	if len(a.Holders) != 1 || a.Holders[0].Mode != ModeShared || string(a.Holders[0].Value) != "v" ||
		a.Holders[0].Token != l.Token() || a.Holders[0].AcquiredAt.IsZero() {
		t.Fatalf("svc/a = %+v", a)
	}
	if b := locks[1]; len(b.Waiters) != 1 || b.Waiters[0].Session != w.ID() {
		t.Fatalf("svc/b waiters %+v, want session %d", b.Waiters, w.ID())
	}
	stale, err := c.GetLock(testCtx(t), "svc/a", WithStale())
	if err != nil || stale.Revision == 0 {
		t.Fatalf("stale GetLock = %+v, %v", stale, err)
	}

	si, err := c.GetSession(testCtx(t), s.ID())
	if err != nil || !slices.Equal(si.Held, []string{"svc/a", "svc/b"}) || si.TTL != s.TTL() {
		t.Fatalf("GetSession = %+v, %v", si, err)
	}
	if _, err := c.GetSession(testCtx(t), 1<<40); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("GetSession of nothing: %v, want ErrUnknownSession", err)
	}
	all, err := c.ListSessions(testCtx(t))
	if err != nil || len(all) != 2 {
		t.Fatalf("ListSessions = %+v, %v", all, err)
	}

	members, err := c.Members(testCtx(t))
	if err != nil || len(members) != 3 || members[0].ID != "n1" || members[0].ClientAddr == "" {
		t.Fatalf("Members = %+v, %v", members, err)
	}
	st, err := c.Status(testCtx(t))
	if err != nil || st.Role != "leader" {
		t.Fatalf("Status = %+v, %v; want the leader's", st, err)
	}
	nodes, err := c.ClusterStatus(testCtx(t))
	if err != nil || len(nodes) != 3 {
		t.Fatalf("ClusterStatus = %+v, %v", nodes, err)
	}
	for _, n := range nodes {
		if n.Status == nil {
			t.Fatalf("ClusterStatus: %s unreachable: %s", n.ID, n.Error)
		}
	}
	es, err := c.EndpointStatus(testCtx(t), tc.cfgs["n3"].ClientAddr)
	if err != nil || es.ID != "n3" {
		t.Fatalf("EndpointStatus(n3) = %+v, %v", es, err)
	}

	var buf bytes.Buffer
	info, err := c.SnapshotSave(testCtx(t), &buf)
	if err != nil || info.Index == 0 || uint64(buf.Len()) != info.Size || info.Size == 0 {
		t.Fatalf("SnapshotSave = %+v (%d bytes), %v", info, buf.Len(), err)
	}

	old := tc.leader()
	if err := c.TransferLeader(testCtx(t), ""); err != nil {
		t.Fatal(err)
	}
	if now := tc.leader(); now == old {
		// The transfer may still be settling; wait for the change.
		waitLeaderChange(t, tc, old)
	}
	if err := s.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if r := waitAcquire(t, rw); r.err != nil {
		t.Fatalf("waiter after the holder's session closed: %v", r.err)
	}
}

func waitLeaderChange(t *testing.T, tc *testCluster, old string) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for tc.leader() == old {
		if time.Now().After(deadline) {
			t.Fatalf("leader still %s 20s after TransferLeader", old)
		}
		<-tick.C
	}
}

func TestIntegrationRemoveMember(t *testing.T) {
	tc := newTestCluster(t, 3)
	c := newTestClient(t, integrationConfig(tc))
	lead := tc.leader()
	victim := "n1"
	if lead == victim {
		victim = "n2"
	}
	if err := c.RemoveMember(testCtx(t), victim, false); err != nil {
		t.Fatal(err)
	}
	members, err := c.Members(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.ID == victim {
			t.Fatalf("%s still a member: %+v", victim, members)
		}
	}
	// A learner that never starts: added, refused promotion, removed.
	spare := freeAddrs(t, 2)
	if err := c.AddLearner(testCtx(t), "n9", spare[0], spare[1]); err != nil {
		t.Fatal(err)
	}
	members, err = c.Members(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(members, func(m Member) bool { return m.ID == "n9" }); i < 0 || !members[i].Learner {
		t.Fatalf("n9 not a learner: %+v", members)
	}
	if err := c.Promote(testCtx(t), "n9", false); !errors.Is(err, ErrUnsafeChange) {
		t.Fatalf("Promote of a learner that is not caught up: %v, want ErrUnsafeChange", err)
	}
	if err := c.RemoveMember(testCtx(t), "n9", false); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveMember(testCtx(t), "nope", false); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("RemoveMember of nothing: %v, want ErrUnknownMember", err)
	}
	if err := c.Promote(testCtx(t), "nope", false); err == nil {
		t.Fatal("Promote of nothing succeeded")
	}
}

// A member's status that another node gave (members advertising one
// address) is not the member's: ClusterStatus drops it and says who
// answered.
func TestClusterStatusDropsAStatusAnotherNodeGave(t *testing.T) {
	own := ClusterNode{ID: "n1", ClientAddr: "10.0.0.1:7000", Status: &NodeStatus{ID: "n1", Role: "leader"}}
	if got := attributed(own); got.Status == nil || got.Error != "" {
		t.Errorf("own status dropped: %+v", got)
	}
	other := ClusterNode{ID: "n2", ClientAddr: "0.0.0.0:7000", Status: &NodeStatus{ID: "n1", Role: "leader"}}
	got := attributed(other)
	if got.Status != nil || !strings.HasPrefix(got.Error, "status unknown: address 0.0.0.0:7000 answered as n1 (0.0.0.0:7000 is an unspecified address") {
		t.Errorf("another node's status kept: %+v", got)
	}
	down := ClusterNode{ID: "n3", ClientAddr: "10.0.0.3:7000", Error: "refused"}
	if got := attributed(down); got != down {
		t.Errorf("an unreachable member changed: %+v", got)
	}
}
