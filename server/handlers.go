package server

import (
	"context"
	"errors"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// handle registers fn for a client message type. It bounds the request by
// RequestTimeout and turns errors into rpc remote errors whose code is
// the api code and whose message is the api.Error's bare message (for
// CodeNotLeader: the leader's client address).
func handle[Req any, Resp any](s *Server, typ api.MsgType, fn func(ctx context.Context, c *rpc.Conn, req *Req) (Resp, error)) error {
	return rpc.Register(s.client, rpc.MsgType(typ), func(ctx context.Context, c *rpc.Conn, req *Req) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		resp, err := fn(ctx, c, req)
		if err != nil {
			if reason := sessionRefusalReason(err); reason != "" {
				s.metrics.sessionRefusals.WithLabelValues(reason).Inc()
			}
			s.denied(c, typ, err)
			return nil, wireError(err)
		}
		return resp, nil
	})
}

// wireError converts an error for rpc.
func wireError(err error) error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return &rpc.RemoteError{Code: uint32(ae.Code), Message: ae.Message}
	case errors.Is(err, context.DeadlineExceeded):
		return &rpc.RemoteError{Code: uint32(api.CodeNoQuorum), Message: "request deadline exceeded"}
	}
	return err
}

// ignoreConn adapts a handler that does not need the connection.
func ignoreConn[Req any, Resp any](fn func(ctx context.Context, req *Req) (Resp, error)) func(context.Context, *rpc.Conn, *Req) (Resp, error) {
	return func(ctx context.Context, _ *rpc.Conn, req *Req) (Resp, error) { return fn(ctx, req) }
}

func (s *Server) registerHandlers() error {
	return errors.Join(
		handle(s, api.MsgOpenSession, s.openSession),
		handle(s, api.MsgKeepAlive, s.keepAlive),
		handle(s, api.MsgCloseSession, s.closeSession),
		handle(s, api.MsgAttach, s.attach),
		handle(s, api.MsgAcquire, s.acquire),
		handle(s, api.MsgRelease, s.release),
		handle(s, api.MsgCancelWait, s.cancelWait),
		handle(s, api.MsgProclaim, s.proclaim),
		handle(s, api.MsgCheckToken, s.checkToken),
		handle(s, api.MsgGetLock, s.getLock),
		handle(s, api.MsgListLocks, s.listLocks),
		handle(s, api.MsgGetSession, s.getSession),
		handle(s, api.MsgListSessions, s.listSessions),
		handle(s, api.MsgObserve, s.observe),
		handle(s, api.MsgStatus, ignoreConn(s.status)),
		handle(s, api.MsgClusterStatus, ignoreConn(s.clusterStatus)),
		handle(s, api.MsgMembers, ignoreConn(s.listMembers)),
		handle(s, api.MsgAddLearner, adminOnly(s, s.addLearner)),
		handle(s, api.MsgPromote, adminOnly(s, s.promote)),
		handle(s, api.MsgRemoveMember, adminOnly(s, s.removeMember)),
		handle(s, api.MsgTransferLeader, adminOnly(s, s.transferLeader)),
		handle(s, api.MsgSnapshotSave, adminOnly(s, s.snapshotSave)),
		handle(s, api.MsgPolicy, s.policy),
		handle(s, api.MsgGrant, s.grant),
		handle(s, api.MsgRevoke, s.revoke),
	)
}

func (s *Server) openSession(ctx context.Context, c *rpc.Conn, req *api.OpenSessionRequest) (*api.OpenSessionResponse, error) {
	if n, over := s.atLimit(s.cfg.MaxSessions, func(f *fsm.Machine) (int, bool) { return f.SessionCount(req.Key) }); over {
		return nil, api.Errorf(api.CodeLimitExceeded, "%d sessions open, the limit is %d", n, s.cfg.MaxSessions)
	}
	if len(req.Secret) != api.SessionSecretSize {
		return nil, api.Errorf(api.CodeBadSessionSecret, "a session secret is %d bytes, not %d", api.SessionSecretSize, len(req.Secret))
	}
	res, err := s.propose(ctx, proposedBy(fsm.Command{Type: fsm.CmdOpenSession}, requester(c, req.Secret)),
		&fsm.OpenSessionBody{Key: req.Key, TTL: req.TTL})
	if err != nil {
		return nil, err
	}
	s.events.attach(c, res.Session)
	return &api.OpenSessionResponse{Session: res.Session, TTL: res.TTL}, nil
}

