package consensus

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// chaos drives a network through a seeded random schedule of ticks,
// reordered, dropped and duplicated messages, partitions, crashes,
// proposals, transfers, conf changes and compactions, checking Raft's
// safety properties after every step. It is a small in-package smoke test;
// the full simulator lives in consensus/sim.
type chaos struct {
	t       *testing.T
	nw      *network
	rng     *rand.Rand
	leaders map[uint64]NodeID // term -> leader seen
	commits map[NodeID]uint64 // highest commit seen per node
	seed    uint64
	// pending holds a Ready whose early messages are sent but which is not
	// yet persisted (thesis §10.2.1); a crash loses it.
	pending map[NodeID]*Ready
	byIndex map[uint64]Entry // every applied entry seen, by index
	checked map[NodeID]int   // applied entries already checked per node
	// readFloor maps a ReadIndex request id to the highest commit index any
	// node knew when the read was issued: a linearizable read point may not
	// be below it (thesis §6.4).
	readFloor   map[uint64]uint64
	nextRead    uint64
	readChecked map[NodeID]int
	readsDone   int
	// collect records the first safety violation in violation instead of
	// failing the test (for the negative control).
	collect   bool
	violation string
}

func (c *chaos) fail(format string, args ...any) {
	c.t.Helper()
	if !c.collect {
		c.t.Fatalf(format, args...)
	}
	if c.violation == "" {
		c.violation = fmt.Sprintf(format, args...)
	}
}

func runChaos(t *testing.T, seed uint64, steps int) { runChaosRet(t, seed, steps) }

func runChaosRet(t *testing.T, seed uint64, steps int) *chaos {
	c := runChaosNoLive(t, seed, steps, false)
	c.checkLiveness()
	return c
}

func runChaosNoLive(t *testing.T, seed uint64, steps int, collect bool, extra ...netOption) *chaos {
	rng := rand.New(rand.NewPCG(seed, 7))
	size := []int{3, 5}[rng.IntN(2)]
	opts := []netOption{func(c *Config) {
		c.Rand = rand.New(rand.NewPCG(seed, uint64(len(c.ID))+rng.Uint64()))
		c.MaxSizePerMsg = uint64(1 + rng.IntN(100))
		c.MaxInflightMsgs = 1 + rng.IntN(4)
	}}
	if rng.IntN(2) == 0 {
		opts = append(opts, withPreVote)
	}
	if rng.IntN(2) == 0 {
		opts = append(opts, withCheckQuorum)
	}
	opts = append(opts, extra...)
	c := &chaos{t: t, nw: newNetwork(t, size, opts...), rng: rng, leaders: map[uint64]NodeID{},
		commits: map[NodeID]uint64{}, seed: seed, pending: map[NodeID]*Ready{}, byIndex: map[uint64]Entry{}, checked: map[NodeID]int{}, collect: collect,
		readFloor: map[uint64]uint64{}, readChecked: map[NodeID]int{}}
	for step := range steps {
		c.step()
		c.check(step)
		if c.violation != "" {
			break
		}
	}
	return c
}

