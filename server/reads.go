package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// Reads are linearizable by default: ReadIndex (forwarded to the leader by
// the core when this node follows), then the local FSM under its read
// lock. ReadOptions.Stale skips the ReadIndex.

func lockMode(m api.Mode) locks.Mode { return locks.Mode(m) }

func lockInfo(in locks.Info) api.LockInfo {
	out := api.LockInfo{Name: in.Name, Holders: holderInfos(in.Holders), Revision: in.Revision, DelayUntil: in.DelayUntil}
	for _, w := range in.Waiters {
		out.Waiters = append(out.Waiters, api.WaiterInfo{Session: w.Session, Mode: api.Mode(w.Mode), QueuedAt: w.QueuedAt})
	}
	return out
}

func (s *Server) checkToken(ctx context.Context, c *rpc.Conn, req *api.CheckTokenRequest) (*api.CheckTokenResponse, error) {
	if err := s.linearize(ctx, req.ReadOptions); err != nil {
		return nil, err
	}
	var ok, may bool
	readable := readFilter(c)
	s.app.read(func(f *fsm.Machine) {
		if may = readable(f, req.Name); may {
			ok = f.CheckToken(req.Name, req.Token)
		}
	})
	if !may {
		return nil, deniedRead(c, req.Name)
	}
	return &api.CheckTokenResponse{Current: ok}, nil
}

// deniedRead is the refusal of a read of a lock name.
func deniedRead(c *rpc.Conn, name string) error {
	return api.Errorf(api.CodePermissionDenied, "%q may not read %q", principalOf(c), name)
}

func (s *Server) getLock(ctx context.Context, c *rpc.Conn, req *api.GetLockRequest) (*api.LockInfo, error) {
	if err := s.linearize(ctx, req.ReadOptions); err != nil {
		return nil, err
	}
	var in locks.Info
	var may bool
	readable := readFilter(c)
	s.app.read(func(f *fsm.Machine) {
		if may = readable(f, req.Name); may {
			in = f.Lock(req.Name)
		}
	})
	if !may {
		return nil, deniedRead(c, req.Name)
	}
	out := lockInfo(in)
	return &out, nil
}

// listLocks lists the locks under the prefix that the principal may read.
func (s *Server) listLocks(ctx context.Context, c *rpc.Conn, req *api.ListLocksRequest) (rpc.Encoded, error) {
	if err := s.linearize(ctx, req.ReadOptions); err != nil {
		return nil, err
	}
	return s.listing(ctx, c, func() any {
		resp := &api.ListLocksResponse{}
		readable := readFilter(c)
		s.app.read(func(f *fsm.Machine) {
			for _, in := range f.Locks() {
				if strings.HasPrefix(in.Name, req.Prefix) && readable(f, in.Name) {
					resp.Locks = append(resp.Locks, lockInfo(in))
				}
			}
		})
		return resp
	})
}

// sessionInfo describes session id with the locks it holds or awaits that
// readable allows; the caller holds the FSM read lock. visible is false
// when readable hides locks of the session and allows none: a principal
// sees a session only through a lock it may read.
func sessionInfo(f *fsm.Machine, id uint64, readable func(*fsm.Machine, string) bool) (out api.SessionInfo, ok, visible bool) {
	si, ok := f.Session(id)
	if !ok {
		return api.SessionInfo{}, false, false
	}
	out = api.SessionInfo{Session: id, TTL: int64(si.TTL), OpenedAt: si.OpenedAt, Owner: si.Owner}
	all := readable(f, "")
	visible = all
	for _, in := range f.SessionLocks(id) {
		if !all && !readable(f, in.Name) {
			continue
		}
		visible = true
		held := false
		for _, h := range in.Holders {
			if h.Session == id {
				held = true
			}
		}
		if held {
			out.Held = append(out.Held, in.Name)
		} else {
			out.Waiting = append(out.Waiting, in.Name)
		}
	}
	return out, true, visible
}

func (s *Server) getSession(ctx context.Context, c *rpc.Conn, req *api.GetSessionRequest) (*api.SessionInfo, error) {
	if err := s.linearize(ctx, req.ReadOptions); err != nil {
		return nil, err
	}
	var out api.SessionInfo
	var ok, visible bool
	readable := readFilter(c)
	s.app.read(func(f *fsm.Machine) { out, ok, visible = sessionInfo(f, req.Session, readable) })
	if !ok {
		return nil, api.Errorf(api.CodeUnknownSession, "session %d is not open", req.Session)
	}
	if !visible {
		return nil, api.Errorf(api.CodePermissionDenied, "%q may read no lock of session %d", principalOf(c), req.Session)
	}
	return &out, nil
}

