package consensus

import (
	"fmt"
	"slices"
	"testing"
)

// Reference: Raft paper §5.3 and Figure 7: a leader forces followers'
// logs to match its own; a deposed leader's uncommitted entries are
// overwritten when it rejoins.
func TestRejoiningPartitionedLeaderDiscardsUncommittedEntries(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	nw.propose("n1", "committed")
	nw.isolate("n1")
	for i := range 3 {
		if _, _, err := nw.nodes["n1"].r.Propose([]byte(fmt.Sprintf("lost-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	nw.stabilize()
	nw.tick(3*10, "n2", "n3")
	lead := nw.mustLeader("n2", "n3")
	nw.propose(lead, "new")
	nw.heal()
	nw.tick(2)
	if nw.nodes["n1"].r.role == Leader {
		t.Fatal("old leader still leads")
	}
	nw.propose(nw.mustLeader(), "after-heal")
	want := []string{"committed", "new", "after-heal"}
	for _, id := range nw.ids {
		if got := nw.nodes[id].normalData(); !slices.Equal(got, want) {
			t.Fatalf("%s applied %v, want %v", id, got, want)
		}
		l := nw.nodes[id].r.log
		ents, _ := l.slice(l.firstIndex(), l.lastIndex()+1, noLimit)
		for _, e := range ents {
			if len(e.Data) > 4 && string(e.Data[:4]) == "lost" {
				t.Fatalf("%s still holds uncommitted entry %q at %d", id, e.Data, e.Index)
			}
		}
	}
	nw.checkCommittedAgree()
}

// divergentStorage returns a disk holding the bootstrap snapshot followed by
// ents, with hard state term.
func divergentStorage(t *testing.T, voters []NodeID, term uint64, ents []Entry) *MemoryStorage {
	t.Helper()
	st := bootstrapStorage(t, voters)
	if err := st.Append(ents); err != nil {
		t.Fatal(err)
	}
	if err := st.SetHardState(HardState{Term: term, Commit: 1}); err != nil {
		t.Fatal(err)
	}
	return st
}

func entriesOfTerm(from, to, term uint64) []Entry {
	var out []Entry
	for i := from; i <= to; i++ {
		out = append(out, Entry{Index: i, Term: term, Data: []byte(fmt.Sprintf("t%d-%d", term, i))})
	}
	return out
}

// Reference: Raft paper §5.3 (end: "the protocol can be optimized to reduce
// the number of rejected AppendEntries RPCs") and thesis §5.3: with the
// conflict term/index hint the leader skips a divergent term per round trip.
func TestLeaderBacksUpOverDivergentEntriesInFewRoundTrips(t *testing.T) {
	voters := ids(3)
	common := entriesOfTerm(2, 11, 2)
	// n1, n2: term-3 leader's 50 entries. n3: 50 term-2 entries that a
	// deposed term-2 leader never replicated.
	long := append(slices.Clone(common), entriesOfTerm(12, 61, 3)...)
	stale := append(slices.Clone(common), entriesOfTerm(12, 61, 2)...)
	sts := map[NodeID]*MemoryStorage{
		"n1": divergentStorage(t, voters, 3, long),
		"n2": divergentStorage(t, voters, 3, long),
		"n3": divergentStorage(t, voters, 3, stale),
	}
	nw := newNetworkFromStorages(t, voters, sts)
	nw.campaign("n1")
	nw.mustLeader()
	rejects := nw.count(func(m Message) bool { return m.Type == MsgAppResp && m.Reject && m.From == "n3" })
	if rejects == 0 || rejects > 2 {
		t.Fatalf("n3 rejected %d MsgApp, want 1..2 round trips to back up over 50 entries", rejects)
	}
	l1, l3 := nw.nodes["n1"].r.log, nw.nodes["n3"].r.log
	if l1.lastIndex() != l3.lastIndex() || l3.mustTerm(40) != 3 || l3.committed != l1.committed {
		t.Fatalf("n3 not caught up: last %d/%d commit %d/%d", l3.lastIndex(), l1.lastIndex(), l3.committed, l1.committed)
	}
}

// Reference: Raft paper §5.4.2 and Figure 8: a leader must not commit an
// entry of an earlier term by counting replicas, because a later leader may
// still overwrite it. The control runs the same history with
// TestingUnsafeCommitPreviousTerm and observes exactly that overwrite.
func TestLeaderDoesNotCommitPreviousTermEntryByCounting(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		t.Run(fmt.Sprintf("unsafe=%v", unsafe), func(t *testing.T) {
			voters := ids(5) // the paper's S1..S5
			// State of Figure 8(b)->(c): S1 led term 2 and replicated index 2
			// to S2; S5 led term 3 and wrote its own index 2.
			sts := map[NodeID]*MemoryStorage{
				"n1": divergentStorage(t, voters, 3, entriesOfTerm(2, 2, 2)),
				"n2": divergentStorage(t, voters, 2, entriesOfTerm(2, 2, 2)),
				"n3": divergentStorage(t, voters, 3, nil),
				"n4": divergentStorage(t, voters, 3, nil),
				"n5": divergentStorage(t, voters, 3, entriesOfTerm(2, 2, 3)),
			}
			var opts []netOption
			if unsafe {
				opts = append(opts, withUnsafeCommit)
			}
			nw := newNetworkFromStorages(t, voters, sts, opts...)
			nw.isolate("n5")
			// (c) S1 is elected in term 4 and replicates index 2 (term 2)
			// to S3, but its term-4 entry reaches no one.
			nw.drop = func(m Message) bool {
				if m.Type == MsgApp && m.From == "n1" {
					if nw.nodes[m.To].r.log.lastIndex() < m.Index {
						return false // a probe the follower will reject
					}
					return slices.ContainsFunc(m.Entries, func(e Entry) bool { return e.Index > 2 })
				}
				return m.From == "n1" && m.To == "n4" && m.Type != MsgVote
			}
			// One entry per MsgApp, so index 2 can travel alone.
			for _, id := range voters {
				nw.nodes[id].r.cfg.MaxSizePerMsg = 1
			}
			nw.campaign("n1")
			if nw.mustLeader("n1", "n2", "n3", "n4") != "n1" || nw.nodes["n1"].r.term != 4 {
				t.Fatal("n1 should lead term 4")
			}
			for _, id := range []NodeID{"n1", "n2", "n3"} {
				if tm := nw.nodes[id].r.log.termOr0(2); tm != 2 {
					t.Fatalf("%s index 2 term %d, want 2 (majority holds the old entry)", id, tm)
				}
			}
			committedOld := nw.nodes["n1"].r.log.committed >= 2
			if committedOld != unsafe {
				t.Fatalf("n1 commit %d: committed the term-2 entry by counting = %v, want %v",
					nw.nodes["n1"].r.log.committed, committedOld, unsafe)
			}
			// (d) S1 crashes; S5 wins term 5 with S2, S3, S4 and overwrites
			// index 2 with its term-3 entry.
			nw.heal()
			nw.isolate("n1")
			nw.drop = func(m Message) bool { return m.Type == MsgHeartbeat } // keep S1's commit from spreading
			nw.campaign("n5")                                                // term 4: everyone already voted for S1
			nw.campaign("n5")                                                // term 5
			if nw.mustLeader("n2", "n3", "n4", "n5") != "n5" {
				t.Fatal("n5 should lead")
			}
			if tm := nw.nodes["n3"].r.log.termOr0(2); tm != 3 {
				t.Fatalf("n3 index 2 term %d, want 3 (overwritten by S5)", tm)
			}
			n1Applied := nw.nodes["n1"].applied
			violated := slices.ContainsFunc(n1Applied, func(e Entry) bool { return e.Index == 2 && e.Term == 2 })
			if violated != unsafe {
				t.Fatalf("n1 applied the later-overwritten entry: %v, want %v", violated, unsafe)
			}
		})
	}
}

// Reference: Raft paper Figure 2 ("persistent state on all servers") and
// §5.1: currentTerm, votedFor and log[] survive a crash of every server.
func TestWholeClusterRestartKeepsLog(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	var want []string
	for i := range 10 {
		d := fmt.Sprintf("v%d", i)
		want = append(want, d)
		nw.propose("n1", d)
	}
	terms := map[NodeID]uint64{}
	for _, id := range nw.ids {
		terms[id] = nw.nodes[id].r.term
		nw.restart(id)
	}
	for _, id := range nw.ids {
		r := nw.nodes[id].r
		if r.term != terms[id] || r.role != Follower {
			t.Fatalf("%s restarted with term %d role %s, want term %d follower", id, r.term, r.role, terms[id])
		}
	}
	nw.tick(3 * 10)
	lead := nw.mustLeader()
	nw.propose(lead, "after-restart")
	want = append(want, "after-restart")
	for _, id := range nw.ids {
		if got := nw.nodes[id].normalData(); !slices.Equal(got, want) {
			t.Fatalf("%s applied %v, want %v", id, got, want)
		}
	}
	nw.checkCommittedAgree()
}

// Reference: Raft thesis §10.2.1: the leader may send entries before its
// own disk write, but counts itself toward the commit quorum only after it.
func TestLeaderCountsItselfOnlyAfterPersisting(t *testing.T) {
	st := bootstrapStorage(t, []NodeID{"n1"})
	r, err := New(testConfig("n1", st, 1))
	if err != nil {
		t.Fatal(err)
	}
	r.hup(campaignElection)
	persist := func() {
		rd := r.Ready()
		if err := st.Append(rd.Entries); err != nil {
			t.Fatal(err)
		}
		r.Advance(rd)
	}
	persist() // the vote is durable: n1 becomes leader
	if r.role != Leader {
		t.Fatalf("role %s, want leader", r.role)
	}
	persist() // the no-op is durable and committed
	idx, _, err := r.Propose([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if r.log.committed >= idx {
		t.Fatal("entry committed before the leader persisted it")
	}
	rd := r.Ready()
	if len(rd.Entries) != 1 || len(rd.CommittedEntries) != 0 && rd.CommittedEntries[len(rd.CommittedEntries)-1].Index >= idx {
		t.Fatalf("ready %+v hands out the unpersisted entry as committed", rd)
	}
	if err := st.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	r.Advance(rd)
	if r.log.committed != idx {
		t.Fatalf("commit %d after persisting, want %d", r.log.committed, idx)
	}
}

// Reference: Raft thesis §10.2.1: the pipeline to one follower is bounded;
// once MaxInflightMsgs MsgApp are unacknowledged, the leader waits.
func TestReplicationPipelineIsBoundedByInflightWindow(t *testing.T) {
	nw := newNetwork(t, 3)
	for _, id := range nw.ids {
		nw.nodes[id].r.cfg.MaxInflightMsgs = 4
		for _, pr := range nw.nodes[id].r.prs {
			pr.inflights = newInflights(4)
		}
	}
	nw.campaign("n1")
	// Hold every answer from n2 so its window fills.
	nw.drop = func(m Message) bool { return m.From == "n2" }
	nw.delivered = nil
	for i := range 10 {
		if _, _, err := nw.nodes["n1"].r.Propose([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		nw.stabilize() // one driver turn per proposal: one MsgApp each
	}
	sent := nw.count(func(m Message) bool { return m.Type == MsgApp && m.To == "n2" && len(m.Entries) > 0 })
	if sent != 4 {
		t.Fatalf("sent %d MsgApp to n2 with a window of 4", sent)
	}
	if pr := nw.nodes["n1"].r.prs["n2"]; pr.State != stateReplicate || !pr.isPaused() {
		t.Fatalf("n2 progress %+v: want replicate and paused", *pr)
	}
	nw.drop = nil
	nw.tick(1)
	if m, l := nw.nodes["n2"].r.log.lastIndex(), nw.nodes["n1"].r.log.lastIndex(); m != l {
		t.Fatalf("n2 last index %d, leader %d after the window reopened", m, l)
	}
}

// Reference: Raft thesis §10.2.1 (batching): a lagging follower is caught
// up with MsgApp carrying several entries each, but no more than
// MaxSizePerMsg bytes (at least one entry).
func TestMsgAppBatchesUpToMaxSizePerMsg(t *testing.T) {
	nw := newNetwork(t, 3)
	limit := 3 * entrySize(Entry{Data: make([]byte, 100)})
	for _, id := range nw.ids {
		nw.nodes[id].r.cfg.MaxSizePerMsg = limit
	}
	nw.campaign("n1")
	nw.isolate("n3")
	for i := range 10 {
		nw.propose("n1", fmt.Sprintf("%0100d", i))
	}
	nw.heal()
	nw.delivered = nil
	nw.tick(1)
	var sizes []int
	for _, m := range nw.delivered {
		if m.Type == MsgApp && m.To == "n3" && len(m.Entries) > 0 {
			sizes = append(sizes, len(m.Entries))
		}
	}
	if !slices.Equal(sizes, []int{3, 3, 3, 1}) {
		t.Fatalf("entries per MsgApp to n3: %v, want [3 3 3 1]", sizes)
	}
	if nw.nodes["n3"].r.log.committed != nw.nodes["n1"].r.log.committed {
		t.Fatal("n3 did not catch up")
	}
}

// Proposals taken in one driver turn leave in one MsgApp per follower: the
// broadcast happens at Ready, not at each Propose.
func TestProposalsInOneTurnShareOneMsgApp(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.stabilize()
	nw.delivered = nil
	for i := range 10 {
		if _, _, err := nw.nodes["n1"].r.Propose([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	rd := nw.nodes["n1"].r.Ready()
	var apps int
	for _, m := range rd.Messages {
		if m.Type == MsgApp {
			apps++
			if len(m.Entries) != 10 {
				t.Fatalf("MsgApp to %s carries %d entries, want all 10", m.To, len(m.Entries))
			}
		}
	}
	if apps != 2 {
		t.Fatalf("%d MsgApp for 10 proposals in one turn, want one per follower (2)", apps)
	}
}
