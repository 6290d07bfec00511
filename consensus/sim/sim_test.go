package sim

import (
	"errors"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	flagSeeds = flag.Int("sim.seeds", 2000, "number of seeds TestSimulation runs")
	flagSeed  = flag.Uint64("sim.seed", 1, "first seed TestSimulation runs (with -sim.seeds 1, replays exactly this seed)")
	flagSteps = flag.Int("sim.steps", DefaultSteps, "chaos steps per seed")
	flagV     = flag.Bool("sim.v", false, "print the trace of passing seeds too")
)

// replay is the command that reruns exactly one seed of TestSimulation.
func replay(o Options) string {
	cmd := fmt.Sprintf("go test ./consensus/sim/ -run 'TestSimulation$' -count=1 -v -sim.seeds 1 -sim.seed %d", o.Seed)
	if o.Steps != DefaultSteps {
		cmd += fmt.Sprintf(" -sim.steps %d", o.Steps)
	}
	return cmd + " -sim.v"
}

// runSeeds runs count seeds from first on a pool of workers, one whole
// seed per worker at a time (each run is single-goroutine and
// deterministic), and returns the results in seed order. Passing runs keep
// their trace only with -sim.v, so long runs stay small in memory.
func runSeeds(first uint64, count int, opts func(seed uint64) Options) []Result {
	results := make([]Result, count)
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := Run(opts(first + uint64(i)))
				if r.Err == nil && !*flagV {
					r.Trace = nil
				}
				results[i] = r
			}
		}()
	}
	for i := range count {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// TestSimulation runs -sim.seeds seeds from -sim.seed, each a randomized
// 3-, 5- or 7-node cluster under crashes, partitions, message loss,
// duplication, reordering and delay, membership changes, leadership
// transfers, snapshots and reads, checking Raft's safety properties after
// every step and liveness after a final heal.
// Reference: Raft paper §5.2–§5.4 (Figure 3), thesis §4 and §6.4.
func TestSimulation(t *testing.T) {
	begin := time.Now()
	results := runSeeds(*flagSeed, *flagSeeds, func(seed uint64) Options {
		o := DefaultOptions(seed)
		o.Steps = *flagSteps
		o.FullTrace = *flagV && *flagSeeds == 1
		return o
	})
	var total Stats
	var failed []string
	sizes := map[string]int{}
	var slowest, slowestElection *Result
	for i := range results {
		r := &results[i]
		total.Add(r.Stats)
		if slowest == nil || r.Stats.HealTicksToCatchUp > slowest.Stats.HealTicksToCatchUp {
			slowest = r
		}
		if slowestElection == nil || r.Stats.HealTicksToLeader > slowestElection.Stats.HealTicksToLeader {
			slowestElection = r
		}
		sizes[strings.SplitN(r.Cluster, ",", 2)[0]]++
		if r.Err != nil {
			failed = append(failed, fmt.Sprint(r.Options.Seed))
			if len(failed) <= 3 {
				t.Errorf("%s", r.Report(replay(r.Options)))
			}
		} else if *flagV {
			t.Logf("%s", r.Report(replay(r.Options)))
		}
	}
	t.Logf("%d seeds from %d (%d steps each, clusters %v) in %v: %d failed",
		len(results), *flagSeed, *flagSteps, sizes, time.Since(begin).Round(time.Millisecond), len(failed))
	t.Logf("totals: %+v", total)
	if slowest != nil {
		t.Logf("slowest heal: seed %d, leader after %d ticks, every member caught up after %d ticks",
			slowest.Options.Seed, slowest.Stats.HealTicksToLeader, slowest.Stats.HealTicksToCatchUp)
		t.Logf("slowest election after the heal: seed %d, %d ticks", slowestElection.Options.Seed, slowestElection.Stats.HealTicksToLeader)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d seeds failed: %s", len(failed), len(results), strings.Join(failed, " "))
	}
}

// TestSimulationExercisesEveryFault guards against a vacuous simulator: a
// fixed range of seeds must actually crash, restart, partition, lose,
// duplicate and delay messages, change membership, transfer leadership,
// install snapshots, complete reads and acknowledge proposals.
func TestSimulationExercisesEveryFault(t *testing.T) {
	results := runSeeds(1, 40, DefaultOptions)
	var s Stats
	for i := range results {
		if results[i].Err != nil {
			t.Errorf("%s", results[i].Report(replay(results[i].Options)))
		}
		s.Add(results[i].Stats)
	}
	counts := map[string]int{
		"crashes": s.Crashes, "restarts": s.Restarts, "partitions": s.Partitions,
		"crashes inside a Ready": s.CrashesInReady, "background syncs": s.BackgroundSyncs,
		"entries applied during a sync": s.EarlyApplied, "messages sent during a sync": s.EarlySent,
		"leader writes deferred": s.DeferredWrites,
		"lost messages":          s.Lost,
		"duplicated messages":    s.Duplicated, "delayed messages": s.Delayed,
		"leaders": s.Leaders, "acknowledged proposals": s.Acked, "completed reads": s.ReadsDone,
		"installed snapshots": s.SnapshotsInstalled, "compactions": s.Compactions,
		"added nodes": s.Added, "removed nodes": s.Removed, "transfers": s.Transfers,
	}
	for what, c := range counts {
		if c == 0 {
			t.Errorf("40 seeds produced no %s", what)
		}
	}
	t.Logf("%+v", s)
}

// TestSameSeedSameTrace checks that a seed is a complete description of a
// run: two runs of one seed produce the same trace, line for line.
func TestSameSeedSameTrace(t *testing.T) {
	for seed := uint64(100); seed < 105; seed++ {
		o := DefaultOptions(seed)
		o.FullTrace = true
		a, b := Run(o), Run(o)
		if a.TraceHash != b.TraceHash || a.TraceCount != b.TraceCount {
			for i := range min(len(a.Trace), len(b.Trace)) {
				if a.Trace[i] != b.Trace[i] {
					t.Fatalf("seed %d: traces diverge at line %d:\n  run 1: %s\n  run 2: %s", seed, i, a.Trace[i], b.Trace[i])
				}
			}
			t.Fatalf("seed %d: traces differ: %d lines hash %016x vs %d lines hash %016x", seed, a.TraceCount, a.TraceHash, b.TraceCount, b.TraceHash)
		}
		if a.TraceCount < 1000 {
			t.Errorf("seed %d: only %d trace lines", seed, a.TraceCount)
		}
		if c := Run(DefaultOptions(seed + 1000)); c.TraceHash == a.TraceHash {
			t.Errorf("seeds %d and %d produced the same trace", seed, seed+1000)
		}
	}
}

// TestUnsafeCommitPreviousTermIsCaught is the negative control: on the
// Figure 8 schedule, a core that commits previous-term entries by counting
// replicas must be caught by the checker, and the same seeds must pass
// without the knob.
// Reference: Raft paper §5.4.2, Figure 8.
func TestUnsafeCommitPreviousTermIsCaught(t *testing.T) {
	const seeds = 30
	fig8 := func(unsafe bool) func(uint64) Options {
		return func(seed uint64) Options {
			o := DefaultOptions(seed)
			o.Scenario, o.UnsafeCommitPreviousTerm = Figure8, unsafe
			return o
		}
	}
	unsafe := runSeeds(1, seeds, fig8(true))
	safe := runSeeds(1, seeds, fig8(false))
	found := 0
	for i := range unsafe {
		if s := &safe[i]; s.Err != nil {
			t.Errorf("safe core fails the Figure 8 schedule:\n%s", s.Report(""))
		}
		r := &unsafe[i]
		if r.Err == nil {
			continue
		}
		if !errors.Is(r.Err, ErrSafety) {
			t.Fatalf("unsafe core failed with something other than a safety violation:\n%s", r.Report(""))
		}
		if found == 0 {
			t.Logf("first violation, seed %d:\n%s", r.Options.Seed, r.Report(""))
		}
		found++
	}
	// Each phase waits on random election timeouts, so a seed may miss the
	// exact interleaving; most must hit it.
	if found < seeds/2 {
		t.Fatalf("only %d of %d Figure 8 seeds caught the unsafe commit", found, seeds)
	}
	t.Logf("%d of %d Figure 8 seeds caught the unsafe commit", found, seeds)
}

// TestSendBeforePersistIsCaught is a negative control of the crash model:
// a driver that sends vote answers and append acknowledgements before
// persisting them must, under crashes, be caught breaking safety.
// Reference: Raft paper §5.1 (persistent state), Figure 2.
func TestSendBeforePersistIsCaught(t *testing.T) {
	const seeds = 400 // about 1.5% of seeds hit the crash window
	results := runSeeds(1, seeds, func(seed uint64) Options {
		o := DefaultOptions(seed)
		o.TestingSendBeforePersist, o.CrashHeavy = true, true
		return o
	})
	found := 0
	for i := range results {
		r := &results[i]
		if r.Err == nil {
			continue
		}
		switch {
		case errors.Is(r.Err, ErrSafety):
			if found == 0 {
				t.Logf("first violation, seed %d: %v", r.Options.Seed, r.Err)
			}
			found++
		case errors.Is(r.Err, ErrLiveness):
			// Also a consequence: a follower that acknowledged entries it
			// then lost is never sent them again.
			t.Logf("seed %d: %v", r.Options.Seed, r.Err)
		default:
			t.Fatalf("failed with neither a safety nor a liveness violation:\n%s", r.Report(""))
		}
	}
	if found == 0 {
		t.Fatalf("no violation in %d crash-heavy seeds with a driver that sends before persisting", seeds)
	}
	t.Logf("%d of %d seeds caught the driver sending before persisting", found, seeds)
}

// TestLeaderCountsItselfOnlyAfterPersisting runs the PersistRace schedule:
// a follower acknowledges an entry the leader has sent but not yet
// persisted, and the leader crashes. The entry must not have been
// committed, so the leader elected next may replace it.
// Reference: Raft thesis §10.2.1.
func TestLeaderCountsItselfOnlyAfterPersisting(t *testing.T) {
	const seeds = 20
	results := runSeeds(1, seeds, func(seed uint64) Options {
		o := DefaultOptions(seed)
		o.Scenario = PersistRace
		return o
	})
	reached := 0
	for i := range results {
		r := &results[i]
		if r.Err != nil {
			t.Errorf("%s", r.Report(""))
		}
		if r.Stats.ScriptPhases == 4 {
			reached++
		}
	}
	if reached < seeds*3/4 {
		t.Fatalf("only %d of %d seeds played the whole race", reached, seeds)
	}
	t.Logf("%d of %d seeds played the whole race", reached, seeds)
}