func (s *Server) closeSession(ctx context.Context, c *rpc.Conn, req *api.CloseSessionRequest) (*api.Empty, error) {
	if req.Session == 0 {
		return nil, api.Errorf(api.CodeUnknownSession, "session 0")
	}
	cmd := proposedBy(fsm.Command{Type: fsm.CmdCloseSession, Session: req.Session}, requester(c, req.Secret))
	if _, err := s.propose(ctx, cmd, nil); err != nil {
		return nil, err
	}
	s.leases.remove(req.Session)
	return &api.Empty{}, nil
}

// atLimit is the leader's check of a count against limit (0: none):
// count returns the current count and whether the request is exempt (it
// repeats what the state already holds). A follower skips the check and
// answers NotLeader when it proposes.
func (s *Server) atLimit(limit int, count func(f *fsm.Machine) (n int, exempt bool)) (int, bool) {
	if limit <= 0 || !s.node.IsLeader() {
		return 0, false
	}
	var n int
	var exempt bool
	s.app.read(func(f *fsm.Machine) { n, exempt = count(f) })
	return n, n >= limit && !exempt
}

// writeCmd is the envelope of a deduplicated session write made on c:
// the FSM checks the session's owner and secret, and the principal's lock
// permission, when it applies it.
func writeCmd(t fsm.CommandType, c *rpc.Conn, w api.Write) fsm.Command {
	return proposedBy(fsm.Command{Type: t, Session: w.Session, Seq: w.Seq, LowestUnanswered: w.LowestUnanswered},
		requester(c, w.Secret))
}

func (s *Server) acquire(ctx context.Context, c *rpc.Conn, req *api.AcquireRequest) (*api.AcquireResponse, error) {
	start := time.Now()
	if n, over := s.atLimit(s.cfg.MaxLocksPerSession, func(f *fsm.Machine) (int, bool) { return f.SessionLockCount(req.Session, req.Name) }); over {
		return nil, api.Errorf(api.CodeLimitExceeded, "session %d holds or waits for %d locks, the limit is %d",
			req.Session, n, s.cfg.MaxLocksPerSession)
	}
	// Bind first: a queued request can be granted by the very next entry.
	// Only the owner's connection is bound: a stranger is refused here if
	// this node has applied the session's open, and by the state machine
	// otherwise, before anything is bound.
	gone, err := s.authorizeSessions(c, []uint64{req.Session}, [][]byte{req.Secret})
	if err != nil {
		return nil, err
	}
	if gone[0] == nil {
		s.events.attach(c, req.Session)
	}
	res, err := s.propose(ctx, writeCmd(fsm.CmdAcquire, c, req.Write), &fsm.AcquireBody{Name: req.Name,
		Mode: lockMode(req.Mode), Value: req.Value, Wait: req.Wait, LockDelay: req.LockDelay})
	if err != nil {
		return nil, err
	}
	if gone[0] != nil {
		s.events.attach(c, req.Session)
	}
	s.metrics.acquireDuration.Observe(time.Since(start).Seconds())
	return &api.AcquireResponse{Granted: res.Granted, Token: res.Token, Queued: res.Queued, Position: res.Position,
		QueuedIndex: res.QueuedIndex}, nil
}

func (s *Server) release(ctx context.Context, c *rpc.Conn, req *api.ReleaseRequest) (*api.Empty, error) {
	if _, err := s.propose(ctx, writeCmd(fsm.CmdRelease, c, req.Write), &fsm.ReleaseBody{Name: req.Name, Token: req.Token}); err != nil {
		return nil, err
	}
	return &api.Empty{}, nil
}

func (s *Server) cancelWait(ctx context.Context, c *rpc.Conn, req *api.CancelWaitRequest) (*api.Empty, error) {
	if _, err := s.propose(ctx, writeCmd(fsm.CmdCancelWait, c, req.Write), &fsm.CancelWaitBody{Name: req.Name}); err != nil {
		return nil, err
	}
	return &api.Empty{}, nil
}

func (s *Server) proclaim(ctx context.Context, c *rpc.Conn, req *api.ProclaimRequest) (*api.Empty, error) {
	if _, err := s.propose(ctx, writeCmd(fsm.CmdProclaim, c, req.Write), &fsm.ProclaimBody{Name: req.Name, Token: req.Token, Value: req.Value}); err != nil {
		return nil, err
	}
	return &api.Empty{}, nil
}
