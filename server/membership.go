package server

import (
	"context"
	"sort"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
)

// members answers MsgMembers from the applied membership.
func (s *Server) listMembers(ctx context.Context, req *api.MembersRequest) (*api.MembersResponse, error) {
	if err := s.linearize(ctx, req.ReadOptions); err != nil {
		return nil, err
	}
	conf, clients := s.members.snapshot()
	resp := &api.MembersResponse{}
	add := func(ids []consensus.NodeID, learner bool) {
		for _, id := range ids {
			resp.Members = append(resp.Members, api.Member{ID: string(id), PeerAddr: conf.Addrs[id],
				ClientAddr: clients[id], Learner: learner})
		}
	}
	add(conf.Voters, false)
	add(conf.Learners, true)
	sort.Slice(resp.Members, func(i, j int) bool { return resp.Members[i].ID < resp.Members[j].ID })
	return resp, nil
}

// addLearner adds a non-voting member.
func (s *Server) addLearner(ctx context.Context, req *api.AddLearnerRequest) (*api.Empty, error) {
	if req.ID == "" || req.PeerAddr == "" {
		return nil, api.Errorf(api.CodeInvalidRequest, "a learner needs an ID and a peer address")
	}
	if err := s.requireLeader(ctx); err != nil {
		return nil, err
	}
	s.members.setClient(consensus.NodeID(req.ID), req.ClientAddr)
	cc := consensus.ConfChange{Type: consensus.ConfAddLearner, Node: consensus.NodeID(req.ID), Addr: req.PeerAddr}
	if err := s.node.ProposeConfChange(ctx, cc); err != nil {
		return nil, s.nodeError(ctx, err)
	}
	s.log.Info("learner added", "id", req.ID, "peer_addr", req.PeerAddr)
	// Tell the new node where everyone is now, so it can answer.
	actx, cancel := context.WithTimeout(ctx, s.cfg.InfoInterval)
	defer cancel()
	if _, err := s.members.ask(actx, cc.Node, cc.Addr); err != nil {
		s.log.Debug("first node info to the new learner failed; retried in the background", "id", req.ID, "error", err)
	}
	return &api.Empty{}, nil
}

// promote makes a caught-up learner a voter.
func (s *Server) promote(ctx context.Context, req *api.PromoteRequest) (*api.Empty, error) {
	if err := s.requireLeader(ctx); err != nil {
		return nil, err
	}
	st, err := s.node.Status(ctx)
	if err != nil {
		return nil, s.nodeError(ctx, err)
	}
	id := consensus.NodeID(req.ID)
	p, ok := st.Progress[id]
	if !ok || !p.IsLearner {
		return nil, api.Errorf(api.CodeUnknownMember, "%q is not a learner", req.ID)
	}
	switch {
	case req.Force:
	case p.Match == 0 || !p.RecentActive:
		return nil, api.Errorf(api.CodeUnsafeChange, "learner %s has not been heard from", id)
	case p.Match+s.cfg.PromoteMaxLag < st.Commit:
		return nil, api.Errorf(api.CodeUnsafeChange, "learner %s has index %d, commit is %d (more than %d behind)",
			id, p.Match, st.Commit, s.cfg.PromoteMaxLag)
	}
	if err := s.node.ProposeConfChange(ctx, consensus.ConfChange{Type: consensus.ConfPromote, Node: id}); err != nil {
		return nil, s.nodeError(ctx, err)
	}
	s.log.Info("learner promoted", "id", id, "forced", req.Force)
	return &api.Empty{}, nil
}

// removeMember removes a voter or learner; removing a voter must leave a
// quorum of recently active voters unless forced.
func (s *Server) removeMember(ctx context.Context, req *api.RemoveMemberRequest) (*api.Empty, error) {
	if err := s.requireLeader(ctx); err != nil {
		return nil, err
	}
	st, err := s.node.Status(ctx)
	if err != nil {
		return nil, s.nodeError(ctx, err)
	}
	id := consensus.NodeID(req.ID)
	if !st.ConfState.IsMember(id) {
		return nil, api.Errorf(api.CodeUnknownMember, "%q is not a member", req.ID)
	}
	if !req.Force && !st.Progress[id].IsLearner {
		remaining, active := 0, 0
		for _, v := range st.ConfState.Voters {
			if v == id {
				continue
			}
			remaining++
			if v == st.ID || st.Progress[v].RecentActive {
				active++
			}
		}
		if active < remaining/2+1 {
			return nil, api.Errorf(api.CodeUnsafeChange, "after removing %s only %d of %d voters are active: no quorum",
				id, active, remaining)
		}
	}
	if err := s.node.ProposeConfChange(ctx, consensus.ConfChange{Type: consensus.ConfRemove, Node: id}); err != nil {
		return nil, s.nodeError(ctx, err)
	}
	s.log.Info("member removed", "id", id, "forced", req.Force)
	return &api.Empty{}, nil
}

// transferTarget is the voter other than this node with the highest match
// index among the recently active ones.
func (s *Server) transferTarget(ctx context.Context) (consensus.NodeID, error) {
	st, err := s.node.Status(ctx)
	if err != nil {
		return consensus.None, s.nodeError(ctx, err)
	}
	best, bestMatch := consensus.None, uint64(0)
	for _, v := range st.ConfState.Voters {
		p := st.Progress[v]
		if v == st.ID || !p.RecentActive {
			continue
		}
		if best == consensus.None || p.Match > bestMatch || (p.Match == bestMatch && v < best) {
			best, bestMatch = v, p.Match
		}
	}
	if best == consensus.None {
		return consensus.None, api.Errorf(api.CodeUnavailable, "no active voter to transfer leadership to")
	}
	return best, nil
}

// transferLeader hands leadership to req.ID (or the most caught-up voter)
// and waits until the change is seen.
func (s *Server) transferLeader(ctx context.Context, req *api.TransferLeaderRequest) (*api.Empty, error) {
	if err := s.requireLeader(ctx); err != nil {
		return nil, err
	}
	target := consensus.NodeID(req.ID)
	if target == consensus.NodeID(s.cfg.ID) {
		return &api.Empty{}, nil
	}
	if target == consensus.None {
		t, err := s.transferTarget(ctx)
		if err != nil {
			return nil, err
		}
		target = t
	}
	if err := s.node.TransferLeader(ctx, target); err != nil {
		return nil, s.nodeError(ctx, err)
	}
	for s.node.Leader() != target {
		ch := s.node.LeaderChanged()
		if s.node.Leader() == target {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, api.Errorf(api.CodeNoQuorum, "leadership did not move to %s in time", target)
		}
	}
	s.log.Info("leadership transferred", "to", target)
	return &api.Empty{}, nil
}

// requireLeader refuses the request on a follower with a leader hint.
func (s *Server) requireLeader(ctx context.Context) error {
	if err := s.serving(); err != nil {
		return err
	}
	if !s.node.IsLeader() {
		return s.notLeader(ctx)
	}
	return nil
}

// advertisedClientAddr is the client address the members give out for
// this node.
func (s *Server) advertisedClientAddr() string {
	if s.cfg.AdvertiseClientAddr != "" {
		return s.cfg.AdvertiseClientAddr
	}
	return s.ClientAddr()
}

// advertisedPeerAddr is the peer address other members should dial.
func (s *Server) advertisedPeerAddr() string {
	if s.cfg.AdvertisePeerAddr != "" {
		return s.cfg.AdvertisePeerAddr
	}
	return s.PeerAddr()
}
