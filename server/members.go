package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server/peer"
)

// memberBook knows the membership as last applied, every member's client
// address, learnt through node-info requests on the peer transport
// (followers need the leader's client address for their hints), and
// whether this node was removed from the cluster.
//
//	state    event                                       next     effect
//	joining  applied membership holds this node          member
//	member   applied membership lacks this node          removed  Removed() closed; clients answered CodeUnavailable
//	member   no leader known, and a peer applied as far
//	         as this node with a membership without it   removed  the same (checkRemoved)
//
// It holds no pointer to the Server: it reads the Raft node through
// raftView and talks to peers through infoExchange.
type memberBook struct {
	self     consensus.NodeID
	log      hclog.Logger
	interval time.Duration // between refreshes; bounds each peer request
	node     raftView
	peers    infoExchange

	mu      sync.Mutex
	conf    consensus.ConfState
	member  bool // this node is in conf
	clients map[consensus.NodeID]string
	// selfClient and selfPeer are this node's client address and the peer
	// address it tells others to dial.
	selfClient, selfPeer string

	removed     chan struct{} // closed once this node is known removed
	removedOnce sync.Once
	isRemoved   atomic.Bool

	// senders is who may send Raft messages, read by the transport for
	// every message (mayStep) without taking mu.
	senders atomic.Pointer[senderSet]

	id bookIdentity
}

// bookIdentity is what the member book introduces this node with, and
// what it does when it refuses a peer or learns the cluster ID (the
// Server fills it in).
type bookIdentity struct {
	// incarnation is random for this run of the process, never 0.
	incarnation uint64
	// advertise is the configured advertised peer address, claimed
	// until this node is a member (then its address in the membership).
	advertise string
	// clusterID is the cluster ID this node knows ("" if none).
	clusterID func() string
	// learnClusterID records the cluster ID a joining node learns from
	// the member that adds it.
	learnClusterID func(id string)
	// refused counts a refused peer by kind.
	refused func(kind string)
	// dropped counts a peer message (or node info) dropped by reason
	// (peer.DropNotMember).
	dropped func(reason string)
}

// senderSet is the applied membership as the transport checks senders
// against it.
type senderSet struct {
	// open: this node is not in its membership (it is joining, or was
	// removed), so it cannot judge senders and takes any.
	open    bool
	members map[consensus.NodeID]bool
}

// mayStep reports whether node id may send Raft messages to this node
// (peer.Gate.MaySend): a voter or learner of the applied membership. A
// node that is not in its own membership yet (it joins with an empty
// log) takes messages from anyone the transport authenticated, as etcd
// does: only the leader that added it talks to it. A node added to the
// membership but not yet applied here is dropped until it is; Raft
// retransmits.
func (b *memberBook) mayStep(id consensus.NodeID) bool {
	s := b.senders.Load()
	return s == nil || s.open || s.members[id]
}

// raftView is what the member book reads of the Raft node
// (*raftnode.Node).
type raftView interface {
	Leader() consensus.NodeID
	IsLeader() bool
	AppliedIndex() uint64
	Status(ctx context.Context) (consensus.Status, error)
}

// infoExchange is the peer transport's node-info exchange
// (*peer.Transport).
type infoExchange interface {
	AskNodeInfo(ctx context.Context, addr string, req *peer.NodeInfoRequest) (*peer.NodeInfoResponse, error)
	SetPeers(addrs map[consensus.NodeID]string)
}

// newMemberBook returns the book of node self, which starts from the
// applied membership conf; clientAddr and peerAddr are this node's
// addresses as configured (setSelf replaces them once bound).
func newMemberBook(self consensus.NodeID, log hclog.Logger, interval time.Duration, node raftView, peers infoExchange,
	conf consensus.ConfState, clientAddr, peerAddr string, id bookIdentity) *memberBook {
	b := &memberBook{self: self, log: log, interval: interval, node: node, peers: peers,
		clients: map[consensus.NodeID]string{}, selfClient: clientAddr, selfPeer: peerAddr, removed: make(chan struct{}), id: id}
	b.setConf(conf)
	return b
}

// setConf records the applied membership; a node that was a member and is
// no longer one is marked removed.
func (b *memberBook) setConf(cs consensus.ConfState) {
	b.mu.Lock()
	wasMember := b.member
	b.conf = cs
	b.member = cs.IsMember(b.self)
	member := b.member
	set := &senderSet{open: !member, members: map[consensus.NodeID]bool{}}
	for _, id := range cs.Voters {
		set.members[id] = true
	}
	for _, id := range cs.Learners {
		set.members[id] = true
	}
	b.senders.Store(set)
	b.mu.Unlock()
	if wasMember && !member {
		b.markRemoved()
	}
}

