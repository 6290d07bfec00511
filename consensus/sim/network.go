package sim

import (
	"math/rand/v2"
	"slices"

	"github.com/lockd/lockd/consensus"
)

// envelope is a message in flight.
type envelope struct {
	at  uint64 // the tick from which it may be delivered
	inc int    // the sender's incarnation, for delivery reports
	m   consensus.Message
}

type link struct{ from, to consensus.NodeID }

// network holds the messages in flight and the links that are cut. It
// delivers in any order among the messages that are due, so reordering is
// the norm; delay, loss and duplication are chosen by the world.
type network struct {
	inflight []envelope
	cut      map[link]bool
	// dropRate and dupRate are the chances that a sent message is lost or
	// delivered twice; maxDelay bounds the ticks a message waits.
	dropRate, dupRate float64
	maxDelay          int
	// reorderRate is the chance a delivery picks any due message rather
	// than the oldest due one on its link.
	reorderRate float64
}

func newNetwork() *network { return &network{cut: map[link]bool{}} }

// blocked reports whether the link from → to is cut.
func (n *network) blocked(from, to consensus.NodeID) bool { return n.cut[link{from, to}] }

// send queues m, or drops it; it reports how many copies were queued.
func (n *network) send(rng *rand.Rand, now uint64, inc int, m consensus.Message) int {
	if rng.Float64() < n.dropRate {
		return 0
	}
	copies := 1
	if rng.Float64() < n.dupRate {
		copies = 2
	}
	for i := 0; i < copies; i++ {
		n.inflight = append(n.inflight, envelope{at: now + n.delay(rng), inc: inc, m: copyMessage(m)})
	}
	return copies
}

func (n *network) delay(rng *rand.Rand) uint64 {
	if n.maxDelay == 0 {
		return 0
	}
	switch x := rng.IntN(100); {
	case x < 60:
		return 0
	case x < 85:
		return 1
	default:
		return 1 + uint64(rng.IntN(n.maxDelay))
	}
}

// due counts the messages deliverable at now.
func (n *network) due(now uint64) int {
	c := 0
	for i := range n.inflight {
		if n.inflight[i].at <= now {
			c++
		}
	}
	return c
}

// take removes and returns a due message: the k-th due one (0-based, in
// queue order) or, when fifo, the oldest due one on the same link (a
// stream transport: links reorder only through unequal delays).
func (n *network) take(now uint64, k int, fifo bool) envelope {
	for i := range n.inflight {
		if n.inflight[i].at > now {
			continue
		}
		if k > 0 {
			k--
			continue
		}
		if fifo {
			from, to := n.inflight[i].m.From, n.inflight[i].m.To
			for j := range i {
				if e := &n.inflight[j]; e.at <= now && e.m.From == from && e.m.To == to {
					return n.remove(j)
				}
			}
		}
		return n.remove(i)
	}
	panic("sim: take beyond due messages")
}

// remove takes message i out of flight, keeping the others in order.
func (n *network) remove(i int) envelope {
	e := n.inflight[i]
	n.inflight = slices.Delete(n.inflight, i, i+1)
	return e
}

// purge drops every message in flight from id and returns how many.
func (n *network) purge(id consensus.NodeID) int {
	before := len(n.inflight)
	n.inflight = slices.DeleteFunc(n.inflight, func(e envelope) bool { return e.m.From == id })
	return before - len(n.inflight)
}

// heal restores every link.
func (n *network) heal() { clear(n.cut) }

// split cuts every link between groups a and b, in both directions.
func (n *network) split(a, b []consensus.NodeID) {
	n.oneWay(a, b)
	n.oneWay(b, a)
}

// oneWay cuts every link from a member of a to a member of b.
func (n *network) oneWay(a, b []consensus.NodeID) {
	for _, x := range a {
		for _, y := range b {
			n.cut[link{x, y}] = true
		}
	}
}

// copyMessage deep-copies m, as a wire would: no node may share memory with
// another through a message.
func copyMessage(m consensus.Message) consensus.Message {
	if m.Entries != nil {
		ents := make([]consensus.Entry, len(m.Entries))
		for i, e := range m.Entries {
			e.Data = slices.Clone(e.Data)
			ents[i] = e
		}
		m.Entries = ents
	}
	if m.Snapshot != nil {
		s := *m.Snapshot
		s.Data = slices.Clone(s.Data)
		s.Meta.Conf = copyConf(s.Meta.Conf)
		m.Snapshot = &s
	}
	m.Context = slices.Clone(m.Context)
	return m
}

func copyConf(c consensus.ConfState) consensus.ConfState {
	out := consensus.ConfState{Voters: slices.Clone(c.Voters), Learners: slices.Clone(c.Learners)}
	if c.Addrs != nil {
		out.Addrs = make(map[consensus.NodeID]string, len(c.Addrs))
		for k, v := range c.Addrs {
			out.Addrs[k] = v
		}
	}
	return out
}
