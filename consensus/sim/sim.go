package sim

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/lockd/lockd/consensus"
)

// DefaultSteps is the number of chaos steps of one run.
const DefaultSteps = 2500

// Options configures one simulated run. Everything else — cluster size,
// timing, fault rates and every choice — follows from Seed.
type Options struct {
	// Seed selects the run; the same Seed and Options give the same trace.
	Seed uint64
	// Steps is the number of chaos steps before the heal phase.
	Steps int
	// Nodes overrides the cluster size the seed picks (3, 5 or 7) if set.
	Nodes int
	// TraceLines is how many of the last trace lines the Result keeps.
	TraceLines int
	// FullTrace keeps every trace line in the Result.
	FullTrace bool
	// UnsafeCommitPreviousTerm turns on the core's negative-control knob,
	// which commits previous-term entries by counting replicas (Figure 8).
	UnsafeCommitPreviousTerm bool
	// CrashHeavy forces the fault profile richest in crashes and leader
	// changes.
	CrashHeavy bool
	// TestingSendBeforePersist makes the simulated driver break the Ready
	// contract: every message, vote answers included, leaves before the
	// Ready is persisted. A negative control for the crash model: a crash
	// between the two then loses votes and acknowledgements peers relied on.
	TestingSendBeforePersist bool
	// Scenario replaces the random chaos steps by a scripted schedule
	// (scenarios.go); deliveries and election timeouts stay random, and the
	// heal phase and every check still run.
	Scenario Scenario
}

// Scenario names a scripted schedule.
type Scenario uint8

const (
	// Random is the default: every step chosen by the seed.
	Random Scenario = iota
	// Figure8 is the Raft paper's Figure 8 on three nodes, one entry per
	// message: the negative control's targeted schedule.
	Figure8
	// PersistRace has the leader receive a follower's acknowledgement of
	// an entry it has not yet persisted itself, then crash: a leader that
	// counts itself before persisting commits an entry that is then lost.
	PersistRace
)

// DefaultOptions returns the options of a default run of seed.
func DefaultOptions(seed uint64) Options {
	return Options{Seed: seed, Steps: DefaultSteps, TraceLines: 200}
}

// Validate reports options a run cannot use.
func (o Options) Validate() error {
	switch {
	case o.Steps < 1:
		return fmt.Errorf("%w: Steps must be positive, got %d", ErrInvalidOptions, o.Steps)
	case o.Nodes != 0 && (o.Nodes < 1 || o.Nodes > 9):
		return fmt.Errorf("%w: Nodes must be in [1, 9], got %d", ErrInvalidOptions, o.Nodes)
	case o.TraceLines < 1:
		return fmt.Errorf("%w: TraceLines must be positive, got %d", ErrInvalidOptions, o.TraceLines)
	case o.Scenario > PersistRace:
		return fmt.Errorf("%w: unknown Scenario %d", ErrInvalidOptions, o.Scenario)
	}
	return nil
}

// Result is what one run found.
type Result struct {
	Options Options
	// Err is the first violation (ErrSafety, ErrLiveness or ErrContract),
	// nil if the run passed.
	Err error
	// Step and Time are where Err was found.
	Step int
	Time uint64
	// Cluster describes the parameters the seed chose.
	Cluster string
	// Trace is the last Options.TraceLines lines (all with FullTrace);
	// TraceHash and TraceCount cover every line.
	Trace      []string
	TraceHash  uint64
	TraceCount int
	Stats      Stats
}

