package sim

import (
	"errors"
	"strings"
	"testing"

	"github.com/lockd/lockd/consensus"
)

// The checkers must catch planted bugs: each test feeds a fabricated
// history that breaks one property and expects ErrSafety naming it.

func ents(from uint64, terms ...uint64) []consensus.Entry {
	out := make([]consensus.Entry, len(terms))
	for i, t := range terms {
		out[i] = consensus.Entry{Index: from + uint64(i), Term: t, Data: []byte{byte(from) + byte(i), byte(t)}}
	}
	return out
}

// persisted builds a founding member's log holding es after the bootstrap
// snapshot and records it with c.
func persisted(t *testing.T, c *checker, node consensus.NodeID, es []consensus.Entry) *chainLog {
	t.Helper()
	l := newChainLog(1, 1, bootstrapHash)
	first, err := l.append(es)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.onPersist(node, l, first, 0, 0); err != nil {
		t.Fatalf("consistent history rejected: %v", err)
	}
	return l
}

func wantSafety(t *testing.T, err error, property string) {
	t.Helper()
	if !errors.Is(err, ErrSafety) || !strings.Contains(err.Error(), property) {
		t.Fatalf("got %v, want a %q safety violation", err, property)
	}
}

// TestLogMatchingCheckerCatchesDivergentPrefix: two logs share an entry at
// (index 4, term 3) but differ at index 3.
// Reference: Raft paper §5.3, Log Matching Property.
func TestLogMatchingCheckerCatchesDivergentPrefix(t *testing.T) {
	c := newChecker()
	persisted(t, c, "n1", ents(2, 2, 2, 3))
	l := newChainLog(1, 1, bootstrapHash)
	bad := ents(2, 2, 2, 3)
	bad[1].Data = []byte("other")
	first, _ := l.append(bad)
	wantSafety(t, c.onPersist("n2", l, first, 0, 0), "log matching")
}

// TestLogMatchingCheckerAcceptsTruncatedSuffix: a follower replacing an
// uncommitted suffix with the leader's entries is legal, and so is
// rewriting identical entries at or below the commit index.
func TestLogMatchingCheckerAcceptsTruncatedSuffix(t *testing.T) {
	c := newChecker()
	l := persisted(t, c, "n1", ents(2, 2, 2, 2))
	persisted(t, c, "n2", ents(2, 2, 3))
	h2, _, _ := l.at(2)
	first, _ := l.append(ents(3, 3))
	if err := c.onPersist("n1", l, first, 2, h2); err != nil {
		t.Fatalf("legal truncation rejected: %v", err)
	}
	h3, _, _ := l.at(3)
	first, _ = l.append(ents(2, 2, 3, 3))
	if err := c.onPersist("n1", l, first, 3, h3); err != nil {
		t.Fatalf("rewriting identical committed entries rejected: %v", err)
	}
}

// TestLogMatchingCheckerCatchesTruncatedCommit: replacing an entry at or
// below the node's own commit index.
func TestLogMatchingCheckerCatchesTruncatedCommit(t *testing.T) {
	c := newChecker()
	l := persisted(t, c, "n1", ents(2, 2, 2, 2))
	h3, _, _ := l.at(3)
	first, _ := l.append(ents(3, 3))
	wantSafety(t, c.onPersist("n1", l, first, 3, h3), "changing entries at or below its commit index")
}

// TestStateMachineCheckerCatchesDivergentApply: two nodes apply different
// entries at one index.
// Reference: Raft paper §5.4.3, State Machine Safety.
func TestStateMachineCheckerCatchesDivergentApply(t *testing.T) {
	c := newChecker()
	a := consensus.Entry{Index: 2, Term: 2, Data: []byte("p1")}
	b := consensus.Entry{Index: 2, Term: 3, Data: []byte("p2")}
	if err := c.onApply("n1", &a, chainHash(bootstrapHash, &a)); err != nil {
		t.Fatal(err)
	}
	wantSafety(t, c.onApply("n2", &b, chainHash(bootstrapHash, &b)), "state machine safety")
}

