package consensus

import (
	"strings"
	"testing"
)

// Each way of breaking the call order of the Ready contract that the core
// can see makes it panic, naming the mistake, instead of carrying on with
// state that lets a message leave or an entry count as applied too early.
func TestReadyContractMisusePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup brings a core to the point of the misuse and returns it.
		setup  func(t *testing.T) (*Raft, func())
		wantIn string
	}{
		{
			// Without the check, the second Ready clears the record that
			// the first one's vote is still syncing, and TakeEarlyMessages
			// would let the new leader's MsgApps leave before that vote is
			// durable.
			name: "a second Ready before Advance",
			setup: func(t *testing.T) (*Raft, func()) {
				r := candidateWonOnPeersVotes(t)
				return r, func() { r.Ready() }
			},
			wantIn: "Ready called while Ready #1 has not been advanced",
		},
		{
			name: "Advance of the same Ready twice",
			setup: func(t *testing.T) (*Raft, func()) {
				nw, r := leaderN1(t)
				mustPropose(t, r, "a")
				rd := r.Ready()
				nw.persist("n1", rd)
				r.Advance(rd)
				return r, func() { r.Advance(rd) }
			},
			wantIn: "Advance of Ready #4, which was already advanced",
		},
		{
			// The older Ready's Advance would mark the newer one's entries
			// and vote durable while they are still being written.
			name: "Advance of an older Ready while a newer one is outstanding",
			setup: func(t *testing.T) (*Raft, func()) {
				nw, r := leaderN1(t)
				mustPropose(t, r, "a")
				old := r.Ready()
				nw.persist("n1", old)
				r.Advance(old)
				mustPropose(t, r, "b")
				r.Ready()
				return r, func() { r.Advance(old) }
			},
			wantIn: "Advance of Ready #4 while Ready #5 is the one outstanding",
		},
		{
			// TakeCommitted's entries count as applied when handed out;
			// wrapping them in a Ready to Advance would also tell the core
			// that the outstanding Ready's write is done.
			name: "Advance of a Ready built around TakeCommitted's entries",
			setup: func(t *testing.T) (*Raft, func()) {
				nw, r := leaderN1(t)
				mustPropose(t, r, "a")
				rd := r.Ready() // a is syncing
				sendAndAck(t, nw, "n1", rd.MessagesBeforePersist(), "n2", "n3")
				ents := r.TakeCommitted()
				if len(ents) == 0 {
					t.Fatal("set-up: nothing committed during the sync")
				}
				return r, func() { r.Advance(Ready{CommittedEntries: ents}) }
			},
			wantIn: "Advance of a Ready that Ready did not hand out",
		},
		{
			name: "Advance before any Ready",
			setup: func(t *testing.T) (*Raft, func()) {
				_, r := leaderN1(t)
				return r, func() { r.Advance(Ready{}) }
			},
			wantIn: "Advance of a Ready that Ready did not hand out",
		},
		{
			// The proposal's MsgApps would wait for the deferred write, so
			// nothing could commit meanwhile.
			name: "CanDeferWrite before TakeEarlyMessages",
			setup: func(t *testing.T) (*Raft, func()) {
				_, r := leaderN1(t)
				mustPropose(t, r, "a")
				r.TakeCommitted()
				return r, func() { r.CanDeferWrite() }
			},
			wantIn: "CanDeferWrite before TakeEarlyMessages",
		},
		{
			// The committed entry would wait, unapplied, for the deferred
			// write.
			name: "CanDeferWrite before TakeCommitted",
			setup: func(t *testing.T) (*Raft, func()) {
				nw, r := leaderN1(t)
				mustPropose(t, r, "a")
				ackEarly(t, nw, r, "n2", "n3")
				r.TakeEarlyMessages()
				return r, func() { r.CanDeferWrite() }
			},
			wantIn: "CanDeferWrite before TakeCommitted: committed entry 3",
		},
		{
			// Deferring is not a one-off: after each new input the caller
			// takes again before asking again.
			name: "CanDeferWrite again, while deferring, without taking the new proposal's messages",
			setup: func(t *testing.T) (*Raft, func()) {
				nw, r := leaderN1(t)
				mustPropose(t, r, "a")
				ackEarly(t, nw, r, "n2", "n3")
				r.TakeCommitted()
				r.TakeEarlyMessages()
				if !r.CanDeferWrite() {
					t.Fatal("set-up: CanDeferWrite = false")
				}
				mustPropose(t, r, "b")
				return r, func() { r.CanDeferWrite() }
			},
			wantIn: "CanDeferWrite before TakeEarlyMessages",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, misuse := tc.setup(t)
			msg, ok := panicOf(misuse)
			if !ok {
				t.Fatalf("no panic; want one containing %q", tc.wantIn)
			}
			if !strings.HasPrefix(msg, "consensus: misuse of the Ready contract: ") || !strings.Contains(msg, tc.wantIn) {
				t.Fatalf("panic %q; want a misuse panic containing %q", msg, tc.wantIn)
			}
		})
	}
}