func (c *chaos) step() {
	nw, rng := c.nw, c.rng
	id := nw.ids[rng.IntN(len(nw.ids))]
	switch k := rng.IntN(1000); {
	case k < 150:
		nw.nodes[id].r.Tick()
	case k < 600:
		if len(nw.queue) == 0 {
			return
		}
		i := rng.IntN(len(nw.queue))
		m := nw.queue[i]
		switch d := rng.IntN(100); {
		case d < 10: // drop
			nw.queue = append(nw.queue[:i], nw.queue[i+1:]...)
		case d < 15: // duplicate
			nw.deliver(m)
		default:
			nw.queue = append(nw.queue[:i], nw.queue[i+1:]...)
			nw.deliver(m)
		}
	case k < 850:
		for _, id := range nw.ids {
			c.process(id)
		}
	case k < 950:
		if ls := nw.leaders(); len(ls) > 0 {
			_, _, _ = nw.nodes[ls[0]].r.Propose([]byte(fmt.Sprintf("p%d", rng.Uint32())))
		}
	case k < 965:
		if rng.IntN(3) > 0 {
			nw.heal()
		} else {
			nw.isolate(id)
		}
	case k < 975:
		// Crash: everything not yet handed to the disk is lost, and so are
		// messages addressed to it.
		q := nw.queue[:0]
		for _, m := range nw.queue {
			if m.To != id && m.From != id {
				q = append(q, m)
			}
		}
		nw.queue = q
		delete(c.pending, id)
		nw.restart(id)
	case k < 978:
		if ls := nw.leaders(); len(ls) > 0 {
			_ = nw.nodes[ls[0]].r.TransferLeader(nw.ids[rng.IntN(len(nw.ids))])
		}
	case k < 982:
		floor := uint64(0)
		for _, o := range nw.ids {
			floor = max(floor, nw.nodes[o].r.log.committed)
		}
		c.nextRead++
		if err := nw.nodes[id].r.ReadIndex(c.nextRead); err == nil {
			c.readFloor[c.nextRead] = floor
		}
	case k < 988:
		if ls := nw.leaders(); len(ls) > 0 {
			r := nw.nodes[ls[0]].r
			cs := r.ConfState()
			var cc ConfChange
			switch {
			case len(cs.Learners) > 0:
				cc = ConfChange{Type: ConfPromote, Node: cs.Learners[0]}
			case len(cs.Voters) > 2 && rng.IntN(2) == 0:
				cc = ConfChange{Type: ConfRemove, Node: cs.Voters[rng.IntN(len(cs.Voters))]}
			default:
				for _, cand := range nw.ids {
					if !cs.IsMember(cand) {
						cc = ConfChange{Type: ConfAddLearner, Node: cand}
					}
				}
			}
			if cc.Type != 0 {
				_, _, _ = r.ProposeConfChange(cc)
			}
		}
	default:
		n := nw.nodes[id]
		if a := n.r.log.applied; a > n.st.snapshot.Meta.Index+3 {
			if _, err := n.st.CreateSnapshot(a, nil, nil); err != nil {
				c.t.Fatalf("seed %d: snapshot: %v", c.seed, err)
			}
			if err := n.st.Compact(a); err != nil {
				c.t.Fatalf("seed %d: compact: %v", c.seed, err)
			}
		}
	}
}

// process moves id's Ready along in two halves: first the messages that
// may leave before persisting, then (next time) persist, the rest of the
// messages, and Advance.
func (c *chaos) process(id NodeID) {
	nw := c.nw
	n := nw.nodes[id]
	if rd := c.pending[id]; rd != nil {
		delete(c.pending, id)
		nw.persist(id, *rd)
		nw.queue = append(nw.queue, rd.MessagesAfterPersist()...)
		n.r.Advance(*rd)
		return
	}
	if n.r.HasReady() {
		rd := n.r.Ready()
		nw.queue = append(nw.queue, rd.MessagesBeforePersist()...)
		c.pending[id] = &rd
	}
}

