package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/lockd/lockd/consensus"
)

// profile is a run's fault mix: the weight of each kind of event next to
// ticks (weight 100) and the network's loss, duplication and delay.
type profile struct {
	name                              string
	propose, read, crash, partition   int
	msgFault, conf, transfer, compact int
	crashInReady                      float64 // chance a Ready's handling is cut by a crash
	skew                              float64 // chance a node misses a tick
	dropRate, dupRate, reorderRate    float64
	maxDelay                          int
}

func (p profile) String() string {
	return fmt.Sprintf("%s(crash=%d partition=%d msgfault=%d conf=%d drop=%.2f dup=%.2f reorder=%.2f delay<=%d)",
		p.name, p.crash, p.partition, p.msgFault, p.conf, p.dropRate, p.dupRate, p.reorderRate, p.maxDelay)
}

func pickProfile(rng *rand.Rand, crashHeavy bool) profile {
	p := profile{propose: 25, read: 6, transfer: 1, compact: 3, skew: 0.03, maxDelay: 4, reorderRate: 0.2}
	kind := rng.IntN(5)
	if crashHeavy {
		kind = 3
	}
	switch kind {
	case 4:
		// Slow links: messages outlive election timeouts, so stale votes,
		// appends and acknowledgements arrive terms later.
		p.name, p.crash, p.partition, p.msgFault, p.conf = "slow", 1, 2, 4, 2
		p.crashInReady, p.dropRate, p.dupRate, p.maxDelay, p.reorderRate = 0.005, 0.02, 0.03, 30, 0.5
	case 0:
		p.name, p.crash, p.partition, p.msgFault, p.conf = "calm", 1, 1, 1, 2
		p.crashInReady, p.dropRate, p.dupRate = 0.002, 0.01, 0.01
	case 1:
		p.name, p.crash, p.partition, p.msgFault, p.conf = "lossy", 1, 2, 6, 2
		p.crashInReady, p.dropRate, p.dupRate, p.maxDelay, p.reorderRate = 0.002, 0.10, 0.05, 8, 0.6
	case 2:
		p.name, p.crash, p.partition, p.msgFault, p.conf = "partitions", 2, 6, 2, 3
		p.crashInReady, p.dropRate, p.dupRate = 0.005, 0.03, 0.02
	default:
		p.name, p.crash, p.partition, p.msgFault, p.conf = "crashes", 8, 3, 2, 1
		p.crashInReady, p.dropRate, p.dupRate = 0.02, 0.03, 0.02
	}
	return p
}

// chaosStep runs one step: usually delivering a due message, otherwise a
// tick or a fault or a client action chosen by weight.
func (w *world) chaosStep() error {
	if syncing := w.syncing(); len(syncing) > 0 && w.rng.Float64() < 0.25 {
		return w.finishSync(syncing[w.rng.IntN(len(syncing))])
	}
	if due := w.net.due(w.now); due > 0 && w.rng.Float64() < 0.6+0.39*min(1, float64(due)/16) {
		return w.deliverOne(due)
	}
	down := 0
	for _, n := range w.nodes {
		if n.state == nodeDown {
			down++
		}
	}
	p := w.prof
	events := [...]struct {
		weight int
		run    func() error
	}{
		{100, w.tick},
		{p.propose, w.propose},
		{p.read, w.read},
		{p.crash, w.crashOne},
		{min(down, 1) * (4 + p.crash), w.restartOne},
		{p.partition, w.partition},
		{p.partition, w.healLinks},
		{min(len(w.net.inflight), 1) * p.msgFault, w.messageFault},
		{p.conf, w.confChange},
		{p.transfer, w.transfer},
		{p.compact, w.compact},
	}
	total := 0
	for _, e := range events {
		total += e.weight
	}
	x := w.rng.IntN(total)
	for _, e := range events {
		if x < e.weight {
			return e.run()
		}
		x -= e.weight
	}
	panic("sim: event choice out of range")
}

// syncing returns the nodes whose sync is running, in creation order.
func (w *world) syncing() []*node {
	var out []*node
	for _, n := range w.nodes {
		if n.state == nodeUp && n.pending != nil {
			out = append(out, n)
		}
	}
	return out
}

// deliverOne delivers one of the due messages.
func (w *world) deliverOne(due int) error {
	k := w.rng.IntN(due)
	return w.deliver(w.net.take(w.now, k, w.rng.Float64() >= w.net.reorderRate))
}

// tick advances the clock one tick; every running node ticks, except that
// a node's clock sometimes runs slow.
func (w *world) tick() error {
	w.now++
	w.stats.Ticks++
	for _, n := range w.nodes {
		if n.state != nodeUp || w.rng.Float64() < w.prof.skew {
			continue
		}
		n.raft.Tick()
		if err := w.process(n); err != nil {
			return err
		}
	}
	return nil
}

