package consensus

import (
	"testing"
)

// sendAndAck delivers the leader's messages in rd to its followers, lets
// them persist and answer, and steps their answers back into the leader
// (which may be in the middle of a Ready).
func sendAndAck(t *testing.T, nw *network, leader NodeID, msgs []Message, from ...NodeID) {
	t.Helper()
	for _, m := range msgs {
		if err := nw.nodes[m.To].r.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range from {
		nw.process(id)
	}
	q := nw.queue
	nw.queue = nil
	for _, m := range q {
		if m.To != leader {
			continue
		}
		if err := nw.nodes[leader].r.Step(m); err != nil {
			t.Fatal(err)
		}
	}
}

// leaderN1 is a three-node network whose leader is n1.
func leaderN1(t *testing.T) (*network, *Raft) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	return nw, nw.nodes["n1"].r
}

// mustPropose proposes data on r (without stabilizing) and returns its index.
func mustPropose(t *testing.T, r *Raft, data string) uint64 {
	t.Helper()
	i, _, err := r.Propose([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func indexes(ents []Entry) []uint64 {
	var out []uint64
	for _, e := range ents {
		out = append(out, e.Index)
	}
	return out
}

// While the leader's sync of a Ready is running, an acknowledgement that
// commits an earlier entry lets the driver apply that entry at once
// (TakeCommitted), instead of after the sync; so does a quorum of followers
// for an entry the leader is still writing. Nothing is handed out twice.
func TestTakeCommittedHandsOutWhatCommitsDuringASync(t *testing.T) {
	nw, r := leaderN1(t)
	ia := mustPropose(t, r, "a")
	rd1 := r.Ready()
	nw.persist("n1", rd1)
	r.Advance(rd1)
	// "b" is being synced while the followers' answers for "a" come in.
	ib := mustPropose(t, r, "b")
	rd2 := r.Ready()
	if len(rd2.Entries) != 1 || rd2.Entries[0].Index != ib {
		t.Fatalf("second Ready entries %v, want [%d]", indexes(rd2.Entries), ib)
	}
	if got := r.TakeCommitted(); got != nil {
		t.Fatalf("TakeCommitted before any acknowledgement = %v", indexes(got))
	}
	sendAndAck(t, nw, "n1", rd1.Messages, "n2")
	got := r.TakeCommitted()
	if len(got) != 1 || got[0].Index != ia || string(got[0].Data) != "a" {
		t.Fatalf("TakeCommitted after n2 acknowledged a = %v, want [%d]", indexes(got), ia)
	}
	if again := r.TakeCommitted(); again != nil {
		t.Fatalf("second TakeCommitted = %v, want nothing", indexes(again))
	}
	// Both followers acknowledge b: it commits without the leader, which
	// is still writing it, and is handed out all the same (it is durable
	// on a quorum).
	sendAndAck(t, nw, "n1", rd2.Messages, "n2", "n3")
	got = r.TakeCommitted()
	if len(got) != 1 || got[0].Index != ib {
		t.Fatalf("TakeCommitted after both followers acknowledged b = %v, want [%d]", indexes(got), ib)
	}
	nw.persist("n1", rd2)
	r.Advance(rd2)
	if rd3 := r.Ready(); len(rd3.CommittedEntries) != 0 {
		t.Fatalf("next Ready hands out %v again", indexes(rd3.CommittedEntries))
	} else {
		r.Advance(rd3)
	}
}

// A conf change committed during a sync waits for the next Ready, which
// applies it to the membership; so does everything after it.
func TestTakeCommittedStopsBeforeAConfChange(t *testing.T) {
	nw, r := leaderN1(t)
	ia := mustPropose(t, r, "a")
	icc, _, err := r.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n4", Addr: "10.0.0.4:7000"})
	if err != nil {
		t.Fatal(err)
	}
	ic := mustPropose(t, r, "c")
	rd1 := r.Ready()
	nw.persist("n1", rd1)
	r.Advance(rd1)
	mustPropose(t, r, "d")
	rd2 := r.Ready() // d is syncing
	sendAndAck(t, nw, "n1", rd1.Messages, "n2")
	if r.log.committed < ic {
		t.Fatalf("commit %d, want %d", r.log.committed, ic)
	}
	got := r.TakeCommitted()
	if len(got) != 1 || got[0].Index != ia {
		t.Fatalf("TakeCommitted = %v, want [%d] (stop before the conf change at %d)", indexes(got), ia, icc)
	}
	if again := r.TakeCommitted(); again != nil {
		t.Fatalf("TakeCommitted past a conf change: %v", indexes(again))
	}
	nw.persist("n1", rd2)
	r.Advance(rd2)
	rd3 := r.Ready()
	if got := indexes(rd3.CommittedEntries); len(got) != 2 || got[0] != icc || got[1] != ic {
		t.Fatalf("next Ready hands out %v, want [%d %d]", got, icc, ic)
	}
	if rd3.ConfState == nil || len(rd3.ConfState.Learners) != 1 {
		t.Fatalf("next Ready's membership %+v, want learner n4", rd3.ConfState)
	}
}

// While a leader's sync runs, a proposal's MsgApp leaves at once
// (TakeEarlyMessages) instead of with the next Ready; answers and other
// messages that depend on persisted state stay for the Ready.
func TestTakeEarlyMessagesSendsProposalsDuringASync(t *testing.T) {
	nw, r := leaderN1(t)
	mustPropose(t, r, "a")
	rd1 := r.Ready() // a is syncing
	ib := mustPropose(t, r, "b")
	early := r.TakeEarlyMessages()
	if len(early) != 2 {
		t.Fatalf("early messages %v, want one MsgApp per follower", early)
	}
	for _, m := range early {
		if m.Type != MsgApp || len(m.Entries) == 0 || m.Entries[len(m.Entries)-1].Index != ib {
			t.Fatalf("early message %+v, want a MsgApp ending with b (%d)", m, ib)
		}
	}
	if again := r.TakeEarlyMessages(); len(again) != 0 {
		t.Fatalf("second TakeEarlyMessages = %v", again)
	}
	nw.persist("n1", rd1)
	r.Advance(rd1)
	rd2 := r.Ready()
	for _, m := range rd2.Messages {
		if m.Type == MsgApp && len(m.Entries) > 0 && m.Entries[len(m.Entries)-1].Index == ib {
			t.Fatalf("next Ready sends b again: %+v", m)
		}
	}
	r.Advance(rd2)
}

// Nothing leaves early from a node whose term or vote may not be durable
// yet: a candidate that wins on its peers' votes while its own vote is
// still syncing must not send as leader until that sync ends.
func TestTakeEarlyMessagesWaitsForTermAndVote(t *testing.T) {
	nw := newNetwork(t, 3)
	r := nw.nodes["n1"].r
	r.hup(campaignElection)
	rd := r.Ready() // term and vote syncing
	for _, m := range rd.Messages {
		if err := nw.nodes[m.To].r.Step(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []NodeID{"n2", "n3"} {
		vrd := nw.nodes[id].r.Ready()
		nw.persist(id, vrd)
		for _, m := range vrd.Messages {
			if err := r.Step(m); err != nil {
				t.Fatal(err)
			}
		}
		nw.nodes[id].r.Advance(vrd)
	}
	if r.role != Leader {
		t.Fatalf("n1 is %s, want leader on its peers' votes", r.role)
	}
	if early := r.TakeEarlyMessages(); len(early) != 0 {
		t.Fatalf("leader sent %v before its vote was durable", early)
	}
	nw.persist("n1", rd)
	r.Advance(rd)
	lrd := r.Ready()
	if len(lrd.MessagesBeforePersist()) == 0 {
		t.Fatal("no MsgApp after the vote became durable")
	}
	r.Advance(lrd)
	// A follower never sends early.
	f := nw.nodes["n2"].r
	if early := f.TakeEarlyMessages(); len(early) != 0 {
		t.Fatalf("follower sent early: %v", early)
	}
}
