package consensus

import "testing"

// Reference: Raft thesis §10.2.1 (pipelining bounded by a window).
func TestInflightsWindow(t *testing.T) {
	in := newInflights(3)
	in.add(5)
	in.add(7)
	in.add(9)
	if !in.full() {
		t.Fatal("window of 3 not full after 3 adds")
	}
	in.freeLE(6)
	if in.full() || in.count != 2 {
		t.Fatalf("freeLE(6): count %d", in.count)
	}
	in.add(11) // wraps around the ring
	in.freeLE(10)
	if in.count != 1 || in.buf[in.start] != 11 {
		t.Fatalf("after wrap: count %d first %d", in.count, in.buf[in.start])
	}
	in.freeLE(100)
	if in.count != 0 {
		t.Fatal("freeLE past all left entries")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("adding a non-increasing index did not panic")
		}
	}()
	in.add(4)
	in.add(3)
}

// Reference: Raft paper §5.3 (nextIndex/matchIndex) and thesis §5.3.
func TestProgressTransitions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pr        progress
		rejected  uint64
		hint      uint64
		wantMoved bool
		wantNext  uint64
	}{
		{"probe backs up to hint+1", progress{Match: 0, Next: 10}, 9, 4, true, 5},
		{"probe stale rejection", progress{Match: 0, Next: 10}, 5, 4, false, 10},
		{"probe never below match+1", progress{Match: 6, Next: 10}, 9, 2, true, 7},
		{"probe hint past rejected", progress{Match: 0, Next: 10}, 9, 20, true, 9},
		{"probe: follower lost acknowledged entries", progress{Match: 9, Next: 10}, 9, 6, true, 7},
		{"replicate falls back to match+1", progress{State: stateReplicate, Match: 3, Next: 10}, 8, 0, true, 4},
		{"replicate stale rejection", progress{State: stateReplicate, Match: 8, Next: 10}, 7, 0, false, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := tc.pr
			pr.inflights = newInflights(4)
			if moved := pr.maybeDecrTo(tc.rejected, tc.hint); moved != tc.wantMoved || pr.Next != tc.wantNext {
				t.Fatalf("maybeDecrTo = %v next %d; want %v next %d", moved, pr.Next, tc.wantMoved, tc.wantNext)
			}
		})
	}
	pr := newProgress(5, 2, false, 0)
	if pr.isPaused() {
		t.Fatal("fresh probe paused")
	}
	pr.probeSent = true
	if !pr.isPaused() {
		t.Fatal("probe with an outstanding MsgApp not paused")
	}
	if !pr.maybeUpdate(4) || pr.probeSent || pr.Next != 5 {
		t.Fatalf("maybeUpdate(4): %+v", *pr)
	}
	pr.becomeReplicate()
	pr.inflights.add(6)
	pr.inflights.add(7)
	if !pr.isPaused() {
		t.Fatal("replicate with a full window not paused")
	}
	pr.becomeSnapshot(20)
	if !pr.isPaused() || pr.pendingSnapshot != 20 {
		t.Fatal("snapshot state must pause")
	}
	pr.becomeProbe()
	if pr.State != stateProbe || pr.Next != 21 {
		t.Fatalf("probe after snapshot: next %d, want 21", pr.Next)
	}
}

// Reference: Raft paper §5.3: "the leader can decrement nextIndex" — after
// ReportUnreachable a pipelining follower returns to probing.
func TestReportUnreachableDropsReplicateToProbe(t *testing.T) {
	nw := newNetwork(t, 3)
	nw.campaign("n1")
	r := nw.nodes["n1"].r
	if r.prs["n2"].State != stateReplicate {
		t.Fatalf("setup: n2 in %s", r.prs["n2"].State)
	}
	r.ReportUnreachable("n2")
	if pr := r.prs["n2"]; pr.State != stateProbe || pr.Next != pr.Match+1 {
		t.Fatalf("after ReportUnreachable: %+v", *pr)
	}
}
