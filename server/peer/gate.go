package peer

import (
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// Reasons a peer's message is dropped, the values of the reason label of
// lockd_peer_messages_dropped_total.
const (
	// DropSender: the message's From is not the node the connection
	// authenticated (its certificate's node ID with TLS; the ID it gave
	// in the handshake without).
	DropSender = "sender"
	// DropNotMember: the sender is not a member (voter or learner) of the
	// membership this node applied.
	DropNotMember = "not_member"
)

// Gate is the service layer's say over who may send Raft messages. The
// transport itself checks that a message comes from the node its
// connection authenticated; Gate adds the membership. Both fields may be
// nil.
type Gate struct {
	// MaySend reports whether node id may send Raft messages to this
	// node: a member (voter or learner) of the membership as applied
	// here, or anyone while this node knows no membership it belongs to
	// (it is joining, and only the leader adding it talks to it).
	MaySend func(id consensus.NodeID) bool
	// Dropped counts one message dropped for reason (DropSender,
	// DropNotMember).
	Dropped func(reason string)
}

// SetGate installs g. Call it before Listen.
func (t *Transport) SetGate(g Gate) { t.gate.Store(&g) }

// currentGate is the installed Gate, or the zero Gate.
func (t *Transport) currentGate() Gate {
	if g := t.gate.Load(); g != nil {
		return *g
	}
	return Gate{}
}

// admitFrom reports whether a message claiming to be from node from may
// be delivered from connection c; if not, it counts and logs the drop.
func (t *Transport) admitFrom(c *rpc.Conn, from string) bool {
	g := t.currentGate()
	reason := ""
	switch {
	case from != c.RemoteID():
		reason = DropSender
	case g.MaySend != nil && !g.MaySend(consensus.NodeID(from)):
		reason = DropNotMember
	default:
		return true
	}
	if g.Dropped != nil {
		g.Dropped(reason)
	}
	t.warnOnce("drop:"+reason+":"+c.RemoteID()+":"+from, "dropping peer message", "reason", reason,
		"connection_of", c.RemoteID(), "from", from, "remote", c.RemoteAddr().String())
	return false
}
