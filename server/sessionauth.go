package server

import (
	"context"
	"errors"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/sessions"
)

// Sessions belong to their owner: the principal of the connection that
// opened the session (principalOf) and the holder of the secret the client
// chose when it opened it. The server keeps and logs only the secret's
// SHA-256; every request on a session carries the secret, and is checked
// against the session's owner in the state machine (for what is logged)
// or against the applied state here (for keep-alives and attaches, which
// are not). A stranger's request is refused with CodeSessionNotOwned or
// CodeBadSessionSecret and changes nothing.

// requester is who a request on a session acts as: the connection's
// principal and the hash of the secret the request carries. An absent
// secret hashes too, so it never matches a session's.
func requester(c *rpc.Conn, secret []byte) sessions.Owner {
	return sessions.Owner{Principal: principalOf(c), SecretHash: sessions.HashSecret(secret)}
}

// proposedBy stamps a command with who proposes it.
func proposedBy(cmd fsm.Command, who sessions.Owner) fsm.Command {
	cmd.Principal, cmd.SecretHash = who.Principal, who.SecretHash
	return cmd
}

// authorizeSessions checks, by the applied state, that the connection may
// act on every open session among ids with secrets[i]. It returns the
// first refusal as err; a session that is not open is not refused but
// reported by gone[i], the error of sessions.Table.Check (the caller
// decides).
func (s *Server) authorizeSessions(c *rpc.Conn, ids []uint64, secrets [][]byte) (gone []error, err error) {
	if len(secrets) != len(ids) {
		return nil, api.Errorf(api.CodeInvalidRequest, "%d sessions with %d secrets", len(ids), len(secrets))
	}
	principal := principalOf(c)
	gone = make([]error, len(ids))
	s.app.read(func(f *fsm.Machine) {
		for i, id := range ids {
			who := sessions.Owner{Principal: principal, SecretHash: sessions.HashSecret(secrets[i])}
			e := f.AuthorizeSession(id, who)
			if errors.Is(e, sessions.ErrSessionNotOwned) || errors.Is(e, sessions.ErrBadSessionSecret) {
				err = refusal(e)
				return
			}
			gone[i] = e
		}
	})
	return gone, err
}

// firstError returns the first non-nil error of errs.
func firstError(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// sessionRefusalReason is the label of lockd_session_refusals_total for
// a refusal of a request on a session, or "" for any other error.
func sessionRefusalReason(err error) string {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return ""
	}
	switch ae.Code {
	case api.CodeSessionNotOwned:
		return "not_owned"
	case api.CodeBadSessionSecret:
		return "bad_secret"
	case api.CodeSequenceReused:
		return "sequence_reused"
	case api.CodeSequenceOutOfRange:
		return "sequence_out_of_range"
	}
	return ""
}

// attach binds sessions' events to c. Only the owner may: events tell who
// holds and loses what. A session this node has not applied as open is
// looked up again after a ReadIndex, so that an attach right after an open
// at a node that lags is not refused, and an attach ahead of a session
// that does not exist yet is.
func (s *Server) attach(ctx context.Context, c *rpc.Conn, req *api.AttachRequest) (*api.Empty, error) {
	if err := s.serving(); err != nil {
		return nil, err
	}
	gone, err := s.authorizeSessions(c, req.Sessions, req.Secrets)
	if err == nil && firstError(gone) != nil {
		if err := s.linearize(ctx, api.ReadOptions{}); err != nil {
			return nil, err
		}
		gone, err = s.authorizeSessions(c, req.Sessions, req.Secrets)
	}
	if err != nil {
		return nil, err
	}
	if e := firstError(gone); e != nil {
		return nil, refusal(e)
	}
	if !s.events.attach(c, req.Sessions...) {
		return nil, api.Errorf(api.CodeInvalidRequest, "too many subscriptions on one connection")
	}
	return &api.Empty{}, nil
}