func (c *chaos) check(step int) {
	nw := c.nw
	for _, id := range nw.ids {
		r := nw.nodes[id].r
		if r.role == Leader {
			if prev, ok := c.leaders[r.term]; ok && prev != id {
				c.fail("seed %d step %d: two leaders in term %d: %s and %s", c.seed, step, r.term, prev, id)
			}
			c.leaders[r.term] = id
		}
		st, _, _ := nw.nodes[id].st.InitialState()
		if st.Commit < c.commits[id] {
			c.fail("seed %d step %d: %s durable commit went back %d -> %d", c.seed, step, id, c.commits[id], st.Commit)
		}
		c.commits[id] = st.Commit
	}
	for _, id := range nw.ids {
		applied := nw.nodes[id].applied
		for _, e := range applied[c.checked[id]:] {
			if string(e.Data) == "snapshot" {
				continue
			}
			if prev, ok := c.byIndex[e.Index]; ok && (prev.Term != e.Term || string(prev.Data) != string(e.Data)) {
				c.fail("seed %d step %d: index %d applied as term %d and term %d (%s)", c.seed, step, e.Index, prev.Term, e.Term, id)
			}
			c.byIndex[e.Index] = e
		}
		c.checked[id] = len(applied)
		reads := nw.nodes[id].reads
		for _, rs := range reads[c.readChecked[id]:] {
			floor, ok := c.readFloor[rs.RequestID]
			if !ok {
				c.fail("seed %d step %d: %s completed unknown or duplicate read %d", c.seed, step, id, rs.RequestID)
			}
			delete(c.readFloor, rs.RequestID)
			if rs.Index < floor {
				c.fail("seed %d step %d: %s read %d at index %d below the commit index %d known when it was issued",
					c.seed, step, id, rs.RequestID, rs.Index, floor)
			}
			c.readsDone++
		}
		c.readChecked[id] = len(reads)
	}
}

// checkLiveness heals the network and expects, within a bounded number of
// attempts, a leader that commits a new proposal on every member. (Without
// pre-vote and check-quorum a removed node that never learned of its
// removal keeps forcing elections, thesis §4.2.3, so one attempt may fail.)
func (c *chaos) checkLiveness() {
	nw := c.nw
	for _, id := range nw.ids {
		if rd := c.pending[id]; rd != nil {
			nw.persist(id, *rd)
			nw.queue = append(nw.queue, rd.MessagesAfterPersist()...)
			nw.nodes[id].r.Advance(*rd)
		}
	}
	c.pending = map[NodeID]*Ready{}
	nw.heal()
	nw.queue = nil
	nw.tick(50)
	for range 20 {
		nw.tick(10)
		ls := nw.leaders()
		if len(ls) != 1 {
			continue
		}
		lead := nw.nodes[ls[0]].r
		idx, _, err := lead.Propose([]byte("final"))
		if err != nil {
			continue
		}
		nw.tick(5)
		ok := true
		for _, id := range c.nw.ids {
			r := nw.nodes[id].r
			if lead.conf.IsMember(id) && (r.log.committed < idx || r.log.termOr0(idx) != lead.log.termOr0(idx)) {
				ok = false
			}
		}
		if ok {
			c.check(-1)
			return
		}
	}
	for _, id := range c.nw.ids {
		r := nw.nodes[id].r
		c.t.Logf("%s role %s term %d lead %s commit %d last %d conf %v/%v", id, r.role, r.term, r.lead,
			r.log.committed, r.log.lastIndex(), r.conf.Voters, r.conf.Learners)
	}
	c.t.Fatalf("seed %d: no proposal committed on every member after healing", c.seed)
}

// Reference: Raft paper §5.2 (election safety) and §5.4 (state machine
// safety), checked under random schedules.
func TestRandomSchedulesKeepSafety(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 30
	}
	var applied, snaps, leaders, reads int
	for seed := range uint64(seeds) {
		c := runChaosRet(t, seed, 2000)
		for _, id := range c.nw.ids {
			for _, e := range c.nw.nodes[id].applied {
				if string(e.Data) == "snapshot" {
					snaps++
				} else {
					applied++
				}
			}
		}
		leaders += len(c.leaders)
		reads += c.readsDone
	}
	t.Logf("%d seeds: %d entries applied, %d snapshots restored, %d leader terms, %d reads", seeds, applied, snaps, leaders, reads)
	// Guard against a vacuous run: the schedules must make real progress.
	if applied < seeds*20 || snaps == 0 || leaders < seeds || reads < seeds/4 {
		t.Fatalf("schedules made too little progress: %d applied, %d snapshots, %d leaders, %d reads", applied, snaps, leaders, reads)
	}
}
