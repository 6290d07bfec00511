package raftnode

import (
	"errors"

	"github.com/lockd/lockd/consensus"
)

// Reasons a peer's message is dropped, as Hooks.PeerMessageDropped reports
// them (the label of lockd_peer_messages_dropped_total).
const (
	// DropOutOfRange: a term or index past consensus.MaxTerm/MaxIndex.
	DropOutOfRange = "out_of_range"
	// DropInvalid: a malformed message (consensus.ErrInvalidMessage).
	DropInvalid = "invalid"
	// DropViolation: a message Raft proves cannot come from a correct
	// member (consensus.ErrProtocolViolation).
	DropViolation = "violation"
	// DropQuarantined: a message from a peer in quarantine.
	DropQuarantined = "quarantined"
)

// dropReason names the reason the core refused a message.
func dropReason(err error) string {
	switch {
	case errors.Is(err, consensus.ErrOutOfRange):
		return DropOutOfRange
	case errors.Is(err, consensus.ErrProtocolViolation):
		return DropViolation
	default:
		return DropInvalid
	}
}

// quarantine holds the peers whose messages the loop drops unread for a
// while, because one of them was out of range or broke the protocol: such
// a peer is broken (or forged), and listening to it further risks more
// than ignoring it, which Raft tolerates like any lost message. Time is
// counted in loop ticks. Loop-owned, like all the loop's state.
type quarantine struct {
	length uint64                      // ticks a peer stays in; 0 disables
	now    uint64                      // ticks so far
	until  map[consensus.NodeID]uint64 // peer -> first tick it is heard again
}

func newQuarantine(ticks int) *quarantine {
	return &quarantine{length: uint64(max(ticks, 0)), until: make(map[consensus.NodeID]uint64)}
}

// tick advances the quarantine's clock by one loop tick.
func (q *quarantine) tick() {
	q.now++
	for id, u := range q.until {
		if q.now >= u {
			delete(q.until, id)
		}
	}
}

// holds reports whether id is quarantined now.
func (q *quarantine) holds(id consensus.NodeID) bool {
	u, ok := q.until[id]
	return ok && q.now < u
}

// add quarantines id for the configured length (from now, again if it was
// already in) and reports whether it was not in before.
func (q *quarantine) add(id consensus.NodeID) bool {
	if q.length == 0 {
		return false
	}
	fresh := !q.holds(id)
	q.until[id] = q.now + q.length
	return fresh
}

// quarantines reports whether a refusal for reason sends the peer into
// quarantine: out-of-range values and protocol violations do; a merely
// malformed message (say, a type from a newer version) is dropped alone.
func quarantines(reason string) bool {
	return reason == DropOutOfRange || reason == DropViolation
}

// step hands m to the core unless its sender is quarantined; a message the
// core refuses is counted, and its sender quarantined when the reason
// says it is broken.
func (n *Node) step(m consensus.Message) {
	if n.quar.holds(m.From) {
		n.dropped(m.From, DropQuarantined)
		return
	}
	err := n.raft.Step(m)
	if err == nil {
		return
	}
	reason := dropReason(err)
	n.dropped(m.From, reason)
	if quarantines(reason) && n.quar.add(m.From) {
		n.log.Warn("quarantining a peer that sent an impossible message; its messages are dropped until it ends",
			"peer", string(m.From), "type", m.Type.String(), "reason", reason,
			"ticks", n.quar.length, "error", err)
		return
	}
	n.log.Debug("step rejected message", "type", m.Type.String(), "from", string(m.From), "reason", reason, "error", err)
}

func (n *Node) dropped(from consensus.NodeID, reason string) {
	if n.hooks.PeerMessageDropped != nil {
		n.hooks.PeerMessageDropped(from, reason)
	}
}