// listSessions lists the sessions the principal may see: through a lock
// it may read (every session for a principal that may read every name).
func (s *Server) listSessions(ctx context.Context, c *rpc.Conn, req *api.ListSessionsRequest) (rpc.Encoded, error) {
	if err := s.linearize(ctx, req.ReadOptions); err != nil {
		return nil, err
	}
	return s.listing(ctx, c, func() any {
		resp := &api.ListSessionsResponse{}
		readable := readFilter(c)
		s.app.read(func(f *fsm.Machine) {
			for _, si := range f.Sessions() {
				if out, ok, visible := sessionInfo(f, uint64(si.ID), readable); ok && visible {
					resp.Sessions = append(resp.Sessions, out)
				}
			}
		})
		return resp
	})
}

// observe subscribes the connection to holder changes of req.Name (a
// valid lock name, CodeInvalidName otherwise) and
// pushes the current holders first if they changed since SinceRevision.
// Registration and the first push happen under the FSM read lock, so no
// change falls between them.
func (s *Server) observe(_ context.Context, c *rpc.Conn, req *api.ObserveRequest) (*api.Empty, error) {
	if err := s.serving(); err != nil {
		return nil, err
	}
	var subscribed bool
	var bad error
	p := principalOf(c)
	s.app.read(func(f *fsm.Machine) {
		// The name is checked as an acquire checks it, so an observer
		// cannot make the server keep names no lock could have.
		if bad = f.ValidateName(req.Name); bad != nil {
			return
		}
		if bad = f.Authorize(p, fsm.PermObserve, req.Name); bad != nil {
			return
		}
		if subscribed = s.events.observe(c, req.Name); !subscribed {
			return
		}
		if in, changed := f.ChangedSince(req.Name, req.SinceRevision); changed {
			_ = c.Push(rpc.MsgType(api.PushHolderChanged), &api.HolderChangedEvent{Name: in.Name,
				Revision: in.Revision, Holders: holderInfos(in.Holders)})
		}
	})
	if bad != nil {
		return nil, refusal(bad)
	}
	if !subscribed {
		return nil, api.Errorf(api.CodeInvalidRequest, "too many subscriptions on one connection")
	}
	return &api.Empty{}, nil
}

func (s *Server) status(ctx context.Context, _ *api.StatusRequest) (*api.NodeStatus, error) {
	st, err := s.Status(ctx)
	if err != nil {
		return nil, s.nodeError(ctx, err)
	}
	return &st, nil
}

// clusterStatus asks every member for its status over its peer address
// (over its client address if it is of an older build).
func (s *Server) clusterStatus(ctx context.Context, _ *api.ClusterStatusRequest) (*api.ClusterStatusResponse, error) {
	if err := s.serving(); err != nil {
		return nil, err
	}
	conf, _ := s.members.snapshot()
	ids := append(append([]consensus.NodeID(nil), conf.Voters...), conf.Learners...)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	resp := &api.ClusterStatusResponse{Nodes: make([]api.ClusterNode, len(ids))}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp.Nodes[i] = s.memberStatus(ctx, id)
		}()
	}
	wg.Wait()
	return resp, nil
}

func (s *Server) memberStatus(ctx context.Context, id consensus.NodeID) api.ClusterNode {
	out := api.ClusterNode{ID: string(id)}
	if id == consensus.NodeID(s.cfg.ID) {
		out.ClientAddr = s.advertisedClientAddr()
		st, err := s.Status(ctx)
		if err != nil {
			out.Error = err.Error()
			return out
		}
		out.Status = &st
		return out
	}
	addr, lerr := s.members.lookup(ctx, id)
	out.ClientAddr = addr
	// Over the member's peer address first: its client address may be
	// advertised for clients elsewhere and not be dialable from here.
	conf, _ := s.members.snapshot()
	var pst api.NodeStatus
	if err := s.tr.AskStatus(ctx, conf.Addrs[id], &pst); err == nil {
		if mine := s.ClusterID(); pst.ID != string(id) || pst.ClusterID != "" && mine != "" && pst.ClusterID != mine {
			out.Error = fmt.Sprintf("the peer address of %s answers as %s of cluster %q", id, pst.ID, pst.ClusterID)
			return out
		}
		out.Status = &pst
		return out
	}
	// A member of an older build answers status only on its client
	// address.
	if lerr != nil {
		out.Error = lerr.Error()
		return out
	}
	conn, err := rpc.Dial(ctx, addr, rpc.KindClient, s.cfg.peerRPC())
	if err != nil {
		out.Error = err.Error()
		return out
	}
	defer conn.Close()
	var st api.NodeStatus
	if err := conn.Call(ctx, rpc.MsgType(api.MsgStatus), &api.StatusRequest{}, &st); err != nil {
		out.Error = err.Error()
		return out
	}
	if st.ID != string(id) {
		// Several members advertise one address (an unspecified one such
		// as [::]:7000 reaches whichever node dials it): a status is only
		// ever reported under the ID of the node that gave it.
		out.Error = fmt.Sprintf("status unknown: client address %s answered as %q", addr, st.ID)
		return out
	}
	out.Status = &st
	return out
}
