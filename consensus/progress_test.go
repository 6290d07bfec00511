package consensus

import "testing"

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

// The progress invariants the leader's invariant check asserts: Match below
// Next, and every MsgApp in flight below Next.
func TestProgressCheckPanicsOnABrokenInvariant(t *testing.T) {
	for _, tc := range []struct {
		name      string
		match     uint64
		next      uint64
		inflights []uint64
		want      string // "" for no panic
	}{
		{"match below next, nothing in flight", 4, 5, nil, ""},
		{"in flight below next", 4, 10, []uint64{6, 9}, ""},
		{"match at next", 5, 5, nil, "match 5 >= next 5"},
		{"newest in flight at next", 4, 9, []uint64{6, 9}, "inflight index 9 not below next 9"},
		{"newest in flight past next", 4, 7, []uint64{6, 9}, "inflight index 9 not below next 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := newProgress(tc.next, 4, false, 0)
			pr.Match = tc.match
			pr.becomeReplicate()
			pr.Next = tc.next
			for _, i := range tc.inflights {
				pr.inflights.add(i)
			}
			if tc.want != "" {
				mustPanic(t, tc.want, pr.check)
			} else if msg, ok := panicOf(pr.check); ok {
				t.Fatalf("check panicked: %s", msg)
			}
		})
	}
}