// pick returns, with chance leaderBias, a node that believes it leads —
// a deposed leader cut off from the cluster as likely as the current one,
// so that divergent uncommitted suffixes grow — else a random running
// node; nil if none runs.
func (w *world) pick(leaderBias float64) *node {
	if w.rng.Float64() < leaderBias {
		var leaders []*node
		for _, n := range w.nodes {
			if n.state == nodeUp && n.role == consensus.Leader {
				leaders = append(leaders, n)
			}
		}
		if len(leaders) > 0 {
			return leaders[w.rng.IntN(len(leaders))]
		}
	}
	up := w.up()
	if len(up) == 0 {
		return nil
	}
	return up[w.rng.IntN(len(up))]
}

func (w *world) propose() error {
	n := w.pick(0.85)
	if n == nil {
		return nil
	}
	_, err := w.proposeOn(n, fmt.Sprintf("p%d", w.nextPayload))
	return err
}

// proposeOn proposes payload on n and returns the index it was given (0 if
// refused).
func (w *world) proposeOn(n *node, payload string) (uint64, error) {
	w.nextPayload++
	idx, term, err := n.raft.Propose([]byte(payload))
	if err != nil && !expected(err) {
		return 0, fmt.Errorf("%w: %s: Propose: %v", ErrContract, n.id, err)
	}
	if err == nil {
		n.proposals[idx] = proposal{payload: payload, term: term}
		w.stats.Proposed++
		w.tracef("%s propose %s -> idx=%d term=%d", n.id, payload, idx, term)
	} else {
		w.tracef("%s propose %s: %s", n.id, payload, errName(err))
	}
	return idx, w.process(n)
}

func (w *world) read() error {
	n := w.pick(0.5)
	if n == nil {
		return nil
	}
	w.nextRead++
	id := w.nextRead
	w.check.onReadStart(id, n.id)
	err := n.raft.ReadIndex(id)
	if err != nil && !expected(err) {
		return fmt.Errorf("%w: %s: ReadIndex: %v", ErrContract, n.id, err)
	}
	w.stats.ReadsIssued++
	w.tracef("%s read %d (floor=%d): %s", n.id, id, w.check.maxCommit, errName(err))
	return w.process(n)
}

// crashOne crashes a running node, as often as not one whose sync is
// running (the crash then loses a Ready whose early messages are out).
func (w *world) crashOne() error {
	if syncing := w.syncing(); len(syncing) > 0 && w.rng.IntN(2) == 0 {
		w.crash(syncing[w.rng.IntN(len(syncing))], noCrash)
		return nil
	}
	if up := w.up(); len(up) > 0 {
		w.crash(up[w.rng.IntN(len(up))], noCrash)
	}
	return nil
}

func (w *world) restartOne() error {
	var down []*node
	for _, n := range w.nodes {
		if n.state == nodeDown {
			down = append(down, n)
		}
	}
	if len(down) == 0 {
		return nil
	}
	return w.start(down[w.rng.IntN(len(down))])
}

// partition replaces the link cuts by a new pattern: a symmetric split, one
// node isolated, a one-way cut, or a bridge (two sides that only one node
// can reach both of).
func (w *world) partition() error {
	var ids []consensus.NodeID
	for _, n := range w.nodes {
		if n.state != nodeRetired {
			ids = append(ids, n.id)
		}
	}
	if len(ids) < 2 {
		return nil
	}
	w.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	w.net.heal()
	w.stats.Partitions++
	k := 1 + w.rng.IntN(len(ids)-1)
	a, b := ids[:k], ids[k:]
	switch kind := w.rng.IntN(4); {
	case kind == 0:
		w.net.split(a, b)
		w.tracef("partition %v | %v", a, b)
	case kind == 1:
		w.net.split(ids[:1], ids[1:])
		w.tracef("partition isolate %s", ids[0])
	case kind == 2:
		w.net.oneWay(a, b)
		w.tracef("partition one-way %v -/-> %v", a, b)
	case len(ids) >= 3:
		bridge := ids[0]
		rest := ids[1:]
		k = 1 + w.rng.IntN(len(rest)-1)
		w.net.split(rest[:k], rest[k:])
		w.tracef("partition bridge %v - %s - %v", rest[:k], bridge, rest[k:])
	default:
		w.net.oneWay(b, a)
		w.tracef("partition one-way %v -/-> %v", b, a)
	}
	return nil
}

func (w *world) healLinks() error {
	if len(w.net.cut) > 0 {
		w.net.heal()
		w.tracef("links healed")
	}
	return nil
}

