package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// withDeadline gives ctx the Client's RequestTimeout if it has no deadline,
// and ends it when the Client closes.
func (c *Client) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		stop := context.AfterFunc(c.ctx, cancel)
		return ctx, func() { stop(); cancel() }
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// do runs a request on the leader, retrying what retryable allows until
// ctx ends. req is built afresh for every attempt (a write recomputes its
// LowestUnanswered); resp receives the answer. When ctx ends first, the
// error matches both ctx's error and the last attempt's (ErrNoQuorum,
// ErrNotLeader, ErrNoEndpoint, ...).
func (c *Client) do(ctx context.Context, typ api.MsgType, req func() any, resp any) error {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	hops := 0
	var ff failFast
	var last error // the last attempt's failure
	for n := 0; ; n++ {
		err := c.attempt(ctx, typ, req(), resp)
		if err == nil {
			return nil
		}
		if c.ctx.Err() != nil {
			return ErrClosed
		}
		if ctx.Err() != nil {
			// An attempt cut short by ctx says less than the one before.
			if last == nil && !errors.Is(err, ctx.Err()) {
				last = err
			}
			return giveUp(ctx.Err(), last)
		}
		if !retryable(err) || c.failingFast(&ff, err) || c.tlsRefused(err) {
			return err
		}
		last = err
		c.retries.Add(1)
		c.log.Debug("retrying request", "type", typ, "attempt", n+1, "error", err)
		if hint, ok := notLeaderHint(err); ok && hint != "" && hops < 3 {
			hops++ // follow a fresh hint at once
			continue
		}
		hops = 0
		if serr := c.bo.sleep(ctx, n, c.ctx.Done()); serr != nil {
			return giveUp(serr, last)
		}
	}
}

// failFastRounds is how many rounds of connection attempts in a row must
// find every endpoint failing permanently before a FailFast call gives up:
// a short, bounded retry (the backoff between rounds starts at
// BackoffBase), so that a command started the moment a node restarts
// does not fail.
const failFastRounds = 3

// failFast counts, for one call, the rounds in a row that found every
// endpoint failing permanently.
type failFast struct {
	last   *UnreachableError // the round counted last (callers may share one)
	rounds int
}

// failingFast reports whether a FailFast Client's call should give up on
// err now.
func (c *Client) failingFast(f *failFast, err error) bool {
	if !c.cfg.FailFast {
		return false
	}
	var ue *UnreachableError
	if !errors.As(err, &ue) || !ue.Permanent(c.cfg.Endpoints) {
		*f = failFast{}
		return false
	}
	if ue != f.last {
		f.last = ue
		f.rounds++
	}
	return f.rounds >= failFastRounds
}

// tlsRefused reports whether err is a round of connection attempts in
// which every endpoint failed on TLS (a certificate refused by either
// side, or TLS on one side only): a call gives up on it at once, FailFast
// or not, since only a change of certificates or configuration helps.
func (c *Client) tlsRefused(err error) bool {
	ue, ok := errors.AsType[*UnreachableError](err)
	return ok && ue.TLSOnly(c.cfg.Endpoints)
}

// giveUp is the error of a call whose ctx ended: it matches the ctx error
// and the cause of the last failed attempt, if any.
func giveUp(cause, last error) error {
	if last == nil {
		return cause
	}
	return fmt.Errorf("%w (last error: %w)", cause, last)
}

// attempt sends one request on the current connection (establishing one
// if needed) and maps its failure: a broken or timed-out connection is
// dropped, a NotLeader answer records the leader hint.
func (c *Client) attempt(ctx context.Context, typ api.MsgType, req, resp any) error {
	conn, err := c.conns.get(ctx)
	if err != nil {
		return err
	}
	return c.callOn(ctx, conn, typ, req, resp)
}

// callOn sends one request on conn, bounded by AttemptTimeout.
func (c *Client) callOn(ctx context.Context, conn *rpc.ClientConn, typ api.MsgType, req, resp any) error {
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	err := conn.Call(actx, rpc.MsgType(typ), req, resp)
	cancel()
	if err == nil {
		return nil
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		c.conns.invalidate(conn, "")
		return fmt.Errorf("%w: %w", errAttemptTimeout, err)
	case errors.Is(err, rpc.ErrClosed):
		return fmt.Errorf("%w: %w", errConnDropped, err)
	case errors.Is(err, rpc.ErrConnLost):
		c.conns.invalidate(conn, "")
		return err
	}
	err = remoteErr(err)
	if hint, ok := notLeaderHint(err); ok {
		c.conns.invalidate(conn, hint)
	} else if errors.Is(err, ErrUnavailable) {
		c.conns.invalidate(conn, "")
	}
	return err
}

// write runs a deduplicated session write: it takes the session's next
// sequence number and keeps it for every retry, so the server applies the
// write once and answers every retry with the original answer.
func (c *Client) write(ctx context.Context, s *Session, typ api.MsgType, build func(api.Write) any, resp any) error {
	seq := s.beginWrite()
	defer s.endWrite(seq)
	err := c.do(ctx, typ, func() any { return build(s.header(seq)) }, resp)
	if err != nil {
		s.noteError(err)
	}
	return err
}