// markRemoved closes removedCh once; the node stops serving clients.
func (b *memberBook) markRemoved() {
	b.removedOnce.Do(func() {
		b.isRemoved.Store(true)
		b.log.Warn("this node was removed from the cluster")
		close(b.removed)
	})
}

// wasRemoved reports whether this node is known removed.
func (b *memberBook) wasRemoved() bool { return b.isRemoved.Load() }

// removedCh is closed once this node is known removed.
func (b *memberBook) removedCh() <-chan struct{} { return b.removed }

// setSelf records this node's bound client address and the peer address
// it advertises.
func (b *memberBook) setSelf(clientAddr, peerAddr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.selfClient, b.selfPeer = clientAddr, peerAddr
	b.clients[b.self] = clientAddr
}

func (b *memberBook) setClient(id consensus.NodeID, addr string) {
	if id == consensus.None || addr == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clients[id] = addr
}

// clientAddr is id's client address from the cache, or "".
func (b *memberBook) clientAddr(id consensus.NodeID) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clients[id]
}

func (b *memberBook) snapshot() (consensus.ConfState, map[consensus.NodeID]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	clients := make(map[consensus.NodeID]string, len(b.clients))
	for id, a := range b.clients {
		clients[id] = a
	}
	return b.conf, clients
}

// request is the node-info request this node sends.
func (b *memberBook) request() *peer.NodeInfoRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	req := &peer.NodeInfoRequest{From: string(b.self), ClientAddr: b.selfClient, PeerAddrs: map[string]string{},
		Advertise: b.id.advertise, Incarnation: b.id.incarnation, ClusterID: b.id.clusterID()}
	for id, a := range b.conf.Addrs {
		req.PeerAddrs[string(id)] = a
	}
	req.PeerAddrs[string(b.self)] = b.selfPeer
	if a := b.conf.Addrs[b.self]; a != "" && b.member {
		req.Advertise = a
	}
	return req
}

// lookup returns id's client address, asking id over its peer address if
// the cache does not have it.
func (b *memberBook) lookup(ctx context.Context, id consensus.NodeID) (string, error) {
	if a := b.clientAddr(id); a != "" {
		return a, nil
	}
	conf, _ := b.snapshot()
	peer := conf.Addrs[id]
	if peer == "" {
		return "", api.Errorf(api.CodeUnknownMember, "no peer address for %s", id)
	}
	return b.ask(ctx, id, peer)
}

func (b *memberBook) ask(ctx context.Context, id consensus.NodeID, peer string) (string, error) {
	resp, err := b.peers.AskNodeInfo(ctx, peer, b.request())
	if err != nil {
		return "", err
	}
	if err := b.Answered(id, peer, resp); err != nil {
		return "", api.Errorf(api.CodeUnavailable, "%v", err)
	}
	return resp.ClientAddr, nil
}

// Introduction is the node-info request this node opens each peer
// connection with (peer.Introducer).
func (b *memberBook) Introduction() *peer.NodeInfoRequest { return b.request() }

// Answered judges a peer's node-info answer (peer.Introducer): the node
// at id's peer address must answer as id, and a cluster ID it tells must
// be this node's. An answer that passes teaches id's client address.
func (b *memberBook) Answered(id consensus.NodeID, addr string, resp *peer.NodeInfoResponse) error {
	if resp.ID != string(id) {
		return b.refusal("id", fmt.Sprintf("peer address %s of %s answers as %q", addr, id, resp.ID))
	}
	if mine := b.id.clusterID(); resp.ClusterID != "" && mine != "" && resp.ClusterID != mine {
		return b.refusal("cluster", fmt.Sprintf("node %s belongs to cluster %s, we are %s", id, resp.ClusterID, mine))
	}
	b.setClient(id, resp.ClientAddr)
	return nil
}

// admit judges a peer's introduction: a peer claiming this node's ID, a
// member whose advertised peer address is not its address in the
// membership (two nodes with the same ID), or a node of another cluster
// is refused. A peer that does not introduce itself (an older build) is
// judged only by the ID it claims.
func (b *memberBook) admit(req *peer.NodeInfoRequest) error {
	from := consensus.NodeID(req.From)
	if from == b.self {
		return b.refusal("self", fmt.Sprintf("%s is this node's ID (incarnation %d; the peer's is %d): two nodes with the same ID?",
			from, b.id.incarnation, req.Incarnation))
	}
	b.mu.Lock()
	known := b.conf.Addrs[from]
	b.mu.Unlock()
	if req.Advertise != "" && known != "" && req.Advertise != known {
		return b.refusal("address", fmt.Sprintf("member %s's peer address is %s but it advertises %s: two nodes with the same ID?",
			from, known, req.Advertise))
	}
	if mine := b.id.clusterID(); req.ClusterID != "" && mine != "" && req.ClusterID != mine {
		return b.refusal("cluster", fmt.Sprintf("node %s belongs to cluster %s, we are %s", from, req.ClusterID, mine))
	}
	return nil
}

