package server

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server/peer"
)

// memberBook knows the membership as last applied and every member's
// client address, learnt through node-info requests on the peer
// transport (followers need the leader's client address for their hints).
type memberBook struct {
	s *Server

	mu      sync.Mutex
	conf    consensus.ConfState
	member  bool // this node is in conf
	clients map[consensus.NodeID]string
}

func newMemberBook(s *Server) *memberBook {
	return &memberBook{s: s, clients: map[consensus.NodeID]string{}}
}

// setConf records the applied membership and reports whether this node
// was a member before it.
func (b *memberBook) setConf(cs consensus.ConfState) (wasMember bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasMember = b.member
	b.conf = cs
	b.member = cs.IsMember(consensus.NodeID(b.s.cfg.ID))
	return wasMember
}

func (b *memberBook) setSelf(clientAddr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clients[consensus.NodeID(b.s.cfg.ID)] = clientAddr
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
	conf, _ := b.snapshot()
	req := &peer.NodeInfoRequest{From: b.s.cfg.ID, ClientAddr: b.s.ClientAddr(), PeerAddrs: map[string]string{}}
	for id, a := range conf.Addrs {
		req.PeerAddrs[string(id)] = a
	}
	req.PeerAddrs[b.s.cfg.ID] = b.s.advertisedPeerAddr()
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
	resp, err := b.s.tr.AskNodeInfo(ctx, peer, b.request())
	if err != nil {
		return "", err
	}
	if resp.ID != string(id) {
		return "", api.Errorf(api.CodeUnavailable, "peer address %s of %s answers as %q", peer, id, resp.ID)
	}
	b.setClient(id, resp.ClientAddr)
	return resp.ClientAddr, nil
}

// handleInfo answers a peer's node-info request. A node that is not yet
// a member (it joined with an empty log) adopts the asker's peer
// addresses so that its answers reach the leader before its first
// snapshot tells it the membership.
func (b *memberBook) handleInfo(_ context.Context, req *peer.NodeInfoRequest) (*peer.NodeInfoResponse, error) {
	b.setClient(consensus.NodeID(req.From), req.ClientAddr)
	b.mu.Lock()
	member := b.member
	b.mu.Unlock()
	if !member && len(req.PeerAddrs) > 0 && !b.s.isRemoved.Load() {
		addrs := make(map[consensus.NodeID]string, len(req.PeerAddrs))
		for id, a := range req.PeerAddrs {
			if id != b.s.cfg.ID {
				addrs[consensus.NodeID(id)] = a
			}
		}
		b.s.tr.SetPeers(addrs)
	}
	resp := &peer.NodeInfoResponse{ID: b.s.cfg.ID, ClientAddr: b.s.ClientAddr(), Applied: b.s.node.AppliedIndex()}
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
func (b *memberBook) checkRemoved() {
	b.mu.Lock()
	member, conf := b.member, b.conf
	b.mu.Unlock()
	self := consensus.NodeID(b.s.cfg.ID)
	if !member || b.s.isRemoved.Load() || b.s.node.Leader() != consensus.None {
		return
	}
	applied := b.s.node.AppliedIndex()
	for id, peer := range conf.Addrs {
		if id == self {
			continue
		}
		ctx, cancel := context.WithTimeout(b.s.ctx, b.s.cfg.InfoInterval)
		resp, err := b.s.tr.AskNodeInfo(ctx, peer, b.request())
		cancel()
		if err != nil || resp.ID != string(id) || resp.Applied < applied || len(resp.Members) == 0 {
			continue
		}
		if !slices.Contains(resp.Members, string(self)) {
			b.s.log.Warn("a peer's membership no longer holds this node", "peer", id, "peer_applied", resp.Applied, "applied", applied)
			b.s.markRemoved()
			return
		}
	}
}

// loop refreshes unknown client addresses every InfoInterval; on the
// leader it also keeps telling learners that have not answered yet where
// the members are.
func (b *memberBook) loop() {
	defer b.s.wg.Done()
	t := time.NewTicker(b.s.cfg.InfoInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.refresh()
		case <-b.s.ctx.Done():
			return
		}
	}
}

func (b *memberBook) refresh() {
	b.checkRemoved()
	conf, clients := b.snapshot()
	var behind map[consensus.NodeID]bool
	if b.s.node.IsLeader() {
		ctx, cancel := context.WithTimeout(b.s.ctx, b.s.cfg.InfoInterval)
		st, err := b.s.node.Status(ctx)
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
		if id == consensus.NodeID(b.s.cfg.ID) || (clients[id] != "" && !behind[id]) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(b.s.ctx, b.s.cfg.InfoInterval)
			defer cancel()
			if _, err := b.ask(ctx, id, peer); err != nil {
				b.s.log.Debug("node info request failed", "peer", id, "error", err)
			}
		}()
	}
	wg.Wait()
}
