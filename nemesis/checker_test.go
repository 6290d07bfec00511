package nemesis

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// ops builds a history from ops whose Call/Return are given in "ticks".
func hist(ops ...Op) []Op {
	for i := range ops {
		ops[i].ID = i
	}
	return ops
}

func acq(client int, s uint64, lock string, m Mode, tok uint64, out Outcome, call, ret int64) Op {
	return Op{Client: client, Session: s, Lock: lock, Kind: KindAcquire, Mode: m, Token: tok, Outcome: out, Call: call, Return: ret}
}

func rel(client int, s uint64, lock string, tok uint64, out Outcome, call, ret int64) Op {
	return Op{Client: client, Session: s, Lock: lock, Kind: KindRelease, Token: tok, Outcome: out, Call: call, Return: ret}
}

func read(client int, lock string, call, ret int64, hs ...Holder) Op {
	return Op{Client: client, Lock: lock, Kind: KindRead, Holders: hs, Outcome: OutcomeOK, Call: call, Return: ret}
}

func checkOne(t *testing.T, ops []Op) error {
	t.Helper()
	_, err := CheckLinearizable(ops, 10*time.Second, "")
	return err
}

func TestLinearizableHistoriesPass(t *testing.T) {
	cases := map[string][]Op{
		"sequential grant and release": hist(
			acq(0, 1, "a", Exclusive, 5, OutcomeOK, 0, 10),
			read(1, "a", 11, 12, Holder{1, Exclusive, 5}),
			acq(1, 2, "a", Exclusive, 0, OutcomeHeld, 13, 14),
			rel(0, 1, "a", 5, OutcomeOK, 15, 20),
			acq(1, 2, "a", Exclusive, 9, OutcomeOK, 21, 30),
			Op{Client: 2, Lock: "a", Kind: KindCheck, Token: 9, Valid: true, Outcome: OutcomeOK, Call: 31, Return: 32},
			Op{Client: 2, Lock: "a", Kind: KindCheck, Token: 5, Valid: false, Outcome: OutcomeOK, Call: 33, Return: 34},
		),
		"concurrent acquires, one wins": hist(
			acq(0, 1, "a", Exclusive, 0, OutcomeHeld, 0, 10),
			acq(1, 2, "a", Exclusive, 7, OutcomeOK, 0, 10),
		),
		"shared holders together": hist(
			acq(0, 1, "a", Shared, 3, OutcomeOK, 0, 10),
			acq(1, 2, "a", Shared, 4, OutcomeOK, 11, 12),
			acq(2, 3, "a", Exclusive, 0, OutcomeHeld, 13, 14),
			read(3, "a", 15, 16, Holder{1, Shared, 3}, Holder{2, Shared, 4}),
		),
		"unknown acquire may have been granted": hist(
			acq(0, 1, "a", Exclusive, 0, OutcomeUnknown, 0, Pending),
			read(1, "a", 5, 6, Holder{1, Exclusive, 8}),
			acq(2, 2, "a", Exclusive, 0, OutcomeHeld, 7, 8),
		),
		"unknown acquire may not have been applied": hist(
			acq(0, 1, "a", Exclusive, 0, OutcomeUnknown, 0, Pending),
			acq(1, 2, "a", Exclusive, 8, OutcomeOK, 5, 6),
		),
		"expiry frees the lock": hist(
			acq(0, 1, "a", Exclusive, 3, OutcomeOK, 0, 1),
			Op{Client: 0, Session: 1, Kind: KindExpire, Outcome: OutcomeUnknown, Call: 0, Return: Pending},
			acq(1, 2, "a", Exclusive, 9, OutcomeOK, 10, 11),
		),
		"close frees the lock": hist(
			acq(0, 1, "a", Exclusive, 3, OutcomeOK, 0, 1),
			Op{Client: 0, Session: 1, Kind: KindClose, Outcome: OutcomeOK, Call: 2, Return: 3},
			read(1, "a", 4, 5),
		),
	}
	for name, ops := range cases {
		t.Run(name, func(t *testing.T) {
			if err := checkOne(t, ops); err != nil {
				t.Fatalf("a linearizable history was rejected: %v", err)
			}
		})
	}
}