// refusal counts and returns a refusal of kind.
func (b *memberBook) refusal(kind, reason string) *peer.Refusal {
	if b.id.refused != nil {
		b.id.refused(kind)
	}
	return &peer.Refusal{Kind: kind, Reason: reason}
}

// handleInfo answers a peer's node-info request, after admit. A node
// that is not yet a member (it joined with an empty log) adopts the
// asker's peer addresses so that its answers reach the leader before its
// first snapshot tells it the membership, and the asker's cluster ID.
func (b *memberBook) handleInfo(_ context.Context, _ string, req *peer.NodeInfoRequest) (*peer.NodeInfoResponse, error) {
	if err := b.admit(req); err != nil {
		return nil, err
	}
	// The transport checked that req.From is the node the connection
	// authenticated; its client address is taken only if it is a
	// member (or this node, joining, cannot tell), so that a stranger
	// with a certificate of the CA cannot feed leader hints.
	if from := consensus.NodeID(req.From); b.mayStep(from) {
		b.setClient(from, req.ClientAddr)
	} else if b.id.dropped != nil && req.ClientAddr != "" {
		b.id.dropped(peer.DropNotMember)
	}
	b.mu.Lock()
	member, client := b.member, b.selfClient
	b.mu.Unlock()
	if !member && req.ClusterID != "" && b.id.clusterID() == "" && !b.wasRemoved() && b.id.learnClusterID != nil {
		b.id.learnClusterID(req.ClusterID)
	}
	if !member && len(req.PeerAddrs) > 0 && !b.wasRemoved() {
		addrs := make(map[consensus.NodeID]string, len(req.PeerAddrs))
		for id, a := range req.PeerAddrs {
			if consensus.NodeID(id) != b.self {
				addrs[consensus.NodeID(id)] = a
			}
		}
		b.peers.SetPeers(addrs)
	}
	resp := &peer.NodeInfoResponse{ID: string(b.self), ClientAddr: client, Applied: b.node.AppliedIndex(),
		ClusterID: b.id.clusterID(), Incarnation: b.id.incarnation}
	conf, _ := b.snapshot()
	for _, id := range conf.Voters {
		resp.Members = append(resp.Members, string(id))
	}
	for _, id := range conf.Learners {
		resp.Members = append(resp.Members, string(id))
	}
	return resp, nil
}

// checkRemoved handles a node removed from the membership that never
// learnt it: the leader stops replicating to a member once its removal
// applies, so the removed node may never see that entry commit. A member
// that knows no leader asks its peers; one that has applied at least as
// far as this node and whose membership lacks it proves the removal
// (membership changes are ordered in the log, and this node's own
// membership, which holds it, is as of its applied index).
func (b *memberBook) checkRemoved(ctx context.Context) {
	b.mu.Lock()
	member, conf := b.member, b.conf
	b.mu.Unlock()
	if !member || b.wasRemoved() || b.node.Leader() != consensus.None {
		return
	}
	applied := b.node.AppliedIndex()
	for id, peer := range conf.Addrs {
		if id == b.self {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, b.interval)
		resp, err := b.peers.AskNodeInfo(actx, peer, b.request())
		cancel()
		if err != nil || resp.ID != string(id) || resp.Applied < applied || len(resp.Members) == 0 {
			continue
		}
		if !slices.Contains(resp.Members, string(b.self)) {
			b.log.Warn("a peer's membership no longer holds this node", "peer", id, "peer_applied", resp.Applied, "applied", applied)
			b.markRemoved()
			return
		}
	}
}

// loop refreshes unknown client addresses every interval until ctx ends;
// on the leader it also keeps telling learners that have not answered yet
// where the members are.
func (b *memberBook) loop(ctx context.Context) {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.refresh(ctx)
		case <-ctx.Done():
			return
		}
	}
}

func (b *memberBook) refresh(ctx context.Context) {
	b.checkRemoved(ctx)
	conf, clients := b.snapshot()
	var behind map[consensus.NodeID]bool
	if b.node.IsLeader() {
		sctx, cancel := context.WithTimeout(ctx, b.interval)
		st, err := b.node.Status(sctx)
		cancel()
		if err == nil {
			behind = map[consensus.NodeID]bool{}
			for id, p := range st.Progress {
				if p.Match == 0 {
					behind[id] = true
				}
			}
		}
	}
	var wg sync.WaitGroup
	for id, peer := range conf.Addrs {
		if id == b.self || (clients[id] != "" && !behind[id]) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, b.interval)
			defer cancel()
			if _, err := b.ask(actx, id, peer); err != nil {
				b.log.Debug("node info request failed", "peer", id, "error", err)
			}
		}()
	}
	wg.Wait()
}
