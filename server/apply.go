package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/raftnode"
)

// applier is the StateMachine the Node drives: it wraps the FSM with a
// read-write lock so that client reads run concurrently with each other
// and never with an apply, routes each entry's events to client
// connections while still holding the lock (so an observer registered
// under the read lock sees every change exactly once, in order), and
// tells the leader's lease table about opened and expired sessions.
type applier struct {
	mu  sync.RWMutex
	fsm *fsm.Machine
	s   *Server
	// lastTime is the FSM time after the last apply; proposals are stamped
	// no earlier than it.
	lastTime atomic.Int64
}

// Apply implements StateMachine.
func (a *applier) Apply(index uint64, data []byte) any {
	a.mu.Lock()
	res, evs := a.fsm.Apply(index, data)
	a.lastTime.Store(a.fsm.Time())
	a.s.events.route(evs)
	a.mu.Unlock()
	if res.Err == nil && res.Session != 0 && res.TTL > 0 {
		// Only CmdOpenSession answers with a session and TTL; a retried
		// open with a known key renews the lease, which is harmless.
		a.s.leases.opened(res.Session, res.TTL, a.s.clock().UnixNano())
	}
	for _, ev := range evs {
		if se, ok := ev.(fsm.SessionExpired); ok {
			a.s.leases.remove(se.Session)
			a.s.metrics.sessionsExpired.Inc()
		}
	}
	return res
}

// Snapshot implements StateMachine.
func (a *applier) Snapshot() ([]byte, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.fsm.Snapshot()
}

// Restore implements StateMachine. Observers get the current holders of
// every lock they watch whose revision moved.
func (a *applier) Restore(data []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.fsm.Restore(data); err != nil {
		return err
	}
	a.lastTime.Store(a.fsm.Time())
	a.s.events.refreshObservers(a.fsm)
	return nil
}

// read runs f with the FSM under the read lock.
func (a *applier) read(f func(fsm *fsm.Machine)) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	f(a.fsm)
}

// stamp returns the time for a new command: the leader's clock, but never
// earlier than the last applied command's time.
func (s *Server) stamp() int64 {
	return max(s.clock().UnixNano(), s.app.lastTime.Load())
}

// propose replicates cmd (with body) through this node, which must be the
// leader, and returns the FSM's Result, or an *api.Error.
func (s *Server) propose(ctx context.Context, cmd fsm.Command, body any) (fsm.Result, error) {
	if err := s.serving(); err != nil {
		return fsm.Result{}, err
	}
	if !s.node.IsLeader() {
		return fsm.Result{}, s.notLeader(ctx)
	}
	cmd.Time = s.stamp()
	data, err := s.codec.Encode(cmd, body)
	if err != nil {
		return fsm.Result{}, api.Errorf(api.CodeInvalidRequest, "%v", err)
	}
	s.metrics.proposals.Inc()
	a, err := s.node.Propose(ctx, data)
	if err != nil {
		s.metrics.proposalsFailed.Inc()
		return fsm.Result{}, s.nodeError(ctx, err)
	}
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
	if s.isRemoved.Load() {
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