// candidateWonOnPeersVotes is a three-node network where n1 campaigned,
// handed out the Ready recording its vote (not advanced), and won on its
// peers' votes: a leader whose vote is still syncing.
func candidateWonOnPeersVotes(t *testing.T) *Raft {
	t.Helper()
	nw := newNetwork(t, 3)
	r := nw.nodes["n1"].r
	r.hup(campaignElection)
	rd := r.Ready()
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
		t.Fatalf("set-up: n1 is %s, want leader", r.role)
	}
	return r
}

// The checks stay quiet in correct use that looks close to a misuse: a
// conf change waiting for the next Ready is not something TakeCommitted
// should have taken, and a follower has no early messages to take.
func TestReadyContractChecksAllowCorrectUse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T) *Raft
		wantDefer bool
	}{
		{
			name: "a committed conf change left for the next Ready",
			setup: func(t *testing.T) *Raft {
				nw, r := leaderN1(t)
				if _, _, err := r.ProposeConfChange(ConfChange{Type: ConfAddLearner, Node: "n4", Addr: "10.0.0.4:7000"}); err != nil {
					t.Fatal(err)
				}
				ackEarly(t, nw, r, "n2", "n3")
				r.TakeEarlyMessages()
				if got := r.TakeCommitted(); len(got) != 0 {
					t.Fatalf("set-up: TakeCommitted = %v, want nothing (a conf change)", indexes(got))
				}
				if !r.log.hasNextCommitted() {
					t.Fatal("set-up: the conf change is not committed")
				}
				return r
			},
			wantDefer: false,
		},
		{
			name: "a follower with a heartbeat to answer",
			setup: func(t *testing.T) *Raft {
				nw, r := leaderN1(t)
				r.Tick() // a heartbeat
				for _, m := range r.TakeEarlyMessages() {
					if err := nw.nodes[m.To].r.Step(m); err != nil {
						t.Fatal(err)
					}
				}
				return nw.nodes["n2"].r
			},
			wantDefer: false,
		},
		{
			name: "a leader that took both and whose followers keep up",
			setup: func(t *testing.T) *Raft {
				nw, r := leaderN1(t)
				mustPropose(t, r, "a")
				ackEarly(t, nw, r, "n2", "n3")
				r.TakeEarlyMessages()
				r.TakeCommitted()
				return r
			},
			wantDefer: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.setup(t)
			var got bool
			if msg, ok := panicOf(func() { got = r.CanDeferWrite() }); ok {
				t.Fatalf("CanDeferWrite panicked in correct use: %s", msg)
			}
			if got != tc.wantDefer {
				t.Fatalf("CanDeferWrite = %v, want %v", got, tc.wantDefer)
			}
		})
	}
}
