package consensus

import (
	"testing"
)

// Reference: Raft thesis §10.2.1 and Figure 2 ("respond to RPCs only after
// updating stable storage"): only the leader's replication messages may
// leave before the Ready is persisted, and none when term or vote changed.
func TestReadyMessageSplitRespectsPersistence(t *testing.T) {
	nw := newNetwork(t, 3)
	r := nw.nodes["n1"].r
	r.hup(campaignElection)
	rd := r.Ready()
	if !rd.MustSync || rd.HardState.Vote != "n1" || len(rd.MessagesBeforePersist()) != 0 {
		t.Fatalf("campaign ready: mustSync %v hs %+v early %d", rd.MustSync, rd.HardState, len(rd.MessagesBeforePersist()))
	}
	if len(rd.MessagesAfterPersist()) != 2 {
		t.Fatalf("MsgVote must wait for the vote to persist: %v", rd.Messages)
	}
	nw.persist("n1", rd)
	nw.queue = append(nw.queue, rd.Messages...)
	r.Advance(rd)
	// Deliver the votes; n1 becomes leader and broadcasts MsgApp.
	for _, m := range nw.queue {
		if err := nw.nodes[m.To].r.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	nw.queue = nil
	for _, id := range []NodeID{"n2", "n3"} {
		vrd := nw.nodes[id].r.Ready()
		if len(vrd.MessagesBeforePersist()) != 0 {
			t.Fatalf("%s: vote answers may not leave before persisting", id)
		}
		for _, m := range vrd.Messages {
			if err := r.Step(m); err != nil {
				t.Fatal(err)
			}
		}
		nw.nodes[id].r.Advance(vrd)
	}
	if r.role != Leader {
		t.Fatalf("n1 role %s", r.role)
	}
	lrd := r.Ready()
	early := lrd.MessagesBeforePersist()
	if len(early) != 2 || early[0].Type != MsgApp || len(lrd.Entries) != 1 || len(lrd.MessagesAfterPersist()) != 0 {
		t.Fatalf("leader ready: early %v, entries %v", early, lrd.Entries)
	}
	if lrd.SoftState == nil || lrd.SoftState.Role != Leader || lrd.SoftState.Lead != "n1" {
		t.Fatalf("soft state %+v", lrd.SoftState)
	}
}

// Reference: Raft thesis §3.6 (single-server: the candidate's own vote is
// the quorum) — the vote counts only once persisted.
func TestSingleVoterBecomesLeaderOnlyAfterPersistingVote(t *testing.T) {
	nw := newNetwork(t, 1)
	r := nw.nodes["n1"].r
	r.hup(campaignElection)
	if r.role != Candidate {
		t.Fatalf("role %s before persisting the vote, want candidate", r.role)
	}
	nw.process("n1")
	if r.role != Leader {
		t.Fatalf("role %s after persisting, want leader", r.role)
	}
}

// Reference: Raft paper Figure 2 (commitIndex, lastApplied): committed
// entries are handed out once, in order, and HasReady goes quiet.
func TestReadyHandsOutCommittedEntriesOnce(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.propose("n1", "a")
	nw.propose("n1", "b")
	for _, id := range nw.ids {
		n := nw.nodes[id]
		if n.r.HasReady() {
			t.Fatalf("%s still has a Ready after stabilizing", id)
		}
		var idx []uint64
		for _, e := range n.applied {
			idx = append(idx, e.Index)
		}
		if len(idx) != 3 || idx[0] != 2 || idx[1] != 3 || idx[2] != 4 {
			t.Fatalf("%s applied indexes %v, want [2 3 4]", id, idx)
		}
	}
	// Restarting with Applied re-emits nothing; without it, everything
	// after the snapshot again.
	nw.restart("n2")
	if nw.nodes["n2"].r.log.hasNextCommitted() {
		t.Fatal("restart with Applied re-emits applied entries")
	}
	cfg := nw.nodes["n3"].cfg
	cfg.Applied = 0
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rd := r.Ready(); len(rd.CommittedEntries) != 3 {
		t.Fatalf("restart from scratch hands out %d entries, want 3", len(rd.CommittedEntries))
	}
}
