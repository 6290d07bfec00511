package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockd/lockd/api"
)

// SessionState is what the client knows of its session's lease.
type SessionState int

const (
	// SessionSafe: the lease confirmed by the last keep-alive still runs.
	SessionSafe SessionState = iota + 1
	// SessionJeopardy: no keep-alive was confirmed for JeopardyAfter of
	// the TTL (counted from the send of the last one confirmed); the
	// cluster may expire the session soon, so locks may be lost. Jeopardy
	// starts before the earliest moment the cluster could expire the
	// session (see EarliestExpiry). The client keeps trying until the
	// grace period after the lease's end, then the session is either
	// safe again or expired.
	SessionJeopardy
	// SessionExpired: the session ended by expiry (final).
	SessionExpired
	// SessionClosed: the session was closed, or its Client was (final).
	SessionClosed
)

func (st SessionState) String() string {
	switch st {
	case SessionSafe:
		return "safe"
	case SessionJeopardy:
		return "jeopardy"
	case SessionExpired:
		return "expired"
	case SessionClosed:
		return "closed"
	}
	return fmt.Sprintf("SessionState(%d)", int(st))
}

// SessionOption adjusts NewSession.
type SessionOption func(*sessionOptions)

type sessionOptions struct{ ttl time.Duration }

// WithTTL asks for a session TTL (the server clamps it to its range).
func WithTTL(ttl time.Duration) SessionOption {
	return func(o *sessionOptions) { o.ttl = ttl }
}

// Session is a lease on the cluster that the Client keeps alive. Locks
// belong to a session: when it expires or closes, they are lost.
type Session struct {
	c  *Client
	id uint64
	// secret proves to the server that a request on the session is this
	// Session's: chosen at random when it opened, sent with every request
	// on it, never logged.
	secret []byte
	ttl    time.Duration // granted by the server
	grace  time.Duration
	// ctx ends when the session does: work on its behalf stops with it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	state    SessionState
	err      error         // why the session ended, once final
	changed  chan struct{} // closed and replaced on every state change
	done     chan struct{} // closed when the state becomes final
	leaseEnd time.Time     // local lease, counted from the keep-alive's send: send time + TTL
	graceEnd time.Time     // set on entering jeopardy: leaseEnd + grace
	nextSeq  uint64        // Invariant: every seq issued is < nextSeq
	pending  map[uint64]struct{}
	locks    map[string]*Lock
	waiters  map[string]*waiter
}

// NewSession opens a session with a fresh idempotency key (a retried open
// returns the same session) and attaches it to the leader connection so
// that its events reach this Client.
func (c *Client) NewSession(ctx context.Context, opts ...SessionOption) (*Session, error) {
	o := sessionOptions{ttl: c.cfg.SessionTTL}
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl <= 0 {
		return nil, fmt.Errorf("%w: TTL %v", ErrInvalidRequest, o.ttl)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails
	secret := make([]byte, api.SessionSecretSize)
	_, _ = rand.Read(secret)
	// A retried open sends the same key and secret: the server answers
	// with the same session.
	req := &api.OpenSessionRequest{Key: hex.EncodeToString(raw[:]), TTL: int64(o.ttl), Secret: secret}
	sentAt := c.clk.Now()
	var resp api.OpenSessionResponse
	if err := c.do(ctx, api.MsgOpenSession, func() any { return req }, &resp); err != nil {
		return nil, err
	}
	ttl := time.Duration(resp.TTL)
	if ttl <= 0 {
		ttl = o.ttl
	}
	grace := c.cfg.Grace
	if grace == 0 {
		grace = ttl
	}
	s := &Session{
		c: c, id: resp.Session, secret: secret, ttl: ttl, grace: grace,
		state: SessionSafe, changed: make(chan struct{}), done: make(chan struct{}),
		leaseEnd: sentAt.Add(ttl), nextSeq: 1,
		pending: make(map[uint64]struct{}), locks: make(map[string]*Lock), waiters: make(map[string]*waiter),
	}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	if err := c.addSession(s); err != nil {
		return nil, err
	}
	err := c.do(ctx, api.MsgAttach, func() any { return s.attachRequest() }, nil)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.AttemptTimeout)
		_ = s.Close(cctx)
		cancel()
		return nil, err
	}
	c.log.Debug("session opened", "session", s.id, "ttl", ttl)
	return s, nil
}

// ID is the session's cluster-wide identifier.
func (s *Session) ID() uint64 { return s.id }

// TTL is the TTL the server granted.
func (s *Session) TTL() time.Duration { return s.ttl }

// Done is closed when the session has ended (expired or closed).
func (s *Session) Done() <-chan struct{} { return s.done }

