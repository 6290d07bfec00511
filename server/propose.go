package server

import (
	"context"
	"errors"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/raftnode"
)

// propose replicates cmd (with body) through this node, which must be the
// leader, and returns the FSM's Result, or an *api.Error.
func (s *Server) propose(ctx context.Context, cmd fsm.Command, body any) (fsm.Result, error) {
	if err := s.serving(); err != nil {
		return fsm.Result{}, err
	}
	if !s.node.IsLeader() {
		return fsm.Result{}, s.notLeader(ctx)
	}
	cmd.Time = s.stamps.stamp()
	data, err := s.codec.Encode(cmd, body)
	if err != nil {
		return fsm.Result{}, api.Errorf(api.CodeInvalidRequest, "%v", err)
	}
	s.metrics.proposals.Inc()
	start := time.Now()
	a, err := s.node.Propose(ctx, data)
	if err != nil {
		s.metrics.proposalsFailed.Inc()
		return fsm.Result{}, s.nodeError(ctx, err)
	}
	s.metrics.calls.commit.Observe(time.Since(start).Seconds())
	res, ok := a.Result.(fsm.Result)
	if !ok {
		return fsm.Result{}, api.Errorf(api.CodeUnavailable, "no result for entry %d", a.Index)
	}
	if res.Err != nil {
		return res, refusal(res.Err)
	}
	return res, nil
}

// serving refuses requests once the node was removed or stopped.
func (s *Server) serving() error {
	if s.members.wasRemoved() {
		return api.Errorf(api.CodeUnavailable, "node %s was removed from the cluster", s.cfg.ID)
	}
	select {
	case <-s.node.Done():
		return api.Errorf(api.CodeUnavailable, "node %s stopped", s.cfg.ID)
	case <-s.stopc:
		return api.Errorf(api.CodeUnavailable, "node %s is shutting down", s.cfg.ID)
	default:
		return nil
	}
}

// notLeader is the answer of a node that is not the leader: CodeNotLeader
// with the leader's client address, if known, as the message.
func (s *Server) notLeader(ctx context.Context) *api.Error {
	return &api.Error{Code: api.CodeNotLeader, Message: s.leaderHint(ctx)}
}

// leaderHint is the current leader's client address, or "" if unknown.
func (s *Server) leaderHint(ctx context.Context) string {
	lead := s.node.Leader()
	if lead == consensus.None {
		return ""
	}
	if addr := s.members.clientAddr(lead); addr != "" {
		return addr
	}
	hctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout/4)
	defer cancel()
	addr, _ := s.members.lookup(hctx, lead)
	return addr
}

// nodeError maps an error of the Node (proposal, read index, conf change)
// to the client's error: its code from wireCodes, with the leader's
// client address as the message of CodeNotLeader.
func (s *Server) nodeError(ctx context.Context, err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	r, known := wireCode(err)
	switch {
	case known && r.code == api.CodeNotLeader:
		return s.notLeader(context.WithoutCancel(ctx))
	case errors.Is(err, raftnode.ErrStopped):
		return api.Errorf(api.CodeUnavailable, "node %s stopped", s.cfg.ID)
	case known:
		return api.Errorf(r.code, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return api.Errorf(api.CodeNoQuorum, "not committed within the request deadline")
	case errors.Is(err, context.Canceled):
		return err
	}
	return api.Errorf(api.CodeUnavailable, "%v", err)
}

// linearize makes the next local read linearizable (ReadIndex through the
// leader) unless the request asked for a stale read.
func (s *Server) linearize(ctx context.Context, opts api.ReadOptions) error {
	if err := s.serving(); err != nil {
		return err
	}
	if opts.Stale {
		return nil
	}
	if err := s.node.ReadIndex(ctx); err != nil {
		return s.nodeError(ctx, err)
	}
	return nil
}
