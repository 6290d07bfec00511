package consensus

import (
	"errors"
	"math"
	"testing"
)

// stepRefused steps m into node id and fails unless Step returns an error
// matching want, without panicking and without anything to persist or send.
func stepRefused(t *testing.T, nw *network, id NodeID, m Message, want error) {
	t.Helper()
	n := nw.nodes[id]
	before := n.r.Status()
	var err error
	if msg, panicked := panicOf(func() { err = n.r.Step(m) }); panicked {
		t.Fatalf("%s from %s panicked: %s", m.Type, m.From, msg)
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s from %s: got %v, want %v", m.Type, m.From, err, want)
	}
	if n.r.HasReady() {
		t.Fatalf("%s from %s was refused but left a Ready: %+v", m.Type, m.From, n.r.Ready())
	}
	after := n.r.Status()
	if after.Term != before.Term || after.Commit != before.Commit || after.LastIndex != before.LastIndex ||
		after.Vote != before.Vote || after.Role != before.Role {
		t.Fatalf("%s from %s changed the node: %+v -> %+v", m.Type, m.From, before, after)
	}
}

// A cluster of three with n1 leading and one entry committed.
func settledNetwork(t *testing.T) *network {
	t.Helper()
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	if _, _, err := nw.nodes["n1"].r.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	return nw
}

// A forged MsgHeartbeat with term 2^64-1 used to be persisted, and the next
// campaign's term+1 wrapped and panicked the node at every restart. It is
// refused before anything changes; after a restart the node elects as usual.
func TestForgedHeartbeatWithMaxTermChangesNothing(t *testing.T) {
	nw := settledNetwork(t)
	term := nw.nodes["n2"].r.Status().Term
	stepRefused(t, nw, "n2", Message{Type: MsgHeartbeat, From: "n1", To: "n2", Term: math.MaxUint64}, ErrOutOfRange)
	if hs, _, _ := nw.nodes["n2"].st.InitialState(); hs.Term != term {
		t.Fatalf("persisted term %d, want %d", hs.Term, term)
	}
	nw.restart("n2")
	nw.campaign("n2")
	st := nw.nodes["n2"].r.Status()
	if st.Role != Leader || st.Term != term+1 {
		t.Fatalf("after restart n2 is %s at term %d; want leader at %d", st.Role, st.Term, term+1)
	}
}

