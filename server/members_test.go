package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
)

// addJoiner configures (but does not start) a node that joins with Join
// and an empty data directory.
func (c *svcCluster) addJoiner(id string) Config {
	addrs := svcFreeAddrs(c.t, 2)
	cfg := c.baseConfig(id, addrs[0], addrs[1])
	cfg.Join = true
	c.cfgs[id] = cfg
	return cfg
}

func memberIDs(t *testing.T, cl *svcClient) (voters, learners []string) {
	t.Helper()
	var r api.MembersResponse
	cl.must(api.MsgMembers, &api.MembersRequest{}, &r)
	for _, m := range r.Members {
		if m.Learner {
			learners = append(learners, m.ID)
		} else {
			voters = append(voters, m.ID)
		}
	}
	return voters, learners
}

// Reference: Raft thesis §4.2.1 — a node started with Join waits, is added
// as a learner, catches up, and is promoted only once caught up; a removed
// node stops serving.
func TestJoinAsLearnerCatchUpPromoteAndRemove(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(time.Minute)
	for _, name := range []string{"m/a", "m/b", "m/c"} {
		if g, err := cl.acquire(s, name, false); err != nil || !g.Granted {
			t.Fatal(g, err)
		}
	}
	n4 := c.addJoiner("n4")
	cl.must(api.MsgAddLearner, &api.AddLearnerRequest{ID: "n4", PeerAddr: n4.PeerAddr, ClientAddr: n4.ClientAddr}, nil)
	// Not running yet, so not caught up: an unforced promotion is unsafe.
	wantCode(t, cl.call(api.MsgPromote, &api.PromoteRequest{ID: "n4"}, nil), api.CodeUnsafeChange)
	wantCode(t, cl.call(api.MsgPromote, &api.PromoteRequest{ID: "n9"}, nil), api.CodeUnknownMember)
	if v, l := memberIDs(t, cl); !slices.Equal(v, []string{"n1", "n2", "n3"}) || !slices.Equal(l, []string{"n4"}) {
		t.Fatalf("members voters %v learners %v", v, l)
	}

	joiner := c.start("n4")
	svcWait(t, "the learner to catch up", 20*time.Second, func() bool {
		st, err := lead.Status(context.Background())
		if err != nil {
			return false
		}
		for _, p := range st.Progress {
			if p.ID == "n4" {
				return p.Match >= st.Commit && joiner.node.AppliedIndex() >= st.Commit
			}
		}
		return false
	})
	jc := dialClient(t, joiner.ClientAddr())
	var in api.LockInfo
	jc.must(api.MsgGetLock, &api.GetLockRequest{ReadOptions: api.ReadOptions{Stale: true}, Name: "m/b"}, &in)
	if len(in.Holders) != 1 || in.Holders[0].Session != s {
		t.Fatalf("the learner's state misses writes from before it joined: %+v", in)
	}
	cl.must(api.MsgPromote, &api.PromoteRequest{ID: "n4"}, nil)
	svcWait(t, "n4 to be a voter everywhere", 20*time.Second, func() bool {
		for _, srv := range c.servers {
			conf, _ := srv.members.snapshot()
			if !slices.Contains(conf.Voters, consensus.NodeID("n4")) {
				return false
			}
		}
		return true
	})

	victim := c.follower()
	if victim.ID() == "n4" {
		for _, id := range c.ids() {
			if s := c.servers[id]; s != lead && id != "n4" {
				victim = s
			}
		}
	}
	vc := dialClient(t, victim.ClientAddr())
	cl.must(api.MsgRemoveMember, &api.RemoveMemberRequest{ID: victim.ID()}, nil)
	select {
	case <-victim.Removed():
	case <-time.After(20 * time.Second):
		t.Fatal("the removed node did not notice its removal")
	}
	wantCode(t, vc.call(api.MsgGetLock, &api.GetLockRequest{Name: "m/a"}, nil), api.CodeUnavailable)
	if ok, _ := victim.Ready(); ok {
		t.Fatal("a removed node reports ready")
	}
	want := []string{"n1", "n2", "n3", "n4"}
	want = slices.DeleteFunc(want, func(id string) bool { return id == victim.ID() })
	if v, l := memberIDs(t, cl); !slices.Equal(v, want) || len(l) != 0 {
		t.Fatalf("members after removal: voters %v learners %v, want %v", v, l, want)
	}
	// The cluster still commits.
	if g, err := cl.acquire(s, "m/after", false); err != nil || !g.Granted {
		t.Fatal(g, err)
	}
}

// A removal that would leave the remaining voters that are up without a
// quorum is refused unless forced; unknown members are reported.
func TestRemoveRefusedWhenItWouldLoseQuorum(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	var down, other string
	for _, id := range c.ids() {
		if id == lead.ID() {
			continue
		}
		if down == "" {
			down = id
		} else {
			other = id
		}
	}
	c.stop(down)
	svcWait(t, "the leader to see the stopped node inactive", 20*time.Second, func() bool {
		st, err := lead.node.Status(context.Background())
		return err == nil && !st.Progress[consensus.NodeID(down)].RecentActive
	})
	// Removing the live follower leaves {leader, down}: one of two active.
	wantCode(t, cl.call(api.MsgRemoveMember, &api.RemoveMemberRequest{ID: other}, nil), api.CodeUnsafeChange)
	wantCode(t, cl.call(api.MsgRemoveMember, &api.RemoveMemberRequest{ID: "nope"}, nil), api.CodeUnknownMember)
	// Removing the stopped one leaves {leader, other}, both active.
	cl.must(api.MsgRemoveMember, &api.RemoveMemberRequest{ID: down}, nil)
	if v, _ := memberIDs(t, cl); len(v) != 2 || slices.Contains(v, down) {
		t.Fatalf("voters after removal %v", v)
	}
}