// TestStateMachineCheckerCatchesDuplicatePayload: one proposal applied at
// two indexes.
func TestStateMachineCheckerCatchesDuplicatePayload(t *testing.T) {
	c := newChecker()
	a := consensus.Entry{Index: 2, Term: 2, Data: []byte("p1")}
	b := consensus.Entry{Index: 3, Term: 2, Data: []byte("p1")}
	ha := chainHash(bootstrapHash, &a)
	if err := c.onApply("n1", &a, ha); err != nil {
		t.Fatal(err)
	}
	wantSafety(t, c.onApply("n1", &b, chainHash(ha, &b)), "applied at idx=2 and again at idx=3")
}

// TestCommitCheckerCatchesChangedCommittedEntry: a node whose log up to
// its commit index differs from what was committed first.
func TestCommitCheckerCatchesChangedCommittedEntry(t *testing.T) {
	c := newChecker()
	l1 := persisted(t, c, "n1", ents(2, 2, 2))
	if err := c.onCommit("n1", 2, 3, l1); err != nil {
		t.Fatal(err)
	}
	l2 := persisted(t, c, "n2", ents(2, 2, 3))
	wantSafety(t, c.onCommit("n2", 3, 3, l2), "committed entry changed")
}

// TestElectionCheckerCatchesTwoLeadersInOneTerm.
// Reference: Raft paper §5.2, Election Safety.
func TestElectionCheckerCatchesTwoLeadersInOneTerm(t *testing.T) {
	c := newChecker()
	l := newChainLog(1, 1, bootstrapHash)
	if err := c.onLeader("n1", 2, l); err != nil {
		t.Fatal(err)
	}
	if err := c.onLeader("n1", 2, l); err != nil {
		t.Fatalf("same leader seen twice: %v", err)
	}
	wantSafety(t, c.onLeader("n2", 2, l), "election safety")
}

// TestLeaderCompletenessCheckerCatchesMissingEntry: a leader of a later
// term lacks an entry committed in an earlier term.
// Reference: Raft paper §5.4, Leader Completeness.
func TestLeaderCompletenessCheckerCatchesMissingEntry(t *testing.T) {
	c := newChecker()
	l1 := persisted(t, c, "n1", ents(2, 2, 2))
	if err := c.onCommit("n1", 2, 3, l1); err != nil {
		t.Fatal(err)
	}
	l2 := persisted(t, c, "n2", ents(2, 2))
	if err := c.onLeader("n2", 2, l2); err != nil {
		t.Fatalf("a leader of the committing term itself is not checked against it: %v", err)
	}
	wantSafety(t, c.onLeader("n3", 3, l2), "leader completeness")
	if err := c.onLeader("n1", 4, l1); err != nil {
		t.Fatalf("complete leader rejected: %v", err)
	}
}

// TestHardStateCheckerCatchesRegressions: term, vote and commit never move
// backwards.
func TestHardStateCheckerCatchesRegressions(t *testing.T) {
	c := newChecker()
	prev := consensus.HardState{Term: 3, Vote: "n1", Commit: 5}
	for _, tc := range []struct {
		next consensus.HardState
		want string
	}{
		{consensus.HardState{Term: 2, Vote: "n1", Commit: 5}, "persisted term 2 after term 3"},
		{consensus.HardState{Term: 3, Vote: "n2", Commit: 5}, "changed its vote"},
		{consensus.HardState{Term: 3, Vote: "n1", Commit: 4}, "persisted commit 4 after commit 5"},
		{consensus.HardState{Term: 3, Vote: "n1", Commit: 9}, "beyond its durable last index"},
	} {
		wantSafety(t, c.onHardState("n1", prev, tc.next, 8), tc.want)
	}
	if err := c.onHardState("n1", prev, consensus.HardState{Term: 4, Commit: 6}, 8); err != nil {
		t.Fatalf("legal hard state rejected: %v", err)
	}
}

// TestReadIndexCheckerCatchesStaleRead: a read completing below what was
// committed when it was issued (a deposed leader answering).
// Reference: Raft thesis §6.4.
func TestReadIndexCheckerCatchesStaleRead(t *testing.T) {
	c := newChecker()
	l := persisted(t, c, "n1", ents(2, 2, 2, 2))
	if err := c.onCommit("n1", 2, 4, l); err != nil {
		t.Fatal(err)
	}
	c.onReadStart(7, "n2")
	wantSafety(t, c.onReadDone("n2", consensus.ReadState{Index: 3, RequestID: 7}), "below idx=4")
	if err := c.onReadDone("n2", consensus.ReadState{Index: 4, RequestID: 7}); err != nil {
		t.Fatalf("fresh read rejected: %v", err)
	}
	wantSafety(t, c.onReadDone("n2", consensus.ReadState{Index: 4, RequestID: 8}), "never issued")
	c.onReadStart(9, "n1")
	wantSafety(t, c.onReadDone("n1", consensus.ReadState{Index: 5, RequestID: 9}), "beyond the highest committed index")
}