// Every term and index a peer message carries is bounded, the snapshot's
// included; the bound itself is accepted.
func TestStepRefusesTermsAndIndexesPastTheBounds(t *testing.T) {
	nw := settledNetwork(t)
	term := nw.nodes["n2"].r.Status().Term
	snap := func(i, tm uint64) *Snapshot { return &Snapshot{Meta: SnapshotMeta{Index: i, Term: tm}} }
	cases := []struct {
		name string
		m    Message
	}{
		{"term", Message{Type: MsgVote, Term: MaxTerm + 1}},
		{"log term", Message{Type: MsgVote, Term: term, LogTerm: MaxTerm + 1}},
		{"reject term", Message{Type: MsgAppResp, Term: term, RejectTerm: MaxTerm + 1}},
		{"index", Message{Type: MsgApp, Term: term, Index: MaxIndex + 1}},
		{"commit", Message{Type: MsgHeartbeat, Term: term, Commit: math.MaxUint64}},
		{"reject hint", Message{Type: MsgAppResp, Term: term, RejectHint: MaxIndex + 1}},
		{"entries past the index bound", Message{Type: MsgApp, Term: term, Index: MaxIndex, Entries: []Entry{{Index: MaxIndex + 1, Term: term}}}},
		{"snapshot index", Message{Type: MsgSnap, Term: term, Snapshot: snap(MaxIndex+1, term)}},
		{"snapshot term", Message{Type: MsgSnap, Term: term, Snapshot: snap(5, MaxTerm+1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.m.From, c.m.To = "n1", "n2"
			stepRefused(t, nw, "n2", c.m, ErrOutOfRange)
		})
	}
	// The bound is a value like any other: a vote request at MaxTerm is
	// stepped (and answered).
	if err := nw.nodes["n3"].r.Step(Message{Type: MsgPreVote, From: "n1", To: "n3", Term: MaxTerm, Index: 100, LogTerm: term}); err != nil {
		t.Fatalf("pre-vote at MaxTerm: %v", err)
	}
}

// Entries a leader could not have produced are refused as malformed. The
// first case used to reach the log's own invariant check (an entry
// conflicting with a committed one) and panic the follower.
func TestStepRefusesMalformedEntries(t *testing.T) {
	nw := settledNetwork(t)
	st := nw.nodes["n2"].r.Status()
	term, commit := st.Term, st.Commit
	cases := []struct {
		name string
		m    Message
	}{
		{"entries that do not follow the index", Message{Type: MsgApp, Term: term, Index: commit, LogTerm: term,
			Entries: []Entry{{Index: 1, Term: term + 1}}}},
		{"a gap between entries", Message{Type: MsgApp, Term: term, Index: commit, LogTerm: term,
			Entries: []Entry{{Index: commit + 1, Term: term}, {Index: commit + 3, Term: term}}}},
		{"an entry term above the message term", Message{Type: MsgApp, Term: term, Index: commit, LogTerm: term,
			Entries: []Entry{{Index: commit + 1, Term: term + 1}}}},
		{"entry terms going down", Message{Type: MsgApp, Term: term, Index: commit, LogTerm: term,
			Entries: []Entry{{Index: commit + 1, Term: term - 1}}}},
		{"log term above the message term", Message{Type: MsgApp, Term: term, Index: commit, LogTerm: term + 1}},
		{"entries on a heartbeat", Message{Type: MsgHeartbeat, Term: term, Entries: []Entry{{Index: 1, Term: 1}}}},
		{"snapshot term above the message term", Message{Type: MsgSnap, Term: term,
			Snapshot: &Snapshot{Meta: SnapshotMeta{Index: commit + 10, Term: term + 1}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.m.From, c.m.To = "n1", "n2"
			stepRefused(t, nw, "n2", c.m, ErrInvalidMessage)
		})
	}
}

// Reference: Raft §5.2 (Election Safety), §5.4 (Leader Completeness).
// Well-formed messages that contradict what Raft guarantees are refused
// with ErrProtocolViolation and change nothing, where a node would
// otherwise rewrite committed entries or count acknowledgements it never
// asked for.
func TestStepRefusesProtocolViolations(t *testing.T) {
	nw := settledNetwork(t)
	st := nw.nodes["n2"].r.Status()
	term, commit := st.Term, st.Commit
	if commit < 2 {
		t.Fatalf("commit %d; the test needs two committed entries", commit)
	}
	t.Run("entries conflicting with committed ones", func(t *testing.T) {
		stepRefused(t, nw, "n2", Message{Type: MsgApp, From: "n1", To: "n2", Term: term, Index: commit - 1,
			LogTerm: nw.nodes["n2"].r.log.mustTerm(commit - 1), Entries: []Entry{{Index: commit, Term: term + 1}}, Commit: commit},
			ErrInvalidMessage) // term+1 > message term: malformed first
		stepRefused(t, nw, "n2", Message{Type: MsgApp, From: "n3", To: "n2", Term: term + 1, Index: commit - 1,
			LogTerm: nw.nodes["n2"].r.log.mustTerm(commit - 1), Entries: []Entry{{Index: commit, Term: term + 1}}},
			ErrProtocolViolation)
	})
	t.Run("a committed entry's term denied", func(t *testing.T) {
		stepRefused(t, nw, "n2", Message{Type: MsgApp, From: "n3", To: "n2", Term: term + 1, Index: commit,
			LogTerm: term - 1}, ErrProtocolViolation)
	})
	t.Run("a snapshot contradicting a committed entry", func(t *testing.T) {
		stepRefused(t, nw, "n2", Message{Type: MsgSnap, From: "n3", To: "n2", Term: term + 1,
			Snapshot: &Snapshot{Meta: SnapshotMeta{Index: commit, Term: term + 1}}}, ErrProtocolViolation)
	})
	for _, typ := range []MessageType{MsgApp, MsgHeartbeat} {
		t.Run("a second leader's "+typ.String(), func(t *testing.T) {
			stepRefused(t, nw, "n1", Message{Type: typ, From: "n2", To: "n1", Term: term, Index: commit, LogTerm: term},
				ErrProtocolViolation)
		})
	}
	t.Run("an acknowledgement past the leader's log", func(t *testing.T) {
		stepRefused(t, nw, "n1", Message{Type: MsgAppResp, From: "n2", To: "n1", Term: term, Index: commit + 100},
			ErrProtocolViolation)
	})
	// Stale messages from an earlier term are not violations: a deposed
	// leader may still be sending entries that never committed.
	if err := nw.nodes["n2"].r.Step(Message{Type: MsgApp, From: "n3", To: "n2", Term: term - 1, Index: commit - 1,
		LogTerm: term - 1, Entries: []Entry{{Index: commit, Term: term - 1}}}); err != nil {
		t.Fatalf("stale MsgApp: %v", err)
	}
	nw.stabilize()
	// The cluster goes on: a new entry commits everywhere.
	if _, _, err := nw.nodes["n1"].r.Propose([]byte("y")); err != nil {
		t.Fatal(err)
	}
	nw.stabilize()
	for _, id := range nw.ids {
		if c := nw.nodes[id].r.Status().Commit; c != commit+1 {
			t.Fatalf("%s commit %d, want %d", id, c, commit+1)
		}
	}
}

// A term past MaxTerm on disk (written by a version that stepped peer
// messages unchecked) is refused at start with ErrCorruptState, not wrapped
// at the next campaign.
func TestNewRefusesStoredTermPastTheBound(t *testing.T) {
	st := bootstrapStorage(t, ids(3))
	if err := st.SetHardState(HardState{Term: math.MaxUint64}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig("n1", st, 1)); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("New with a stored term of 2^64-1: %v, want ErrCorruptState", err)
	}
}