// messageFault drops, duplicates or delays one message in flight.
func (w *world) messageFault() error {
	i := w.rng.IntN(len(w.net.inflight))
	e := &w.net.inflight[i]
	switch w.rng.IntN(3) {
	case 0:
		w.tracef("lose %s", fmtMsg(&e.m))
		w.lostMsg(e.inc, &e.m, false)
		w.net.remove(i)
	case 1:
		w.stats.Duplicated++
		w.tracef("duplicate %s", fmtMsg(&e.m))
		w.net.inflight = append(w.net.inflight, envelope{at: w.now + w.net.delay(w.rng), inc: e.inc, m: copyMessage(e.m)})
	default:
		w.stats.Delayed++
		e.at += 1 + uint64(w.rng.IntN(3*w.params.electionTick))
		w.tracef("delay %s until t=%d", fmtMsg(&e.m), e.at)
	}
	return nil
}

// confChange asks the leader (usually) to add a learner under a fresh id,
// promote a learner, or remove a member — the leader itself included.
func (w *world) confChange() error {
	n := w.pick(0.9)
	if n == nil {
		return nil
	}
	conf := n.conf
	members := len(conf.Voters) + len(conf.Learners)
	var cc consensus.ConfChange
	switch x := w.rng.IntN(10); {
	case x < 4 && members < w.params.nodes+2 && w.nextID <= w.params.nodes+8:
		id := consensus.NodeID(fmt.Sprintf("n%d", w.nextID))
		cc = consensus.ConfChange{Type: consensus.ConfAddLearner, Node: id, Addr: "sim://" + string(id)}
	case x < 7 && len(conf.Learners) > 0:
		cc = consensus.ConfChange{Type: consensus.ConfPromote, Node: conf.Learners[w.rng.IntN(len(conf.Learners))]}
	default:
		cands := slices.Clone(conf.Learners)
		if len(conf.Voters) > 3 {
			cands = append(cands, conf.Voters...)
		}
		if len(cands) == 0 {
			return nil
		}
		cc = consensus.ConfChange{Type: consensus.ConfRemove, Node: cands[w.rng.IntN(len(cands))]}
	}
	idx, _, err := n.raft.ProposeConfChange(cc)
	if err != nil && !expected(err) {
		return fmt.Errorf("%w: %s: ProposeConfChange: %v", ErrContract, n.id, err)
	}
	w.tracef("%s conf change %s %s -> idx=%d: %s", n.id, ccName(cc.Type), cc.Node, idx, errName(err))
	if err == nil {
		w.stats.ConfChanges++
		if cc.Type == consensus.ConfAddLearner {
			w.nextID++
			w.stats.Added++
			if err := w.start(w.newNode(cc.Node, nil)); err != nil {
				return err
			}
		}
	}
	return w.process(n)
}

func ccName(t consensus.ConfChangeType) string {
	switch t {
	case consensus.ConfAddLearner:
		return "add-learner"
	case consensus.ConfPromote:
		return "promote"
	case consensus.ConfRemove:
		return "remove"
	}
	return "unknown"
}

// transfer asks the leader (usually) to hand leadership to a member.
func (w *world) transfer() error {
	n := w.pick(0.9)
	if n == nil || len(n.conf.Voters) == 0 {
		return nil
	}
	to := n.conf.Voters[w.rng.IntN(len(n.conf.Voters))]
	err := n.raft.TransferLeader(to)
	if err != nil && !expected(err) {
		return fmt.Errorf("%w: %s: TransferLeader(%s): %v", ErrContract, n.id, to, err)
	}
	if err == nil {
		w.stats.Transfers++
	}
	w.tracef("%s transfer leadership to %s: %s", n.id, to, errName(err))
	return w.process(n)
}

// compact snapshots a node's application at its applied index and
// compacts its durable log, sometimes keeping a short tail.
func (w *world) compact() error {
	up := w.up()
	if len(up) == 0 {
		return nil
	}
	n := up[w.rng.IntN(len(up))]
	snap, err := n.store.Snapshot()
	if err != nil {
		return fmt.Errorf("%w: %s: Snapshot: %v", ErrContract, n.id, err)
	}
	if n.app.index <= snap.Meta.Index {
		return nil
	}
	if n.app.index > n.hs.Commit {
		// Applied during a sync (TakeCommitted) past the durable commit
		// index: a snapshot there would make a restart start from an
		// applied index beyond its commit. The driver waits, as here.
		return nil
	}
	conf := copyConf(n.conf)
	if _, err := n.store.CreateSnapshot(n.app.index, &conf, encodeApp(n.app)); err != nil {
		return fmt.Errorf("%w: %s: CreateSnapshot(%d): %v", ErrContract, n.id, n.app.index, err)
	}
	to := n.app.index - uint64(w.rng.IntN(int(min(n.app.index-snap.Meta.Index, 5))))
	if err := n.store.Compact(to); err != nil {
		return fmt.Errorf("%w: %s: Compact(%d): %v", ErrContract, n.id, to, err)
	}
	w.stats.Compactions++
	w.tracef("%s snapshot idx=%d term=%d, compact to %d", n.id, n.app.index, n.app.term, to)
	return nil
}

