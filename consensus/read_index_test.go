package consensus

import (
	"slices"
	"testing"
)

// Reference: Raft thesis §6.4: a ReadIndex completes once the leader has
// confirmed its leadership with a quorum round, at the commit index it
// recorded; a follower's request is forwarded to the leader.
func TestReadIndexCompletesAfterQuorumHeartbeat(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.propose("n1", "x")
	commit := nw.nodes["n1"].r.log.committed
	if err := nw.nodes["n1"].r.ReadIndex(7); err != nil {
		t.Fatal(err)
	}
	if err := nw.nodes["n2"].r.ReadIndex(8); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	for id, want := range map[NodeID]ReadState{"n1": {Index: commit, RequestID: 7}, "n2": {Index: commit, RequestID: 8}} {
		if got := nw.nodes[id].reads; !slices.Equal(got, []ReadState{want}) {
			t.Fatalf("%s reads %v, want %v", id, got, want)
		}
	}
}

// Reference: Raft thesis §6.4 step 1: a new leader serves reads only after
// committing an entry of its own term; until then requests wait.
func TestReadIndexWaitsForCurrentTermCommit(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.drop = func(m Message) bool { return m.Type == MsgAppResp } // the no-op cannot commit
	nw.campaign("n1")
	r := nw.nodes["n1"].r
	if r.role != Leader || r.committedCurrentTerm() {
		t.Fatal("setup: want a leader that has not committed in its term")
	}
	if err := r.ReadIndex(1); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if len(nw.nodes["n1"].reads) != 0 {
		t.Fatal("read completed before the leader committed an entry of its term")
	}
	nw.drop = nil
	nw.tick(1)
	if got := nw.nodes["n1"].reads; len(got) != 1 || got[0].Index != r.log.committed {
		t.Fatalf("reads %v after the no-op committed (commit %d)", got, r.log.committed)
	}
}

// Reference: Raft thesis §6.4 (single-server: the leader's own vote is a
// quorum, so a read completes without a round trip).
func TestReadIndexOnSingleVoterCompletesImmediately(t *testing.T) {
	nw := newNetwork(t, 1)
	nw.campaign("n1")
	if err := nw.nodes["n1"].r.ReadIndex(3); err != nil {
		t.Fatal(err)
	}
	if got := nw.nodes["n1"].r.readStates; len(got) != 1 || got[0].RequestID != 3 {
		t.Fatalf("readStates %v, want request 3 completed at once", got)
	}
}

// Reference: Raft thesis §6.4: "the leader ... must check whether it has
// been deposed before processing a read-only request". A deposed leader's
// pending read never completes; it is reported dropped instead.
func TestDeposedLeaderReadIndexNeverCompletes(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	// Hold back every heartbeat answer to n1 (they would confirm the read).
	var held []Message
	nw.drop = func(m Message) bool {
		if m.Type == MsgHeartbeatResp && m.To == "n1" {
			held = append(held, m)
			return true
		}
		return false
	}
	if err := nw.nodes["n1"].r.ReadIndex(42); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if len(held) == 0 {
		t.Fatal("setup: no heartbeat answers captured")
	}
	nw.isolate("n1")
	nw.tick(3*10, "n2", "n3")
	newLead := nw.mustLeader("n2", "n3")
	nw.propose(newLead, "y")
	nw.heal()
	nw.tick(1)
	n1 := nw.nodes["n1"]
	if n1.r.role == Leader {
		t.Fatal("n1 still leader")
	}
	// The late confirmations now arrive at the deposed leader.
	for _, m := range held {
		if err := n1.r.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	nw.tick(3 * 10)
	if len(n1.reads) != 0 {
		t.Fatalf("deposed leader completed reads %v", n1.reads)
	}
	if !slices.Contains(n1.dropped, 42) {
		t.Fatalf("dropped %v, want request 42 reported dropped", n1.dropped)
	}
}

// Reference: Raft thesis §6.4: a follower's forwarded read dies with the
// leader it was sent to, and the caller is told.
func TestForwardedReadDroppedWhenLeaderChanges(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.cutLink("n2", "n1")
	if err := nw.nodes["n2"].r.ReadIndex(5); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	nw.campaign("n3")
	if got := nw.nodes["n2"].dropped; !slices.Equal(got, []uint64{5}) {
		t.Fatalf("n2 dropped %v, want [5]", got)
	}
}

// Reference: Raft thesis §6.4 step 3 ("the leader sends a new round of
// heartbeats"): if the round confirming a read is lost, the next regular
// heartbeat carries the pending round and confirms it.
func TestReadIndexConfirmedByLaterHeartbeatAfterLoss(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.drop = func(m Message) bool { return m.Type == MsgHeartbeat && len(m.Context) > 0 }
	if err := nw.nodes["n1"].r.ReadIndex(9); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if len(nw.nodes["n1"].reads) != 0 {
		t.Fatal("read completed without any acknowledgement")
	}
	nw.drop = nil
	nw.tick(1)
	if got := nw.nodes["n1"].reads; len(got) != 1 || got[0].RequestID != 9 {
		t.Fatalf("reads %v after the next heartbeat, want request 9", got)
	}
}
