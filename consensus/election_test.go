package consensus

import "testing"

// Reference: Raft paper §5.2 (leader election); Figure 2 "Rules for Servers".
func TestInitialElectionElectsOneLeader(t *testing.T) {
	for _, size := range []int{1, 3, 5} {
		nw := newNetwork(t, size, withPreVote, withCheckQuorum)
		nw.tick(2 * 10)
		lead := nw.mustLeader()
		term := nw.nodes[lead].r.term
		for _, id := range nw.ids {
			r := nw.nodes[id].r
			if r.lead != lead || r.term != term {
				t.Fatalf("size %d: %s sees lead %s term %d, want %s term %d", size, id, r.lead, r.term, lead, term)
			}
		}
		// The new leader's no-op is committed everywhere.
		for _, id := range nw.ids {
			if c := nw.nodes[id].r.log.committed; c != 2 {
				t.Fatalf("size %d: %s commit %d, want 2 (the no-op)", size, id, c)
			}
		}
	}
}

// Reference: Raft paper §5.2: when followers stop hearing from the leader
// for an election timeout, one of them starts an election and wins.
func TestReelectionAfterLeaderLoss(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	if nw.mustLeader() != "n1" {
		t.Fatal("n1 should lead")
	}
	oldTerm := nw.nodes["n1"].r.term
	nw.isolate("n1")
	nw.tick(2*10+1, "n2", "n3")
	lead := nw.mustLeader("n2", "n3")
	if got := nw.nodes[lead].r.term; got <= oldTerm {
		t.Fatalf("new leader term %d, want > %d", got, oldTerm)
	}
	idx := nw.propose(lead, "after-failover")
	if c := nw.nodes[lead].r.log.committed; c < idx {
		t.Fatalf("proposal at %d not committed (commit %d)", idx, c)
	}
}

// Reference: Raft paper §5.2: a candidate needs votes from a majority of
// the full cluster; a minority can never elect a leader.
func TestNoLeaderWithoutQuorum(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		opts := []netOption{withCheckQuorum}
		if preVote {
			opts = append(opts, withPreVote)
		}
		nw := newNetwork(t, 5, opts...)
		nw.partition([]NodeID{"n1", "n2"}, []NodeID{"n3"}, []NodeID{"n4"}, []NodeID{"n5"})
		nw.tick(20 * 10)
		if ls := nw.leaders(); len(ls) != 0 {
			t.Fatalf("preVote=%v: leaders %v elected without a quorum", preVote, ls)
		}
	}
}

// Reference: Raft thesis §9.6 (pre-vote) and §6.2/§4.2.3 (check-quorum
// lease): a node returning from a partition does not force an election. The
// control case (no pre-vote, no check-quorum) shows the disruption.
func TestPartitionedNodeWithPreVoteDoesNotDisruptOnReturn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      []netOption
		disrupted bool
	}{
		{"prevote+checkquorum", []netOption{withPreVote, withCheckQuorum}, false},
		{"prevote", []netOption{withPreVote}, false},
		{"neither", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := newNetwork(t, 3, tc.opts...)
			nw.campaign("n1")
			nw.mustLeader()
			term := nw.nodes["n1"].r.term
			nw.isolate("n3")
			nw.tick(5 * 10)
			nw.heal()
			nw.tick(3 * 10)
			newTerm := nw.nodes["n1"].r.term
			if tc.disrupted {
				if newTerm == term {
					t.Fatalf("control: expected the returning node to bump the term")
				}
				return
			}
			if newTerm != term || nw.nodes["n2"].r.term != term {
				t.Fatalf("term moved from %d to %d/%d on the majority", term, newTerm, nw.nodes["n2"].r.term)
			}
			if nw.mustLeader() != "n1" {
				t.Fatal("n1 lost leadership")
			}
			if nw.nodes["n3"].r.lead != "n1" {
				t.Fatalf("n3 lead %q, want n1", nw.nodes["n3"].r.lead)
			}
		})
	}
}