// Negative controls: planted violations that each checker must report.

func TestLinearizabilityCheckerReportsOverlappingExclusiveHolders(t *testing.T) {
	ops := hist(
		acq(0, 1, "a", Exclusive, 5, OutcomeOK, 0, 10),
		acq(1, 2, "a", Exclusive, 7, OutcomeOK, 20, 30),
	)
	if err := checkOne(t, ops); !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("two exclusive holders at once went unreported: %v", err)
	}
}

func TestLinearizabilityCheckerReportsLostRelease(t *testing.T) {
	// An acknowledged release that a later read does not reflect (lost in
	// a crash, say).
	ops := hist(
		acq(0, 1, "a", Exclusive, 5, OutcomeOK, 0, 10),
		rel(0, 1, "a", 5, OutcomeOK, 11, 12),
		read(1, "a", 20, 21, Holder{1, Exclusive, 5}),
	)
	if err := checkOne(t, ops); !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("a lost release went unreported: %v", err)
	}
}

func TestLinearizabilityCheckerReportsLostAcquire(t *testing.T) {
	ops := hist(
		acq(0, 1, "a", Exclusive, 5, OutcomeOK, 0, 10),
		read(1, "a", 20, 21),
	)
	if err := checkOne(t, ops); !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("a lost acquire went unreported: %v", err)
	}
}

func TestLinearizabilityCheckerReportsNonMonotonicToken(t *testing.T) {
	ops := hist(
		acq(0, 1, "a", Exclusive, 9, OutcomeOK, 0, 10),
		rel(0, 1, "a", 9, OutcomeOK, 11, 12),
		acq(1, 2, "a", Exclusive, 5, OutcomeOK, 20, 30),
	)
	if err := checkOne(t, ops); !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("a token going back went unreported by the model: %v", err)
	}
	if err := CheckTokenOrder(ops); !errors.Is(err, ErrFencingViolation) {
		t.Fatalf("a token going back went unreported by CheckTokenOrder: %v", err)
	}
}

func TestLinearizabilityCheckerReportsGrantAfterClose(t *testing.T) {
	ops := hist(
		acq(0, 1, "a", Exclusive, 4, OutcomeOK, 0, 1),
		Op{Client: 0, Session: 1, Kind: KindClose, Outcome: OutcomeOK, Call: 0, Return: 2},
		acq(0, 1, "a", Exclusive, 5, OutcomeOK, 3, 4),
	)
	if err := checkOne(t, ops); !errors.Is(err, ErrNotLinearizable) {
		t.Fatalf("a grant to a closed session went unreported: %v", err)
	}
}

func TestFailedCheckWritesVisualization(t *testing.T) {
	dir := t.TempDir()
	ops := hist(
		acq(0, 1, "a/b", Exclusive, 5, OutcomeOK, 0, 10),
		acq(1, 2, "a/b", Exclusive, 7, OutcomeOK, 20, 30),
	)
	reports, err := CheckLinearizable(ops, 10*time.Second, dir)
	if !errors.Is(err, ErrNotLinearizable) || len(reports) != 1 || reports[0].Result != porcupine.Illegal {
		t.Fatalf("reports %+v err %v", reports, err)
	}
	if len(reports[0].Stuck) == 0 || reports[0].Stuck[0].ID != 1 {
		t.Fatalf("stuck ops %+v, want the second acquire first", reports[0].Stuck)
	}
	want := filepath.Join(dir, "a_b.html")
	if reports[0].Visualization != want {
		t.Fatalf("visualization at %q, want %q", reports[0].Visualization, want)
	}
	if fi, err := os.Stat(want); err != nil || fi.Size() == 0 {
		t.Fatalf("visualization file: %v", err)
	}
}