// State returns the session's current state.
func (s *Session) State() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Err returns why the session ended (ErrSessionExpired, ErrSessionClosed,
// ErrClosed), or nil while it is live.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// StateChanged returns a channel that is closed at the next state change.
// Nothing needs to read it: each change closes the current channel and
// makes a new one.
func (s *Session) StateChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitState waits until the state differs from since and returns the new
// state, or ctx's error. A final state returns at once.
func (s *Session) WaitState(ctx context.Context, since SessionState) (SessionState, error) {
	for {
		s.mu.Lock()
		st, ch := s.state, s.changed
		s.mu.Unlock()
		if st != since {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// Close closes the session on the server, which releases its locks and
// drops its waits at once, then ends it locally. Closing an ended session
// returns nil. If the cluster cannot be reached before ctx ends, Close
// returns the error and the session stays live (the server expires it
// after its TTL once keep-alives stop: Client.Close stops them).
func (s *Session) Close(ctx context.Context) error {
	if s.Err() != nil {
		return nil
	}
	err := s.c.do(ctx, api.MsgCloseSession, func() any { return &api.CloseSessionRequest{Session: s.id, Secret: s.secret} }, nil)
	if err != nil && !sessionGone(err) {
		return err
	}
	s.end(SessionClosed, ErrSessionClosed)
	return nil
}

// EarliestExpiry is the earliest moment, on this machine's clock, at
// which the cluster could expire the session if no keep-alive is
// confirmed from now on: the send time of the last confirmed keep-alive
// (or of the open) plus the TTL shortened by MaxClockRateDifference, for
// the leader counts the TTL on its own clock, from when it received that
// keep-alive. Nobody else can be granted a lock of the session before
// this moment plus the lock's lock-delay (also shortened by the bound).
// The zero time once the session ended.
func (s *Session) EarliestExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return time.Time{}
	}
	return earliestExpiry(s.leaseEnd, s.ttl)
}

// MaxClockRateDifference is the bound, assumed by the SDK's lease
// arithmetic, on how much faster any lockd node's clock may run than the
// client's (0.01: 1%). Real quartz clocks differ by a few parts per
// million; the bound leaves room for a badly slewed one.
const MaxClockRateDifference = 0.01

// JeopardyAfter is the fraction of the TTL, counted from the send of the
// last confirmed keep-alive, after which a session without a newer
// confirmation goes into jeopardy (and every Lock's Context is
// cancelled). It is below 1/(1+MaxClockRateDifference) by about a quarter
// of the TTL: the time a holder has to stop between being told and the
// earliest moment the cluster could grant its locks to anyone else, with
// any lock-delay from 0 up.
const JeopardyAfter = 0.75

// jeopardyAt is when a session whose lease (send time + ttl) ends at
// leaseEnd goes into jeopardy.
func jeopardyAt(leaseEnd time.Time, ttl time.Duration) time.Time {
	return leaseEnd.Add(-ttl).Add(time.Duration(float64(ttl) * JeopardyAfter))
}

// earliestExpiry is the earliest moment the cluster could expire a
// session whose lease (send time + ttl) ends at leaseEnd: the leader's
// TTL, on a clock up to MaxClockRateDifference faster, counted from a
// receipt no earlier than the send. Rounded down to the microsecond.
func earliestExpiry(leaseEnd time.Time, ttl time.Duration) time.Time {
	short := time.Duration(float64(ttl) / (1 + MaxClockRateDifference)).Truncate(time.Microsecond)
	return leaseEnd.Add(-ttl).Add(short)
}

// setState changes the state; the caller holds s.mu. Entering jeopardy
// cancels the Context of every held lock.
func (s *Session) setState(st SessionState) {
	if s.state == st {
		return
	}
	s.c.log.Debug("session state", "session", s.id, "from", s.state, "to", st)
	s.state = st
	close(s.changed)
	s.changed = make(chan struct{})
	if st == SessionJeopardy {
		for _, l := range s.locks {
			l.cancel(ErrJeopardy)
		}
	}
}

// end makes the session final: Done closes, every lock is lost, every
// waiting Acquire returns cause.
func (s *Session) end(st SessionState, cause error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = cause // from here on the session refuses new work
	held := s.locks
	s.locks = make(map[string]*Lock)
	s.mu.Unlock()
	// Every Lost closes before the state changes and Done closes, so an
	// application that sees the session ended finds its locks lost too.
	for _, l := range held {
		l.markLost(cause)
	}
	s.mu.Lock()
	s.setState(st)
	close(s.done)
	s.mu.Unlock()
	s.cancel()
	s.c.removeSession(s)
}

// usable returns the error of an ended session, or nil.
func (s *Session) usable() error {
	if err := s.Err(); err != nil {
		return err
	}
	return s.c.ctx.Err()
}

// noteError ends the session if a server answer says it is gone.
func (s *Session) noteError(err error) {
	switch {
	case errors.Is(err, ErrSessionExpired), errors.Is(err, ErrUnknownSession):
		s.end(SessionExpired, ErrSessionExpired)
	case errors.Is(err, ErrSessionClosed):
		s.end(SessionClosed, ErrSessionClosed)
	}
}

// beginWrite issues the next sequence number and marks it unanswered.
func (s *Session) beginWrite() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.nextSeq
	s.nextSeq++
	s.pending[seq] = struct{}{}
	return seq
}

// endWrite marks seq answered (or abandoned: its ctx ended). Once the
// server learns the new mark from a later write it refuses a late copy.
func (s *Session) endWrite(seq uint64) {
	s.mu.Lock()
	delete(s.pending, seq)
	s.mu.Unlock()
}

// header is the dedup header for a new attempt of write seq.
func (s *Session) header(seq uint64) api.Write {
	s.mu.Lock()
	defer s.mu.Unlock()
	low := s.nextSeq
	for q := range s.pending {
		low = min(low, q)
	}
	return api.Write{Session: s.id, Secret: s.secret, Seq: seq, LowestUnanswered: low}
}

// attachRequest binds this session's events to a connection.
func (s *Session) attachRequest() *api.AttachRequest {
	return &api.AttachRequest{Sessions: []uint64{s.id}, Secrets: [][]byte{s.secret}}
}
