package consensus

import (
	"errors"
	"testing"
)

// Reference: Raft thesis §3.10: the leader brings the target up to date,
// sends TimeoutNow, and the target wins the next term at once, even with
// check-quorum leases (the vote is marked as a transfer).
func TestLeadershipTransfer(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	// n3 lags: it misses an entry, so the leader must catch it up first.
	nw.isolate("n3")
	nw.propose("n1", "a")
	nw.heal()
	term := nw.nodes["n1"].r.term
	if err := nw.nodes["n1"].r.TransferLeader("n3"); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if nw.mustLeader() != "n3" {
		t.Fatalf("leader %v after transfer to n3", nw.leaders())
	}
	if got := nw.nodes["n3"].r.term; got != term+1 {
		t.Fatalf("n3 term %d, want %d", got, term+1)
	}
	if n := nw.count(func(m Message) bool { return m.Type == MsgTimeoutNow }); n != 1 {
		t.Fatalf("%d MsgTimeoutNow, want 1", n)
	}
	nw.propose("n3", "b")
	nw.checkCommittedAgree()
}

// Reference: Raft thesis §3.10: "if the transfer does not complete after
// about an election timeout, the prior leader aborts the transfer and
// resumes accepting client requests".
func TestLeadershipTransferAbortsAfterElectionTimeout(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	nw.isolate("n3")
	r := nw.nodes["n1"].r
	if err := r.TransferLeader("n3"); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	if _, _, err := r.Propose([]byte("x")); !errors.Is(err, ErrTransferInProgress) {
		t.Fatalf("propose during transfer: %v", err)
	}
	if r.Status().LeadTransferee != "n3" {
		t.Fatal("transfer not in status")
	}
	for i := 1; i <= 10; i++ {
		nw.tick(1, "n1", "n2")
		if r.leadTransferee == None {
			if i != 10 {
				t.Fatalf("transfer aborted after %d ticks, want 10", i)
			}
			break
		}
	}
	if r.role != Leader || r.leadTransferee != None {
		t.Fatalf("role %s transferee %q after the election timeout", r.role, r.leadTransferee)
	}
	if _, _, err := r.Propose([]byte("x")); err != nil {
		t.Fatalf("propose after abort: %v", err)
	}
}

// Reference: Raft thesis §3.10 (caller mistakes are refused).
func TestLeadershipTransferCallerMistakes(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	if err := nw.nodes["n2"].r.TransferLeader("n3"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("transfer from follower: %v", err)
	}
	if err := nw.nodes["n1"].r.TransferLeader("n9"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("transfer to unknown node: %v", err)
	}
	if err := nw.nodes["n1"].r.TransferLeader("n1"); err != nil || nw.nodes["n1"].r.leadTransferee != None {
		t.Fatalf("transfer to self: %v", err)
	}
}

// Reference: Raft paper §5.1 / Figure 2: clients talk to the leader; a
// follower refuses proposals, and a node with no leader refuses reads.
func TestCallerMistakesReturnSentinelErrors(t *testing.T) {
	nw := newNetwork(t, 3)
	if err := nw.nodes["n1"].r.ReadIndex(1); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("read with no leader: %v", err)
	}
	nw.campaign("n1")
	if _, _, err := nw.nodes["n2"].r.Propose([]byte("x")); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("proposal on follower: %v", err)
	}
	if err := nw.nodes["n1"].r.Step(Message{Type: 200, From: "n2", Term: 9}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("unknown message type: %v", err)
	}
	if err := nw.nodes["n1"].r.Step(Message{Type: MsgSnap, From: "n2", Term: 9}); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("MsgSnap without snapshot: %v", err)
	}
}