// Reference: Raft thesis §6.2 (check-quorum): a leader that has not heard
// from a majority for an election timeout steps down. Without check-quorum
// it stays leader forever (control).
func TestLeaderCutOffFromMajorityStepsDownWithinElectionTimeout(t *testing.T) {
	for _, checkQuorum := range []bool{true, false} {
		var opts []netOption
		if checkQuorum {
			opts = append(opts, withCheckQuorum)
		}
		nw := newNetwork(t, 5, opts...)
		nw.campaign("n1")
		nw.mustLeader()
		nw.isolate("n1")
		steppedAt := 0
		for i := 1; i <= 3*10; i++ {
			nw.tick(1, "n1")
			if nw.nodes["n1"].r.role != Leader {
				steppedAt = i
				break
			}
		}
		if !checkQuorum {
			if steppedAt != 0 {
				t.Fatalf("control: leader without check-quorum stepped down at tick %d", steppedAt)
			}
			continue
		}
		if steppedAt == 0 || steppedAt > 10 {
			t.Fatalf("leader stepped down at tick %d, want within the election timeout (10)", steppedAt)
		}
	}
}

// Reference: Raft paper §5.4.1 (election restriction): a voter denies its
// vote to a candidate whose log is less up to date than its own.
func TestVoteDeniedToCandidateWithStaleLog(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.isolate("n3")
	nw.propose("n1", "x")
	nw.heal()
	nw.isolate("n1")
	// n3 lacks "x": n2 must refuse it; n3 cannot win alone.
	nw.campaign("n3")
	if nw.nodes["n3"].r.role == Leader {
		t.Fatal("n3 with a stale log was elected")
	}
	nw.campaign("n2")
	if nw.mustLeader("n2", "n3") != "n2" {
		t.Fatal("n2 should lead")
	}
}

// Reference: Raft paper Figure 2 (AppendEntries: "reply false if term <
// currentTerm") and §5.1 ("if a server's current term is smaller ... it
// updates its current term"): a stale leader learns the new term from a
// follower's answer and steps down.
func TestStaleLeaderStepsDownOnHigherTermAnswer(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.isolate("n1")
	nw.campaign("n2")
	if nw.mustLeader("n2", "n3") != "n2" {
		t.Fatal("n2 should lead")
	}
	nw.heal()
	nw.cutLink("n2", "n1") // n1 hears nothing from the new leader itself
	nw.tick(1, "n1")
	if r := nw.nodes["n1"].r; r.role != Follower || r.term != nw.nodes["n2"].r.term {
		t.Fatalf("stale leader: role %s term %d", r.role, r.term)
	}
}

// Reference: Raft thesis §4.2.3 and §6.2: with check-quorum, a server that
// heard from a current leader within the minimum election timeout ignores
// vote requests, unless the request is part of a leadership transfer.
func TestVoteIgnoredWithinLeaderLease(t *testing.T) {
	nw := newNetwork(t, 3, withCheckQuorum)
	nw.campaign("n1")
	n2 := nw.nodes["n2"].r
	term := n2.term
	vote := Message{Type: MsgVote, From: "n3", To: "n2", Term: term + 1, Index: n2.log.lastIndex(), LogTerm: n2.log.lastTerm()}
	if err := n2.Step(vote); err != nil {
		t.Fatal(err)
	}
	if n2.term != term || len(n2.msgs) != 0 {
		t.Fatalf("vote inside the lease: term %d->%d, %d answers", term, n2.term, len(n2.msgs))
	}
	vote.Context = campaignTransfer
	if err := n2.Step(vote); err != nil {
		t.Fatal(err)
	}
	if n2.term != term+1 || n2.vote != "n3" || len(n2.msgs) != 1 || n2.msgs[0].Reject {
		t.Fatalf("transfer vote: term %d vote %s msgs %+v", n2.term, n2.vote, n2.msgs)
	}
}