// heal ends the chaos: links restored, no loss or duplication, every node
// up until its removal (if any) is applied everywhere. A leader must then be elected, a
// proposal made after the heal must commit, and every member must catch up.
func (w *world) heal() error {
	w.net.heal()
	w.net.dropRate, w.net.dupRate, w.net.maxDelay, w.net.reorderRate = 0, 0, 0, 0
	w.prof.crashInReady, w.prof.skew, w.params.asyncSync = 0, 0, 0
	w.tracef("heal: links restored, no loss, all members up, syncs complete")
	for _, n := range w.syncing() {
		if err := w.finishSync(n); err != nil {
			return err
		}
	}
	for _, n := range w.nodes {
		if n.state == nodeDown {
			if err := w.start(n); err != nil {
				return err
			}
		}
	}
	if err := w.endStep(); err != nil {
		return err
	}
	start := w.now
	limit := start + uint64(40*w.params.electionTick)
	var proposer *node
	var proposedTerm, triedAt uint64
	for w.now < limit {
		w.step++
		if due := w.net.due(w.now); due > 0 && w.rng.Float64() < 0.95 {
			if err := w.deliverOne(due); err != nil {
				return err
			}
		} else if err := w.tick(); err != nil {
			return err
		}
		if err := w.endStep(); err != nil {
			return err
		}
		w.retireRemoved()
		l := w.leader()
		if l == nil {
			continue
		}
		if w.stats.HealTicksToLeader == 0 {
			w.stats.HealTicksToLeader = max(w.now-start, 1)
		}
		// Propose once per leader and term; retry each tick while refused
		// (a leadership transfer in progress refuses proposals).
		if w.probeIndex == 0 && (proposer != l || proposedTerm != l.term) && triedAt != w.now {
			triedAt = w.now
			idx, err := w.proposeOn(l, fmt.Sprintf("heal-%d", w.nextPayload))
			if err != nil {
				return err
			}
			if idx != 0 {
				proposer, proposedTerm = l, l.term
			}
			continue
		}
		if w.probeIndex != 0 && w.caughtUp(l) {
			w.stats.HealTicksToCatchUp = max(w.now-start, 1)
			w.tracef("healed: leader %s term=%d, every member applied idx=%d", l.id, l.term, w.probeIndex)
			return w.check.checkAcked(w.check.maxCommit)
		}
	}
	switch {
	case w.stats.HealTicksToLeader == 0:
		return fmt.Errorf("%w: no leader within %d ticks of the heal", ErrLiveness, limit-start)
	case w.probeIndex == 0:
		return fmt.Errorf("%w: no proposal made after the heal committed within %d ticks", ErrLiveness, limit-start)
	}
	var behind []string
	if l := w.leader(); l != nil {
		for _, n := range w.up() {
			if l.conf.IsMember(n.id) && n.app.index < w.probeIndex {
				behind = append(behind, fmt.Sprintf("%s applied %d", n.id, n.app.index))
			}
		}
	}
	return fmt.Errorf("%w: members did not catch up to idx=%d within %d ticks of the heal: %s", ErrLiveness, w.probeIndex, limit-start, strings.Join(behind, ", "))
}

// retireRemoved shuts down, as an operator would, every removed node
// whose removal all remaining nodes have applied: until then it may still
// count in someone's quorum, and after that it could only disrupt.
func (w *world) retireRemoved() {
	for _, x := range w.nodes {
		if x.state != nodeUp || !w.removed[x.id] {
			continue
		}
		applied := true
		for _, n := range w.nodes {
			if n.state == nodeUp && !w.removed[n.id] && n.conf.IsMember(x.id) {
				applied = false
				break
			}
		}
		if applied {
			w.tracef("retire %s (removed)", x.id)
			x.state, x.raft, x.pending = nodeRetired, nil, nil
		}
	}
}

// caughtUp reports whether every running member of l's configuration has
// applied the heal proposal.
func (w *world) caughtUp(l *node) bool {
	for _, n := range w.up() {
		if l.conf.IsMember(n.id) && n.app.index < w.probeIndex {
			return false
		}
	}
	return true
}
