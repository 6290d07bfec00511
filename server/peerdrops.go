package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/consensus"
)

// newPeerDropped is lockd_peer_messages_dropped_total: peer messages this
// node received and did not act on, by reason. The reasons come from the
// layer that dropped them: raftnode's (out_of_range, invalid, violation,
// quarantined), the peer transport's snapshot checks (snapshot_checksum,
// snapshot_corrupt) and its sender checks (sender, not_member).
func newPeerDropped() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lockd_peer_messages_dropped_total",
		Help: "Peer messages dropped unread or refused, by reason: out_of_range (a term or index past the bounds), invalid (malformed), violation (breaks the Raft protocol), quarantined (from a peer that did one of these lately), snapshot_checksum (a snapshot whose checksum does not match), snapshot_corrupt (a snapshot the state machine cannot decode), sender (From not the node the connection authenticated), not_member (a Raft message or node info from a node outside the applied membership)."},
		[]string{"reason"})
}

// peerMessageDropped counts one dropped peer message (raftnode.Hooks and
// the transport's snapshot checks call it).
func (m *metrics) peerMessageDropped(_ consensus.NodeID, reason string) {
	m.peerDrops.WithLabelValues(reason).Inc()
}
