package consensus

import "testing"

// ackEarly sends the leader's early messages, lets the named followers
// persist and answer, and steps their answers into the leader.
func ackEarly(t *testing.T, nw *network, r *Raft, from ...NodeID) {
	t.Helper()
	sendAndAck(t, nw, r.id, r.TakeEarlyMessages(), from...)
}

// A leader whose followers both keep up may put off its own write: its
// entries commit on the followers' acknowledgements alone, and what
// commits is handed out by TakeCommitted without a Ready.
func TestCanDeferWriteWhileFollowersCommit(t *testing.T) {
	nw, r := leaderN1(t)
	ia := mustPropose(t, r, "a")
	ackEarly(t, nw, r, "n2", "n3")
	got := r.TakeCommitted()
	if len(got) != 1 || got[0].Index != ia {
		t.Fatalf("TakeCommitted = %v, want [%d] committed by the followers alone", indexes(got), ia)
	}
	r.TakeEarlyMessages() // the new commit index, for the followers
	if !r.CanDeferWrite() {
		t.Fatal("CanDeferWrite = false with both followers keeping up")
	}
	// The deferred Ready still carries the entry for the leader to write.
	rd := r.Ready()
	if len(rd.Entries) != 1 || rd.Entries[0].Index != ia || len(rd.CommittedEntries) != 0 {
		t.Fatalf("deferred Ready: entries %v, committed %v; want [%d], none",
			indexes(rd.Entries), indexes(rd.CommittedEntries), ia)
	}
	nw.persist("n1", rd)
	r.Advance(rd)
	if nw.nodes["n2"].r.CanDeferWrite() {
		t.Fatal("a follower may defer its write")
	}
}

// A follower that has not answered for an election timeout no longer
// counts: commits need the leader's write, so the leader must not put it
// off.
func TestCanDeferWriteNotWithAFollowerGone(t *testing.T) {
	nw, r := leaderN1(t)
	nw.isolate("n3")
	mustPropose(t, r, "a")
	r.TakeEarlyMessages()
	if !r.CanDeferWrite() {
		t.Fatal("CanDeferWrite = false with n3 gone only just now")
	}
	nw.tick(r.cfg.ElectionTick) // n2 keeps answering heartbeats; n3 does not
	mustPropose(t, r, "b")
	r.TakeEarlyMessages()
	r.TakeCommitted()
	if r.CanDeferWrite() {
		t.Fatalf("CanDeferWrite with n3 silent for %d ticks", r.cfg.ElectionTick)
	}
	if r.role != Leader {
		t.Fatalf("n1 is %s, want still leader with n2", r.role)
	}
}

// Reads are never put off: a confirmed read index waits in the Ready.
func TestCanDeferWriteNotWithAReadPending(t *testing.T) {
	nw, r := leaderN1(t)
	if err := r.ReadIndex(7); err != nil {
		t.Fatal(err)
	}
	ackEarly(t, nw, r, "n2", "n3") // the heartbeats confirm leadership
	if len(r.readStates) == 0 {
		t.Fatal("read not confirmed; the test set-up is wrong")
	}
	mustPropose(t, r, "a")
	r.TakeEarlyMessages()
	if r.CanDeferWrite() {
		t.Fatal("CanDeferWrite with a confirmed read waiting")
	}
}