func TestTokenOrderAcceptsIncreasingAndConcurrentGrants(t *testing.T) {
	ops := hist(
		acq(0, 1, "a", Shared, 5, OutcomeOK, 0, 10),
		acq(1, 2, "a", Shared, 4, OutcomeOK, 1, 9), // concurrent: any order
		acq(2, 3, "a", Exclusive, 8, OutcomeOK, 20, 30),
	)
	if err := CheckTokenOrder(ops); err != nil {
		t.Fatal(err)
	}
}

func TestResourceRefusesStaleTokens(t *testing.T) {
	r := NewResource("a", NewHistory())
	if _, err := r.Read(0, 5); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(1, 7, 1, "c1-1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Write(0, 5, 1, "c0-1"); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("stale write accepted: %v", err)
	}
	if _, err := r.Read(0, 6); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("stale read accepted: %v", err)
	}
	if err := CheckResource("a", r.Log()); err != nil {
		t.Fatalf("fenced log reported: %v", err)
	}
}

func TestResourceCheckerReportsLostIncrement(t *testing.T) {
	r := NewResource("a", NewHistory())
	v, _ := r.Read(0, 5)
	// A paused holder, then a successor that increments.
	w, _ := r.Read(1, 7)
	_ = r.Write(1, 7, w+1, "c1-1")
	// The paused holder wakes and writes what it read plus one, ignoring
	// its fence: the successor's increment is lost.
	r.WriteUnfenced(0, 5, v+1, "c0-1")
	err := CheckResource("a", r.Log())
	if !errors.Is(err, ErrFencingViolation) {
		t.Fatalf("lost increment went unreported: %v", err)
	}
}

func TestResourceCheckerReportsOverlappingTokenEpochs(t *testing.T) {
	log := []Access{
		{Seq: 0, Client: 0, Token: 5, Write: true, Value: 1},
		{Seq: 1, Client: 1, Token: 7, Write: true, Value: 2},
		{Seq: 2, Client: 0, Token: 5, Write: true, Value: 3},
	}
	if err := CheckResource("a", log); !errors.Is(err, ErrFencingViolation) {
		t.Fatalf("interleaved token epochs went unreported: %v", err)
	}
	shared := []Access{
		{Seq: 0, Client: 0, Token: 5, Write: true, Value: 1},
		{Seq: 1, Client: 1, Token: 5, Write: true, Value: 2},
	}
	if err := CheckResource("a", shared); !errors.Is(err, ErrFencingViolation) {
		t.Fatalf("two clients under one token went unreported: %v", err)
	}
}

func TestAtMostOnceCheckerReportsDoubleApply(t *testing.T) {
	ops := hist(acq(0, 1, "a", Exclusive, 0, OutcomeAlready, 0, 1))
	if err := CheckAtMostOnce(ops); !errors.Is(err, ErrAtMostOnce) {
		t.Fatalf("already-holder answer went unreported: %v", err)
	}
	log := []Access{
		{Seq: 0, Client: 0, Token: 5, Write: true, Value: 1, OpID: "c0-1"},
		{Seq: 1, Client: 0, Token: 5, Write: true, Value: 2, OpID: "c0-1"},
	}
	if err := CheckResource("a", log); !errors.Is(err, ErrAtMostOnce) {
		t.Fatalf("an increment accepted twice went unreported: %v", err)
	}
}

func TestScheduleDrawsEveryFaultEachRound(t *testing.T) {
	n := &Nemesis{Faults: AllFaults, Rand: rand.New(rand.NewPCG(7, 7))}
	for round := 0; round < 3; round++ {
		seen := map[Fault]int{}
		for range AllFaults {
			seen[n.draw()]++
		}
		for _, f := range AllFaults {
			if seen[f] != 1 {
				t.Fatalf("round %d drew %s %d times: %v", round, f, seen[f], seen)
			}
		}
	}
	if _, err := ParseFaults("kill,nope"); err == nil {
		t.Fatal("an unknown fault name was accepted")
	}
	if fs, err := ParseFaults("kill, partition"); err != nil || len(fs) != 2 || fs[1] != FaultPartition {
		t.Fatalf("ParseFaults: %v %v", fs, err)
	}
}
