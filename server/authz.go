package server

import (
	"context"
	"errors"
	"strings"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// Authorization (docs/SECURITY.md). The policy is replicated state
// (fsm/policy.go), so every node decides a request alike at a given
// applied index. Where each decision is made:
//
//	request                          permission        decided
//	Acquire, Release, CancelWait,    lock on the name  in the FSM at apply, with the principal the
//	  Proclaim                                           command carries: no grant or revoke can fall
//	                                                     between the check and the commit
//	Grant, Revoke                    admin             in the FSM at apply, likewise (and before
//	                                                     proposing, as below, to keep others out of the log)
//	GetLock, CheckToken              read on the name  under the FSM read lock of the read itself, after
//	ListLocks, ListSessions,         read (filtered)     its ReadIndex: the policy and the data are of one
//	  GetSession                                         applied index (the same for stale reads)
//	Observe                          observe           at subscription, and again at every push
//	AddLearner, Promote,             admin             after a ReadIndex: the policy holds every change
//	  RemoveMember, TransferLeader,                      committed before the request arrived; a change
//	  SnapshotSave                                       committed later is concurrent with it
//	Policy                           none              an administrator sees every grant, others their
//	                                                     own and those to "*"
//	OpenSession, KeepAlive,          none              (sessions belong to their owner: not a policy matter)
//	  CloseSession, Attach, Status,
//	  ClusterStatus, Members
//
// A connection without TLS has the principal "" and authorization is off
// for it (an insecure cluster has no authentication to build on).

// authorizeLocal checks c's principal against the local policy at its
// applied index.
func (s *Server) authorizeLocal(c *rpc.Conn, perm fsm.Permission, name string) error {
	p := principalOf(c)
	if p == "" || p == fsm.RootPrincipal {
		return nil
	}
	var err error
	s.app.read(func(f *fsm.Machine) { err = f.Authorize(p, perm, name) })
	if err != nil {
		return refusal(err)
	}
	return nil
}

// requireAdmin refuses c unless its principal is an administrator by a
// policy that holds every change committed before the request (a
// ReadIndex first).
func (s *Server) requireAdmin(ctx context.Context, c *rpc.Conn) error {
	if p := principalOf(c); p == "" || p == fsm.RootPrincipal {
		return nil
	}
	if err := s.linearize(ctx, api.ReadOptions{}); err != nil {
		return err
	}
	return s.authorizeLocal(c, fsm.PermAdmin, "")
}

// adminOnly wraps an administrative handler with requireAdmin.
func adminOnly[Req any, Resp any](s *Server, fn func(ctx context.Context, req *Req) (Resp, error)) func(context.Context, *rpc.Conn, *Req) (Resp, error) {
	return func(ctx context.Context, c *rpc.Conn, req *Req) (Resp, error) {
		if err := s.requireAdmin(ctx, c); err != nil {
			var zero Resp
			return zero, err
		}
		return fn(ctx, req)
	}
}

// readFilter returns whether c's principal may read a lock name, by the
// policy of the FSM it is called with (under the read lock).
func readFilter(c *rpc.Conn) func(f *fsm.Machine, name string) bool {
	p := principalOf(c)
	if p == "" || p == fsm.RootPrincipal {
		return func(*fsm.Machine, string) bool { return true }
	}
	return func(f *fsm.Machine, name string) bool { return f.Allowed(p, fsm.PermRead, name) }
}

// denied counts and logs a refusal for lack of permission; it is called
// for every handler's error.
func (s *Server) denied(c *rpc.Conn, typ api.MsgType, err error) {
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodePermissionDenied {
		return
	}
	s.metrics.requestsDenied.WithLabelValues(typ.String()).Inc()
	s.log.Info("request denied", "method", typ.String(), "principal", principalOf(c), "remote", c.RemoteAddr(), "reason", ae.Message)
}

func apiGrant(g fsm.Grant) api.Grant {
	return api.Grant{Principal: g.Principal, Permission: g.Permission.String(), Prefix: g.Prefix}
}

func fsmGrant(g api.Grant) (fsm.Grant, error) {
	p, err := fsm.ParsePermission(g.Permission)
	if err != nil {
		return fsm.Grant{}, api.Errorf(api.CodeInvalidRequest, "%v", strings.TrimPrefix(err.Error(), fsm.ErrInvalidGrant.Error()+": "))
	}
	return fsm.Grant{Principal: g.Principal, Permission: p, Prefix: g.Prefix}, nil
}

func (s *Server) policy(ctx context.Context, c *rpc.Conn, req *api.PolicyRequest) (*api.PolicyResponse, error) {
	if err := s.linearize(ctx, req.ReadOptions); err != nil {
		return nil, err
	}
	p := principalOf(c)
	resp := &api.PolicyResponse{Caller: p}
	s.app.read(func(f *fsm.Machine) {
		all := f.Allowed(p, fsm.PermAdmin, "")
		for _, g := range f.Grants() {
			if all || g.Principal == p || g.Principal == fsm.AnyPrincipal {
				resp.Grants = append(resp.Grants, apiGrant(g))
			}
		}
	})
	return resp, nil
}

// changePolicy proposes a grant or revoke. The FSM decides whether the
// issuer is an administrator when it applies the entry; the check before
// proposing keeps others' attempts out of the log.
func (s *Server) changePolicy(ctx context.Context, c *rpc.Conn, typ fsm.CommandType, g api.Grant) (*api.PolicyChangeResponse, error) {
	fg, err := fsmGrant(g)
	if err != nil {
		return nil, err
	}
	if err := s.requireAdmin(ctx, c); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, fsm.Command{Type: typ, Principal: principalOf(c)}, &fg)
	if err != nil {
		return nil, err
	}
	s.log.Info("policy changed", "change", typ.String(), "by", principalOf(c), "principal", g.Principal,
		"permission", g.Permission, "prefix", g.Prefix, "changed", !res.Duplicate)
	return &api.PolicyChangeResponse{Changed: !res.Duplicate}, nil
}

func (s *Server) grant(ctx context.Context, c *rpc.Conn, req *api.GrantRequest) (*api.PolicyChangeResponse, error) {
	return s.changePolicy(ctx, c, fsm.CmdGrant, req.Grant)
}

func (s *Server) revoke(ctx context.Context, c *rpc.Conn, req *api.RevokeRequest) (*api.PolicyChangeResponse, error) {
	return s.changePolicy(ctx, c, fsm.CmdRevoke, req.Grant)
}
