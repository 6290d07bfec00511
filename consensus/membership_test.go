package consensus

import (
	"errors"
	"slices"
	"testing"
)

func (nw *network) proposeConf(id NodeID, cc ConfChange) {
	nw.t.Helper()
	if _, _, err := nw.nodes[id].r.ProposeConfChange(cc); err != nil {
		nw.t.Fatalf("ProposeConfChange(%+v) on %s: %v", cc, id, err)
	}
	nw.stabilize()
}

// joinNode adds a node with empty storage (waiting to be added).
func (nw *network) joinNode(id NodeID, opts ...netOption) *testNode {
	cfg := testConfig(id, NewMemoryStorage(), uint64(len(nw.ids)+1))
	for _, o := range opts {
		o(&cfg)
	}
	return nw.addNode(cfg)
}

// Reference: Raft thesis §4.2.1: a new server joins as a non-voting
// learner, catches up (here from a snapshot, §5), and is promoted to voter
// once caught up. A learner never counts toward a quorum.
func TestLearnerCatchesUpThenIsPromoted(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.propose("n1", "a")
	n4 := nw.joinNode("n4")
	// A node with an empty membership never campaigns.
	nw.tick(5*10, "n4")
	if n4.r.role != Follower || n4.r.term != 0 {
		t.Fatalf("joining node campaigned: role %s term %d", n4.r.role, n4.r.term)
	}
	nw.proposeConf("n1", ConfChange{Type: ConfAddLearner, Node: "n4", Addr: "10.0.0.4:7000"})
	nw.propose("n1", "b")
	lead := nw.nodes["n1"].r
	st := lead.Status()
	if pr := st.Progress["n4"]; !pr.IsLearner || pr.Match != lead.log.lastIndex() {
		t.Fatalf("learner progress %+v, want caught up to %d", pr, lead.log.lastIndex())
	}
	if nw.count(func(m Message) bool { return m.Type == MsgSnap && m.To == "n4" }) != 1 {
		t.Fatal("learner should have caught up from exactly one snapshot")
	}
	if got := n4.normalData(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("learner applied %v", got)
	}
	if cs := n4.r.ConfState(); !isLearner(cs, "n4") || cs.Addrs["n4"] != "10.0.0.4:7000" {
		t.Fatalf("learner's own conf %+v", cs)
	}
	// The learner's acknowledgement alone does not make a quorum.
	nw.partition([]NodeID{"n1", "n4"}, []NodeID{"n2", "n3"})
	idx, _, err := lead.Propose([]byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if lead.log.committed >= idx {
		t.Fatal("entry committed with only the leader and a learner")
	}
	if nw.nodes["n4"].r.log.lastIndex() < idx {
		t.Fatal("learner did not receive the entry")
	}
	nw.heal()
	nw.tick(1)
	nw.proposeConf("n1", ConfChange{Type: ConfPromote, Node: "n4"})
	for _, id := range nw.ids {
		if cs := nw.nodes[id].r.ConfState(); !slices.Equal(cs.Voters, []NodeID{"n1", "n2", "n3", "n4"}) || len(cs.Learners) != 0 {
			t.Fatalf("%s conf %+v after promotion", id, cs)
		}
	}
	// The promoted node can now win an election.
	nw.campaign("n4")
	if nw.mustLeader() != "n4" {
		t.Fatal("promoted node could not be elected")
	}
	nw.checkCommittedAgree()
}

// Reference: Raft thesis §4.2.2: the leader may remove itself; it steps down
// once the removal is applied and the rest of the cluster elects a leader.
// A removed node never campaigns.
func TestRemovingTheLeader(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	nw.propose("n1", "a")
	nw.proposeConf("n1", ConfChange{Type: ConfRemove, Node: "n1"})
	n1 := nw.nodes["n1"]
	if n1.r.role != Follower {
		t.Fatalf("removed leader role %s, want follower", n1.r.role)
	}
	if _, _, err := n1.r.Propose([]byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("propose on removed leader: %v", err)
	}
	term := n1.r.term
	nw.isolate("n1")
	nw.tick(5*10, "n1")
	if n1.r.term != term || n1.r.role != Follower {
		t.Fatalf("removed node campaigned: term %d->%d role %s", term, n1.r.term, n1.r.role)
	}
	nw.tick(3*10, "n2", "n3")
	lead := nw.mustLeader("n2", "n3")
	nw.propose(lead, "b")
	for _, id := range []NodeID{"n2", "n3"} {
		if cs := nw.nodes[id].r.ConfState(); !slices.Equal(cs.Voters, []NodeID{"n2", "n3"}) {
			t.Fatalf("%s voters %v", id, cs.Voters)
		}
		if got := nw.nodes[id].normalData(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("%s applied %v", id, got)
		}
	}
}

// Reference: Raft thesis §4.1: only one configuration change may be
// outstanding; bad changes are refused.
func TestConfChangeCallerMistakes(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	r := nw.nodes["n1"].r
	for _, tc := range []struct {
		cc   ConfChange
		want error
	}{
		{ConfChange{Type: ConfAddLearner, Node: "n2"}, ErrInvalidConfChange},
		{ConfChange{Type: ConfPromote, Node: "n2"}, ErrInvalidConfChange},
		{ConfChange{Type: ConfPromote, Node: "n9"}, ErrUnknownNode},
		{ConfChange{Type: ConfRemove, Node: "n9"}, ErrUnknownNode},
		{ConfChange{Type: ConfAddLearner, Node: None}, ErrInvalidConfChange},
		{ConfChange{Type: 99, Node: "n4"}, ErrInvalidConfChange},
	} {
		if _, _, err := r.ProposeConfChange(tc.cc); !errors.Is(err, tc.want) {
			t.Errorf("ProposeConfChange(%+v) = %v, want %v", tc.cc, err, tc.want)
		}
	}
	if _, _, err := r.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n4"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n5"}); !errors.Is(err, ErrConfChangePending) {
		t.Fatalf("second pending conf change: %v, want ErrConfChangePending", err)
	}
	if _, _, err := nw.nodes["n2"].r.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n5"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("conf change on follower: %v", err)
	}
	nw.stabilize()
	if _, _, err := r.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n5"}); err != nil {
		t.Fatalf("after the first change applied: %v", err)
	}
	// Removing the last voter is refused.
	single := newNetwork(t, 1)
	single.campaign("n1")
	if _, _, err := single.nodes["n1"].r.ProposeConfChange(ConfChange{Type: ConfRemove, Node: "n1"}); !errors.Is(err, ErrInvalidConfChange) {
		t.Fatalf("removing the only voter: %v", err)
	}
}