// Reference: Raft thesis §3.10 — leadership transfer, to a named voter
// and to the most caught-up one.
func TestTransferLeader(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	target := c.follower()
	cl := dialClient(t, lead.ClientAddr())
	cl.must(api.MsgTransferLeader, &api.TransferLeaderRequest{ID: target.ID()}, nil)
	if nl := c.leader(); nl != target {
		t.Fatalf("leader after transfer is %s, want %s", nl.ID(), target.ID())
	}
	wantCode(t, dialClient(t, target.ClientAddr()).call(api.MsgTransferLeader, &api.TransferLeaderRequest{ID: "n9"}, nil),
		api.CodeUnknownMember)
	tc := dialClient(t, target.ClientAddr())
	tc.must(api.MsgTransferLeader, &api.TransferLeaderRequest{}, nil)
	if nl := c.leader(); nl == target {
		t.Fatal("transfer without a target kept the leader")
	}
}

// Shutdown on the leader hands leadership to a caught-up voter before it
// stops, and the rest of the cluster keeps serving.
func TestShutdownOfLeaderHandsLeadershipOver(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := lead.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	c.servers[lead.ID()] = nil
	// Shutdown returned only after another node led: the survivors agree
	// on it without an election timeout of silence in between.
	nl := c.leader()
	if nl == lead {
		t.Fatal("the shut-down node still leads")
	}
	if lead.Live() == nil {
		t.Fatal("the shut-down node is still live")
	}
	c2 := dialClient(t, nl.ClientAddr())
	var r api.KeepAliveResponse
	c2.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{s}}, &r)
	if len(r.Expired) != 0 {
		t.Fatalf("session lost in the hand-over: %+v", r)
	}
}

// Reference: Raft thesis §4.2.2 — removing the leader itself is allowed:
// it steps down once the removal applies, stops serving, and the others
// elect a leader among themselves.
func TestRemovingTheLeaderItself(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(time.Minute)
	// The safety check refuses the removal (205) until the leader has heard
	// from both followers recently, which a loaded machine can delay just
	// after the election.
	var err error
	svcWait(t, "the leader's removal to be accepted", 20*time.Second, func() bool {
		err = cl.callRaw(api.MsgRemoveMember, &api.RemoveMemberRequest{ID: lead.ID()}, nil)
		return err == nil || codeOf(t, err) != api.CodeUnsafeChange
	})
	if err != nil {
		t.Fatalf("remove the leader: %v", err)
	}
	select {
	case <-lead.Removed():
	case <-time.After(20 * time.Second):
		t.Fatal("the removed leader did not notice its removal")
	}
	c.servers[lead.ID()] = nil // out of the cluster; still open until cleanup
	t.Cleanup(func() { _ = lead.Close() })
	nl := c.leader()
	if nl == lead {
		t.Fatal("the removed node still leads")
	}
	nc := dialClient(t, nl.ClientAddr())
	if v, _ := memberIDs(t, nc); len(v) != 2 || slices.Contains(v, lead.ID()) {
		t.Fatalf("voters after removing the leader: %v", v)
	}
	var r api.KeepAliveResponse
	nc.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{s}}, &r)
	if len(r.Expired) != 0 {
		t.Fatalf("session lost with the removed leader: %+v", r)
	}
}

// A node removed while it was down never sees its removal commit (the
// leader no longer replicates to it); after a restart it learns it from a
// peer that has applied further, and stops serving.
func TestNodeRemovedWhileDownLearnsItsRemoval(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	victim := c.follower()
	c.stop(victim.ID())
	svcWait(t, "the leader to see the stopped node inactive", 20*time.Second, func() bool {
		st, err := lead.node.Status(context.Background())
		return err == nil && !st.Progress[consensus.NodeID(victim.ID())].RecentActive
	})
	cl := dialClient(t, lead.ClientAddr())
	cl.must(api.MsgRemoveMember, &api.RemoveMemberRequest{ID: victim.ID()}, nil)
	back := c.start(victim.ID())
	select {
	case <-back.Removed():
	case <-time.After(20 * time.Second):
		t.Fatal("the restarted node did not learn of its removal")
	}
	wantCode(t, dialClient(t, back.ClientAddr()).callRaw(api.MsgGetLock, &api.GetLockRequest{Name: "x"}, nil), api.CodeUnavailable)
	// The rest of the cluster was not disturbed by the removed node.
	if g, err := cl.acquire(cl.open(time.Minute), "still-serving", false); err != nil || !g.Granted {
		t.Fatal(g, err)
	}
}
