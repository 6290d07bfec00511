package consensus

import (
	"fmt"
	"slices"
	"testing"
)

// Reference: Raft paper §7 (InstallSnapshot): a follower too far behind
// for the leader's compacted log receives the snapshot, restores it, and
// continues from the entries after it.
func TestFollowerBehindCompactedLogCatchesUpBySnapshot(t *testing.T) {
	nw := newNetwork(t, 3, withPreVote, withCheckQuorum)
	nw.campaign("n1")
	nw.isolate("n3")
	for i := range 20 {
		nw.propose("n1", fmt.Sprint(i))
	}
	// The leader snapshots its state and compacts its log.
	lead := nw.nodes["n1"]
	snapIdx := lead.r.log.applied
	if _, err := lead.st.CreateSnapshot(snapIdx, nil, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := lead.st.Compact(snapIdx); err != nil {
		t.Fatal(err)
	}
	nw.heal()
	nw.tick(1)
	nw.propose("n1", "after")
	n3 := nw.nodes["n3"]
	if n := nw.count(func(m Message) bool { return m.Type == MsgSnap && m.To == "n3" }); n != 1 {
		t.Fatalf("%d MsgSnap to n3, want 1", n)
	}
	if got := n3.st.snapshot.Meta.Index; got != snapIdx {
		t.Fatalf("n3 snapshot index %d, want %d", got, snapIdx)
	}
	if n3.r.log.committed != lead.r.log.committed || n3.r.log.lastIndex() != lead.r.log.lastIndex() {
		t.Fatalf("n3 commit/last %d/%d, leader %d/%d", n3.r.log.committed, n3.r.log.lastIndex(),
			lead.r.log.committed, lead.r.log.lastIndex())
	}
	if got := n3.normalData(); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("n3 applied %v after the snapshot, want [after]", got)
	}
	if pr := lead.r.Status().Progress["n3"]; pr.State != "replicate" {
		t.Fatalf("n3 progress %+v, want replicate after the snapshot landed", pr)
	}
}

// Reference: Raft paper §7: "if the follower receives a snapshot that
// describes a prefix of its log, log entries covered by the snapshot are
// deleted but entries following the snapshot are still valid" — here, an
// old snapshot does not roll back a follower.
func TestStaleSnapshotDoesNotRollBackFollower(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	for i := range 5 {
		nw.propose("n1", fmt.Sprint(i))
	}
	n2 := nw.nodes["n2"].r
	commit := n2.log.committed
	old := Snapshot{Meta: SnapshotMeta{Index: 3, Term: 2, Conf: ConfState{Voters: ids(3)}}}
	if err := n2.Step(Message{Type: MsgSnap, From: "n1", Term: n2.term, Snapshot: &old}); err != nil {
		t.Fatal(err)
	}
	if n2.log.unstable.snapshot != nil || n2.log.committed != commit {
		t.Fatal("stale snapshot was restored")
	}
	rd := n2.Ready()
	if len(rd.Messages) != 1 || rd.Messages[0].Index != commit {
		t.Fatalf("answer %+v, want MsgAppResp at commit %d", rd.Messages, commit)
	}
}

// Reference: Raft paper §7: a leader whose snapshot send failed falls back
// to probing and retries.
func TestReportSnapshotFailureReturnsToProbe(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	nw.isolate("n3")
	nw.propose("n1", "x")
	lead := nw.nodes["n1"]
	idx := lead.r.log.applied
	if _, err := lead.st.CreateSnapshot(idx, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := lead.st.Compact(idx); err != nil {
		t.Fatal(err)
	}
	// n3's first answer (heartbeat) makes the leader try to catch it up;
	// the MsgSnap itself is lost.
	nw.heal()
	nw.drop = func(m Message) bool { return m.Type == MsgSnap }
	nw.tick(1)
	if pr := lead.r.Status().Progress["n3"]; pr.State != "snapshot" {
		t.Fatalf("n3 progress %+v, want snapshot", pr)
	}
	lead.r.ReportSnapshot("n3", true)
	if pr := lead.r.Status().Progress["n3"]; pr.State != "probe" {
		t.Fatalf("n3 progress %+v after failure, want probe", pr)
	}
	nw.drop = nil
	nw.tick(1)
	if nw.nodes["n3"].r.log.lastIndex() != lead.r.log.lastIndex() {
		t.Fatal("n3 did not catch up after the retry")
	}
}