// TestAckCheckerCatchesLostAcknowledgedProposal: a proposal acknowledged
// to its client but missing from the final committed log.
func TestAckCheckerCatchesLostAcknowledgedProposal(t *testing.T) {
	c := newChecker()
	e := consensus.Entry{Index: 2, Term: 2, Data: []byte("p1")}
	if err := c.onApply("n1", &e, chainHash(bootstrapHash, &e)); err != nil {
		t.Fatal(err)
	}
	c.onAck("p1", 2)
	if err := c.checkAcked(2); err != nil {
		t.Fatalf("acknowledged proposal in the log rejected: %v", err)
	}
	wantSafety(t, c.checkAcked(1), "beyond the final commit index")
	c.onAck("p9", 2)
	wantSafety(t, c.checkAcked(2), "not in the final committed log")
}

// TestSnapshotCheckerCatchesDivergentSnapshot: a snapshot whose state is
// not the committed log's at its index.
func TestSnapshotCheckerCatchesDivergentSnapshot(t *testing.T) {
	c := newChecker()
	l := persisted(t, c, "n1", ents(2, 2, 2))
	if err := c.onCommit("n1", 2, 3, l); err != nil {
		t.Fatal(err)
	}
	h, _, _ := l.at(3)
	if err := c.onSnapshot("n2", 3, 2, h); err != nil {
		t.Fatalf("faithful snapshot rejected: %v", err)
	}
	wantSafety(t, c.onSnapshot("n3", 3, 2, h+1), "log matching")
}

// TestMembershipCheckerCatchesDisagreement: two nodes with different
// membership after applying the same prefix.
func TestMembershipCheckerCatchesDisagreement(t *testing.T) {
	c := newChecker()
	a := consensus.ConfState{Voters: []consensus.NodeID{"n2", "n1", "n3"}}
	b := consensus.ConfState{Voters: []consensus.NodeID{"n1", "n2", "n3"}}
	if err := c.onConf("n1", 5, confString(a)); err != nil {
		t.Fatal(err)
	}
	if err := c.onConf("n2", 5, confString(b)); err != nil {
		t.Fatalf("same membership in another order rejected: %v", err)
	}
	b.Learners = []consensus.NodeID{"n4"}
	wantSafety(t, c.onConf("n3", 5, confString(b)), "membership")
}

// TestLeaderAppendOnlyCheckerCatchesOverwrite: a leader replacing entries
// of its own log within its term.
// Reference: Raft paper §5.3, Leader Append-Only.
func TestLeaderAppendOnlyCheckerCatchesOverwrite(t *testing.T) {
	c := newChecker()
	if err := c.onLeaderAppend("n1", true, 3, 6, 5); err != nil {
		t.Fatalf("leader appending after its last entry rejected: %v", err)
	}
	if err := c.onLeaderAppend("n1", false, 3, 4, 5); err != nil {
		t.Fatalf("follower truncating rejected: %v", err)
	}
	wantSafety(t, c.onLeaderAppend("n1", true, 3, 4, 5), "leader append-only")
}

// TestOptionsValidate: a run refuses options it cannot use, and reports
// that instead of simulating.
func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions(1).Validate(); err != nil {
		t.Fatalf("default options rejected: %v", err)
	}
	for _, o := range []Options{
		{Seed: 1, Steps: 0, TraceLines: 10},
		{Seed: 1, Steps: 10, TraceLines: 0},
		{Seed: 1, Steps: 10, TraceLines: 10, Nodes: 12},
		{Seed: 1, Steps: 10, TraceLines: 10, Scenario: PersistRace + 1},
	} {
		if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: got %v, want ErrInvalidOptions", o, err)
		}
		if r := Run(o); !errors.Is(r.Err, ErrInvalidOptions) || r.TraceCount != 0 {
			t.Errorf("Run(%+v) simulated anyway: %v", o, r.Err)
		}
	}
}