// Report renders a result for a human: verdict, cluster, the replay
// command, and the trace.
func (r *Result) Report(replay string) string {
	var b strings.Builder
	if r.Err != nil {
		fmt.Fprintf(&b, "seed %d FAILED at step %d (t=%d): %v\n", r.Options.Seed, r.Step, r.Time, r.Err)
	} else {
		fmt.Fprintf(&b, "seed %d passed (%d steps, t=%d)\n", r.Options.Seed, r.Step, r.Time)
	}
	fmt.Fprintf(&b, "cluster: %s\n", r.Cluster)
	fmt.Fprintf(&b, "stats: %+v\n", r.Stats)
	if replay != "" {
		fmt.Fprintf(&b, "replay: %s\n", replay)
	}
	fmt.Fprintf(&b, "last %d of %d events (trace hash %016x):\n", len(r.Trace), r.TraceCount, r.TraceHash)
	for _, l := range r.Trace {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Stats counts what a run exercised.
type Stats struct {
	Steps, Ticks                            uint64
	Delivered, Lost, Duplicated, Delayed    int
	Crashes, Restarts, Partitions           int
	CrashesInReady, BackgroundSyncs         int
	EarlyApplied                            int // entries applied while their node's Ready was syncing (TakeCommitted)
	EarlySent                               int // leader messages sent while its Ready was syncing (TakeEarlyMessages)
	DeferredWrites                          int // times a leader put off its next Ready (CanDeferWrite)
	Leaders                                 int
	MaxTerm                                 uint64
	Proposed, Acked, ReadsIssued, ReadsDone int
	SnapshotsInstalled, Compactions         int
	ConfChanges, Added, Removed, Transfers  int
	HealTicksToLeader, HealTicksToCatchUp   uint64
	ScriptPhases                            int // phases of a scripted scenario that completed
}

// Add accumulates o into s (maxima for the Max/Heal fields).
func (s *Stats) Add(o Stats) {
	s.Steps += o.Steps
	s.Ticks += o.Ticks
	s.Delivered += o.Delivered
	s.Lost += o.Lost
	s.Duplicated += o.Duplicated
	s.Delayed += o.Delayed
	s.Crashes += o.Crashes
	s.Restarts += o.Restarts
	s.Partitions += o.Partitions
	s.CrashesInReady += o.CrashesInReady
	s.BackgroundSyncs += o.BackgroundSyncs
	s.EarlyApplied += o.EarlyApplied
	s.EarlySent += o.EarlySent
	s.DeferredWrites += o.DeferredWrites
	s.Leaders += o.Leaders
	s.MaxTerm = max(s.MaxTerm, o.MaxTerm)
	s.Proposed += o.Proposed
	s.Acked += o.Acked
	s.ReadsIssued += o.ReadsIssued
	s.ReadsDone += o.ReadsDone
	s.SnapshotsInstalled += o.SnapshotsInstalled
	s.Compactions += o.Compactions
	s.ConfChanges += o.ConfChanges
	s.Added += o.Added
	s.Removed += o.Removed
	s.Transfers += o.Transfers
	s.HealTicksToLeader = max(s.HealTicksToLeader, o.HealTicksToLeader)
	s.HealTicksToCatchUp = max(s.HealTicksToCatchUp, o.HealTicksToCatchUp)
	s.ScriptPhases += o.ScriptPhases
}

// params are the core's settings for one run.
type params struct {
	nodes                       int
	electionTick, heartbeatTick int
	preVote, checkQuorum        bool
	asyncSync                   float64 // chance a Ready's sync runs in the background
	maxSizePerMsg               uint64
	maxInflight                 int
}

// world is one simulated cluster: nodes, network, clock and checker, all
// driven from one goroutine by one random source.
type world struct {
	opts   Options
	rng    *rand.Rand
	params params
	prof   profile
	now    uint64
	step   int

	nodes   []*node // in creation order; iteration order is part of determinism
	byID    map[consensus.NodeID]*node
	net     *network
	check   *checker
	trace   *trace
	stats   Stats
	touched []*node // nodes stepped during the current step, to observe after it
	reports []report
	removed map[consensus.NodeID]bool // nodes some node applied a ConfRemove of

	nextID      int
	nextPayload uint64
	nextRead    uint64
	probeIndex  uint64 // index of the first heal-phase proposal seen applied by its proposer
	// Overrides for scripted scenarios: the next Ready's sync runs in the
	// background, and its early messages leave before it.
	forceAsync, forceEarly bool
}

// report is a delivery report for the sender's transport: a snapshot that
// arrived or was lost, or a peer found unreachable.
type report struct {
	from   consensus.NodeID
	inc    int
	to     consensus.NodeID
	snap   bool
	failed bool
}

// Run simulates one seed and checks Raft's safety properties after every
// step and liveness after the heal phase.
func Run(o Options) (res Result) {
	res.Options = o
	if err := o.Validate(); err != nil {
		res.Err = err
		return res
	}
	w := newWorld(o)
	res.Cluster = w.describe()
	defer func() {
		if p := recover(); p != nil {
			res.Err = fmt.Errorf("%w: panic: %v\n%s", ErrContract, p, debug.Stack())
			w.tracef("panic: %v", p)
		}
		res.Step, res.Time = w.step, w.now
		res.Trace, res.TraceHash, res.TraceCount = w.trace.lines(), w.trace.hash, w.trace.count
		w.stats.Steps = uint64(w.step)
		res.Stats = w.stats
	}()
	res.Err = w.run()
	if res.Err != nil {
		w.tracef("FAIL: %v", res.Err)
	}
	return res
}

func newWorld(o Options) *world {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	w := &world{
		opts:    o,
		rng:     rng,
		byID:    map[consensus.NodeID]*node{},
		net:     newNetwork(),
		check:   newChecker(),
		trace:   newTrace(o.TraceLines, o.FullTrace),
		removed: map[consensus.NodeID]bool{},
	}
	sizes := [...]int{3, 3, 5, 5, 7}
	w.params = params{
		nodes:         sizes[o.Seed%uint64(len(sizes))],
		electionTick:  10,
		heartbeatTick: 1 + rng.IntN(3),
		preVote:       rng.IntN(4) != 0,
		checkQuorum:   rng.IntN(4) != 0,
		maxSizePerMsg: [...]uint64{1, 256, 1 << 20}[rng.IntN(3)],
		maxInflight:   [...]int{1, 4, 256}[rng.IntN(3)],
		asyncSync:     [...]float64{0, 0.3, 0.8}[rng.IntN(3)],
	}
	if o.Nodes != 0 {
		w.params.nodes = o.Nodes
	}
	w.prof = pickProfile(rng, o.CrashHeavy)
	if o.Scenario != Random {
		w.params.nodes, w.params.maxSizePerMsg, w.params.asyncSync = 3, 1, 0
		w.prof = profile{name: "scripted", maxDelay: 2}
	}
	w.net.dropRate, w.net.dupRate, w.net.maxDelay = w.prof.dropRate, w.prof.dupRate, w.prof.maxDelay
	w.net.reorderRate = w.prof.reorderRate
	return w
}

func (w *world) describe() string {
	p := w.params
	return fmt.Sprintf("%d nodes, election=%d heartbeat=%d prevote=%t checkquorum=%t maxmsg=%d inflight=%d async=%.1f unsafe=%t; faults: %s",
		p.nodes, p.electionTick, p.heartbeatTick, p.preVote, p.checkQuorum, p.maxSizePerMsg, p.maxInflight, p.asyncSync,
		w.opts.UnsafeCommitPreviousTerm, w.prof)
}

// childRand derives a node's random source from the world's.
func (w *world) childRand() *rand.Rand {
	return rand.New(rand.NewPCG(w.rng.Uint64(), w.rng.Uint64()))
}

func (w *world) tracef(format string, args ...any) {
	w.trace.add(fmt.Sprintf("t=%d ", w.now) + fmt.Sprintf(format, args...))
}

func (w *world) run() error {
	conf := consensus.ConfState{Addrs: map[consensus.NodeID]string{}}
	for i := 1; i <= w.params.nodes; i++ {
		id := consensus.NodeID(fmt.Sprintf("n%d", i))
		conf.Voters = append(conf.Voters, id)
		conf.Addrs[id] = "sim://" + string(id)
	}
	w.nextID = w.params.nodes + 1
	w.tracef("start: %s", w.describe())
	for _, id := range conf.Voters {
		if err := w.start(w.newNode(id, &conf)); err != nil {
			return err
		}
	}
	if err := w.endStep(); err != nil {
		return err
	}
	if w.opts.Scenario != Random {
		script := w.figure8
		if w.opts.Scenario == PersistRace {
			script = w.persistRace
		}
		if err := script(); err != nil {
			return err
		}
		return w.heal()
	}
	for w.step = 0; w.step < w.opts.Steps; w.step++ {
		if err := w.chaosStep(); err != nil {
			return err
		}
		if err := w.endStep(); err != nil {
			return err
		}
	}
	return w.heal()
}

// endStep hands delivery reports to the senders, then observes every node
// the step touched and checks it.
func (w *world) endStep() error {
	for len(w.reports) > 0 {
		r := w.reports[0]
		w.reports = w.reports[1:]
		n := w.byID[r.from]
		if n == nil || n.state != nodeUp || n.incarnation != r.inc {
			continue
		}
		if r.snap {
			w.tracef("%s report snapshot to %s failed=%t", r.from, r.to, r.failed)
			n.raft.ReportSnapshot(r.to, r.failed)
		} else {
			w.tracef("%s report %s unreachable", r.from, r.to)
			n.raft.ReportUnreachable(r.to)
		}
		if err := w.process(n); err != nil {
			return err
		}
	}
	for _, n := range w.touched {
		n.touched = false
		if n.state == nodeUp {
			if err := w.observe(n); err != nil {
				return err
			}
		}
	}
	w.touched = w.touched[:0]
	return nil
}

// observe checks a node's volatile state after a step. The durable state
// must match it once the Ready loop has settled; while a sync is running
// the checks use the log the core holds (durable plus syncing).
func (w *world) observe(n *node) error {
	st := n.raft.Status()
	if st.Role != n.role || st.Term != n.term {
		w.tracef("%s is %s term=%d lead=%s last=%d commit=%d", n.id, st.Role, st.Term, st.Lead, st.LastIndex, st.Commit)
		if st.Role == consensus.Leader {
			w.stats.Leaders++
		}
	}
	if st.Commit < n.commit {
		return safetyf("commit: %s commit index moved back from %d to %d", n.id, n.commit, st.Commit)
	}
	log, err := n.view()
	if err != nil {
		return err
	}
	if n.pending == nil {
		if st.Term != n.hs.Term || st.Vote != n.hs.Vote {
			return fmt.Errorf("%w: %s runs at term=%d vote=%s but persisted term=%d vote=%s", ErrContract, n.id, st.Term, st.Vote, n.hs.Term, n.hs.Vote)
		}
		if st.LastIndex != n.log.last() && !(n.deferred && st.LastIndex > n.log.last()) {
			return fmt.Errorf("%w: %s has last index %d but only %d was handed out to persist", ErrContract, n.id, st.LastIndex, n.log.last())
		}
		if confString(st.ConfState) != confString(n.conf) {
			return fmt.Errorf("%w: %s runs with membership %s but handed out %s", ErrContract, n.id, confString(st.ConfState), confString(n.conf))
		}
	}
	if st.Role == consensus.Leader {
		if err := w.check.onLeader(n.id, st.Term, log); err != nil {
			return err
		}
	}
	// While a sync runs, a follower's commit index may refer to entries
	// not handed out yet (replacing some that were); it is checked when the
	// hard state carrying it is persisted. A leader's may run past what it
	// has persisted only on its followers' durable logs (it sent early,
	// TakeEarlyMessages): then a quorum of voters must hold that entry
	// durably, and the part it holds itself is checked as usual.
	if n.pending == nil || st.Role == consensus.Leader {
		commit := st.Commit
		if st.Role == consensus.Leader && commit > log.last() {
			if err := w.checkDurableQuorum(n, st.ConfState, commit); err != nil {
				return err
			}
			commit = log.last()
		}
		if err := w.check.onCommit(n.id, st.Term, commit, log); err != nil {
			return err
		}
	}
	n.role, n.term, n.commit = st.Role, st.Term, st.Commit
	w.stats.MaxTerm = max(w.stats.MaxTerm, st.Term)
	return nil
}

// checkDurableQuorum checks that a quorum of cs's voters durably hold the
// same entry at index, as a commit index there requires. A voter whose
// snapshot covers index holds it too (snapshots are of committed state).
func (w *world) checkDurableQuorum(leader *node, cs consensus.ConfState, index uint64) error {
	byHash := map[uint64]int{}
	covered := 0
	for _, m := range w.nodes {
		if !slices.Contains(cs.Voters, m.id) {
			continue
		}
		if index < m.log.base {
			covered++
			continue
		}
		if h, _, ok := m.log.at(index); ok {
			byHash[h]++
		}
	}
	best := 0
	for _, c := range byHash {
		best = max(best, c)
	}
	if best+covered <= len(cs.Voters)/2 {
		return safetyf("commit: leader %s has commit index %d beyond its durable last index %d, and only %d of %d voters hold that entry durably",
			leader.id, index, leader.log.last(), best+covered, len(cs.Voters))
	}
	return nil
}

// deliver hands a message to its destination, unless the destination is
// down or the link is cut.
func (w *world) deliver(e envelope) error {
	m := &e.m
	to := w.byID[m.To]
	why := ""
	switch {
	case to == nil || to.state != nodeUp:
		why = "down"
	case w.net.blocked(m.From, m.To):
		why = "cut"
	}
	if why != "" {
		w.tracef("drop(%s) %s", why, fmtMsg(m))
		w.lostMsg(e.inc, m, true)
		return nil
	}
	w.tracef("%s", fmtMsg(m))
	w.stats.Delivered++
	if err := to.raft.Step(*m); err != nil {
		w.tracef("%s: step %s: %v", m.To, m.Type, err)
		if !expected(err) {
			return fmt.Errorf("%w: %s: Step(%s) returned %v", ErrContract, m.To, fmtMsg(m), err)
		}
	}
	if m.Type == consensus.MsgSnap {
		w.reports = append(w.reports, report{from: m.From, inc: e.inc, to: m.To, snap: true})
	}
	return w.process(to)
}

// lostMsg tells the sender's transport about a lost snapshot, and, when
// the transport would notice (a dead peer or cut link), an unreachable peer.
func (w *world) lostMsg(inc int, m *consensus.Message, noticed bool) {
	w.stats.Lost++
	switch {
	case m.Type == consensus.MsgSnap:
		w.reports = append(w.reports, report{from: m.From, inc: inc, to: m.To, snap: true, failed: true})
	case noticed && m.Type == consensus.MsgApp:
		w.reports = append(w.reports, report{from: m.From, inc: inc, to: m.To})
	}
}

// up returns the running nodes in creation order.
func (w *world) up() []*node {
	var out []*node
	for _, n := range w.nodes {
		if n.state == nodeUp {
			out = append(out, n)
		}
	}
	return out
}

// leader returns the running node that last showed itself leader in the
// highest term, or nil.
func (w *world) leader() *node {
	var best *node
	for _, n := range w.nodes {
		if n.state == nodeUp && n.role == consensus.Leader && (best == nil || n.term > best.term) {
			best = n
		}
	}
	return best
}
