package server

import (
	"context"
	"errors"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/raftnode"
)

// maxExpiriesInFlight bounds concurrent expiry proposals; the rest wait in
// the heap for the next scan.
const maxExpiriesInFlight = 1024

// expiryRetryDelay is how long a failed expiry waits before the next try.
const expiryRetryDelay = time.Second

// becomeLeader confirms leadership with a ReadIndex (so every earlier
// entry is applied), then settles the stamp clock (stamp.go) and activates
// the lease table with fresh deadlines: every session's TTL counted from
// the monotonic reading now.
func (s *Server) becomeLeader(gen uint64) {
	defer s.wg.Done()
	for s.leases.generation() == gen && s.node.IsLeader() {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
		err := s.node.ReadIndex(ctx)
		cancel()
		if err == nil {
			s.stamps.confirmed(gen)
			s.app.read(func(f *fsm.Machine) {
				if s.leases.activate(gen, f.SessionDeadlines(int64(s.clock.Monotonic()))) {
					s.log.Info("leader lease table active", "sessions", len(f.Sessions()))
				}
			})
			return
		}
		if errors.Is(err, raftnode.ErrStopped) || s.ctx.Err() != nil {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(s.cfg.LeaseScanInterval):
		}
	}
}

// leaseLoop is the leader's one timer goroutine: session expiries (by the
// monotonic clock) and lock-delay ticks (by replicated time, stamp.go).
func (s *Server) leaseLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.LeaseScanInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.scan()
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Server) scan() {
	if !s.leases.isActive() || !s.node.IsLeader() {
		return
	}
	defer s.scans.Add(1)
	gen := s.leases.generation()
	free := maxExpiriesInFlight - int(s.expiriesInFlight.Load())
	for _, id := range s.leases.due(s.clock.Monotonic(), free) {
		s.expiriesInFlight.Add(1)
		s.wg.Add(1)
		go s.expire(gen, id)
	}
	var next int64
	var ok bool
	s.app.read(func(f *fsm.Machine) { next, ok = f.NextLockDeadline() })
	// Lock-delays end in replicated time: tick once a stamp taken now
	// would reach the earliest end.
	if ok && next <= s.stamps.now() && s.tickInFlight.CompareAndSwap(false, true) {
		s.wg.Add(1)
		go s.tick()
	}
}

// expire proposes the expiry of session id.
func (s *Server) expire(gen, id uint64) {
	defer s.wg.Done()
	defer s.expiriesInFlight.Add(-1)
	var open bool
	s.app.read(func(f *fsm.Machine) { _, open = f.Session(id) })
	if !open { // closed meanwhile
		s.leases.remove(id)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	res, err := s.propose(ctx, fsm.Command{Type: fsm.CmdExpireSession, Session: id}, nil)
	switch {
	case err == nil:
		s.log.Debug("session expired", "session", id)
	case res.Err != nil:
		s.leases.remove(id) // the FSM refused: the session is gone already
	default:
		s.log.Debug("expiry proposal failed", "session", id, "error", err)
		s.leases.retry(gen, id, s.clock.Monotonic()+expiryRetryDelay)
	}
}

// tick proposes CmdTick so that lock-delays that are over end.
func (s *Server) tick() {
	defer s.wg.Done()
	defer s.tickInFlight.Store(false)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	if _, err := s.propose(ctx, fsm.Command{Type: fsm.CmdTick}, nil); err != nil {
		s.log.Debug("tick proposal failed", "error", err)
	}
}

// keepAlive renews the leases of req.Sessions (not logged). Every open
// session among them must be the caller's (sessionauth.go), or nothing is
// renewed.
func (s *Server) keepAlive(ctx context.Context, c *rpc.Conn, req *api.KeepAliveRequest) (*api.KeepAliveResponse, error) {
	if err := s.serving(); err != nil {
		return nil, err
	}
	if !s.node.IsLeader() {
		return nil, s.notLeader(ctx)
	}
	changed := s.node.LeaderChanged()
	ready, gen := s.leases.readyCh()
	select {
	case <-ready:
	case <-changed:
		return nil, s.notLeader(ctx)
	case <-ctx.Done():
		return nil, api.Errorf(api.CodeNoQuorum, "leadership not confirmed in time")
	}
	// Answer only once a quorum confirms this node still leads: a deposed
	// leader that has not noticed yet must not extend a client's lease,
	// because the new leader counts every TTL from its own election.
	if err := s.node.ReadIndex(ctx); err != nil {
		return nil, s.nodeError(ctx, err)
	}
	if _, err := s.authorizeSessions(c, req.Sessions, req.Secrets); err != nil {
		return nil, err
	}
	now := s.clock.Monotonic()
	ttls := make([]int64, len(req.Sessions))
	ats := make([]time.Duration, len(req.Sessions))
	s.app.read(func(f *fsm.Machine) {
		for i, id := range req.Sessions {
			if info, ok := f.Session(id); ok {
				ttls[i] = int64(info.TTL)
				ats[i] = deadline(now, info.TTL)
			}
		}
	})
	ok, current := s.leases.renew(gen, req.Sessions, ats)
	if !current {
		return nil, s.notLeader(ctx)
	}
	resp := &api.KeepAliveResponse{TTLs: ttls}
	for i, id := range req.Sessions {
		if !ok[i] {
			resp.TTLs[i] = 0
			resp.Expired = append(resp.Expired, id)
		}
	}
	return resp, nil
}