// Reference: Raft thesis §4.1 and the single-server change bug fix: a new
// leader accepts no conf change until it has applied its first entry.
func TestNewLeaderRefusesConfChangeUntilItsNoopApplied(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.drop = func(m Message) bool { return m.Type == MsgAppResp }
	nw.campaign("n1")
	_, _, err := nw.nodes["n1"].r.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n4"})
	if !errors.Is(err, ErrConfChangePending) {
		t.Fatalf("conf change before the no-op applied: %v", err)
	}
}

// Reference: Raft thesis §4.2.2: a leader that is removing itself steps
// down once the removal commits; proposals accepted meanwhile would outlive
// it, so it refuses them.
func TestLeaderRemovingItselfRefusesProposals(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.drop = func(m Message) bool { return m.Type == MsgAppResp }
	nw.proposeConf("n1", ConfChange{Type: ConfRemove, Node: "n1"})
	if _, _, err := nw.nodes["n1"].r.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("propose while removing itself: %v, want ErrProposalDropped", err)
	}
	if err := nw.nodes["n1"].r.TransferLeader("n2"); err != nil {
		t.Fatalf("transfer while removing itself: %v", err)
	}
}

// Reference: Raft thesis §4.2.2 (a server not in its own configuration does
// not lead): a candidate whose configuration no longer includes it when it
// wins stands down instead of leading.
func TestCandidateNoLongerVoterStandsDownOnWinning(t *testing.T) {
	nw := newNetwork(t, 3)
	r := nw.nodes["n1"].r
	r.hup(campaignElection)
	nw.process("n1")
	// As if a committed removal of n1 were applied mid-campaign.
	r.conf = applyConfChange(r.conf, ConfChange{Type: ConfRemove, Node: "n1"})
	r.syncProgress()
	if err := r.Step(Message{Type: MsgVoteResp, From: "n2", To: "n1", Term: r.term}); err != nil {
		t.Fatal(err)
	}
	if err := r.Step(Message{Type: MsgVoteResp, From: "n3", To: "n1", Term: r.term}); err != nil {
		t.Fatal(err)
	}
	if r.role != Follower {
		t.Fatalf("removed candidate became %s", r.role)
	}
}

// Reference: Raft thesis §4.1 ("a server always uses the latest
// configuration in its log") and Figure 2 (lastApplied is volatile): a node
// restarted from before its applied index replays conf changes its stored
// membership already includes, and ends with the same membership.
func TestRestartReplaysAppliedConfChangesIdempotently(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.joinNode("n4")
	nw.proposeConf("n1", ConfChange{Type: ConfAddLearner, Node: "n4"})
	nw.proposeConf("n1", ConfChange{Type: ConfPromote, Node: "n4"})
	nw.proposeConf("n1", ConfChange{Type: ConfRemove, Node: "n3"})
	want := nw.nodes["n2"].r.ConfState()
	cfg := nw.nodes["n2"].cfg
	cfg.Applied = 0 // replay everything after the bootstrap snapshot
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rd := r.Ready()
	if len(rd.CommittedEntries) == 0 || rd.ConfState != nil {
		t.Fatalf("replay: %d entries, conf change reported %v (want none: all already applied)", len(rd.CommittedEntries), rd.ConfState)
	}
	if got := r.ConfState(); !slices.Equal(got.Voters, want.Voters) || !slices.Equal(got.Learners, want.Learners) {
		t.Fatalf("after replay %+v, want %+v", got, want)
	}
}
