package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockd/lockd/api"
)

// DefaultLockDelay is the lock-delay an Acquire asks for unless
// WithLockDelay says otherwise: how long a lock stays ungrantable after
// its holder's session expired (a clean Release frees it at once).
const DefaultLockDelay = 15 * time.Second

// Mode is how a lock is held.
type Mode uint8

const (
	// ModeExclusive: one holder.
	ModeExclusive Mode = Mode(api.ModeExclusive)
	// ModeShared: any number of shared holders, no exclusive one.
	ModeShared Mode = Mode(api.ModeShared)
)

// String is "exclusive" or "shared" (Mode(n) for another value).
func (m Mode) String() string { return api.Mode(m).String() }

// LockOption adjusts Acquire and TryAcquire.
type LockOption func(*lockOptions)

type lockOptions struct {
	mode  Mode
	value []byte
	delay time.Duration
}

// Shared asks for a shared hold instead of an exclusive one.
func Shared() LockOption { return func(o *lockOptions) { o.mode = ModeShared } }

// WithValue attaches a small value to the hold (an election candidate's
// address, for example); others see it in GetLock.
func WithValue(v []byte) LockOption { return func(o *lockOptions) { o.value = v } }

// WithLockDelay sets how long the lock stays ungrantable if this session
// expires while holding it (0..60 s; default DefaultLockDelay).
func WithLockDelay(d time.Duration) LockOption { return func(o *lockOptions) { o.delay = d } }

// Lock is a held lock. Its token is the fencing token to hand to
// downstream services; Lost is closed when the hold ends.
type Lock struct {
	s     *Session
	name  string
	token uint64
	mode  Mode

	once sync.Once
	lost chan struct{}
	// ctx is cancelled at the start of jeopardy or when the hold ends.
	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	err    error // why the hold ended, once Lost is closed
}

// Name is the lock's name.
func (l *Lock) Name() string { return l.name }

// Token is the fencing token of this hold: the index of the log entry that
// granted it. Tokens of one lock only grow from holder to holder.
func (l *Lock) Token() uint64 { return l.token }

// Mode is how the lock is held.
func (l *Lock) Mode() Mode { return l.mode }

// Session is the session holding the lock.
func (l *Lock) Session() *Session { return l.s }

// Lost is closed when the hold ends: released, lost on the server (the
// session was closed or expired there), or the session ended locally.
// While the session is in jeopardy the lock is not yet lost. See Context
// for the earlier signal that the lock may no longer be held.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Context returns a context that is cancelled as soon as the lock may no
// longer be held: when its session goes into jeopardy (cause ErrJeopardy;
// before the earliest moment the cluster could grant the lock to anyone
// else, with any lock-delay, given MaxClockRateDifference), or when the
// hold ends (cause: Err). Work done under the lock should run under this
// context and stop when it ends. It stays cancelled if the session
// becomes safe again: the lock may still be held then (Lost is open), and
// the holder may go on with a fresh Lock from a new Acquire after
// releasing this one, or keep using this one knowingly. context.Cause
// tells the two apart.
func (l *Lock) Context() context.Context { return l.ctx }

// Err returns why the hold ended (nil while held): ErrFenced after a
// Release or a loss the server reported, the session's error after it
// ended.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *Lock) markLost(cause error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = cause
		l.mu.Unlock()
		l.cancel(cause)
		close(l.lost)
	})
}

// Release releases the hold; the server checks the token, so a release of
// a hold that already ended changes nothing and returns ErrFenced (its
// session's error if the session ended). Releasing twice returns nil. If
// ctx ends before the answer, the outcome is unknown: Lost stays open, and
// a later Release returns nil, or ErrFenced if the first one was applied.
func (l *Lock) Release(ctx context.Context) error {
	if err := l.Err(); err != nil {
		if errors.Is(err, errReleased) {
			return nil
		}
		return err
	}
	if err := l.s.usable(); err != nil {
		return err
	}
	err := l.s.c.write(ctx, l.s, api.MsgRelease, func(h api.Write) any {
		return &api.ReleaseRequest{Write: h, Name: l.name, Token: l.token}
	}, nil)
	switch {
	case err == nil:
		l.s.dropLock(l, errReleased)
		return nil
	case errors.Is(err, ErrNotHolder):
		l.s.dropLock(l, err)
	}
	return err
}

// errReleased is why a lock released by its holder ended.
var errReleased = fmt.Errorf("%w: released", ErrFenced)

// Acquire takes the lock, waiting in its FIFO queue behind earlier
// requests until it is granted or ctx ends. An Acquire that ctx ends
// leaves no grant behind: before returning ctx's error it leaves the
// queue, and releases the lock if the grant raced the cancel (this
// clean-up runs under its own deadline, RequestTimeout, and stops if the
// session ends).
func (s *Session) Acquire(ctx context.Context, name string, opts ...LockOption) (*Lock, error) {
	return s.acquire(ctx, name, true, opts)
}

// TryAcquire takes the lock if it is free now (and nobody waits for it);
// otherwise it returns an error matching ErrLockHeld.
func (s *Session) TryAcquire(ctx context.Context, name string, opts ...LockOption) (*Lock, error) {
	return s.acquire(ctx, name, false, opts)
}

func (s *Session) acquire(ctx context.Context, name string, wait bool, opts []LockOption) (*Lock, error) {
	o := lockOptions{mode: ModeExclusive, delay: DefaultLockDelay}
	for _, opt := range opts {
		opt(&o)
	}
	if err := s.usable(); err != nil {
		return nil, err
	}
	w, err := s.addWaiter(name)
	if err != nil {
		return nil, err
	}
	defer s.removeWaiter(name, w)
	_, reconnected := s.c.conns.current()
	var resp api.AcquireResponse
	err = s.c.write(ctx, s, api.MsgAcquire, func(h api.Write) any {
		return &api.AcquireRequest{Write: h, Name: name, Mode: api.Mode(o.mode), Value: o.value, Wait: wait, LockDelay: int64(o.delay)}
	}, &resp)
	switch {
	case err != nil && outcomeUnknown(err) && s.usable() == nil:
		// The server may have queued or granted it.
		s.cleanupAcquire(name, w, wait)
		return nil, err
	case err != nil:
		return nil, err
	case resp.Granted:
		return s.addLock(name, resp.Token, o.mode)
	}
	w.setFloor(resp.QueuedIndex)
	close(w.queued)
	for {
		select {
		case token := <-w.granted:
			if token <= resp.QueuedIndex {
				continue // a late push of an earlier hold's grant
			}
			return s.addLock(name, token, o.mode)
		case <-ctx.Done():
			s.cleanupAcquire(name, w, true)
			return nil, ctx.Err()
		case <-s.done:
			return nil, s.Err()
		case <-reconnected:
			// A grant may have been pushed while no connection was
			// attached: the holder list shows it.
			_, reconnected = s.c.conns.current()
			if token, ok := s.heldToken(ctx, name); ok {
				return s.addLock(name, token, o.mode)
			}
		}
	}
}

// outcomeUnknown reports whether a failed write may still have been
// applied: no answer from the server decided it (the call ran out of time,
// or every attempt met a connection failure or a leader change).
func outcomeUnknown(err error) bool {
	var ae *api.Error
	return !errors.As(err, &ae) || retryable(err)
}

// heldToken asks the cluster whether this session holds name; it gives up
// when ctx or the session ends.
func (s *Session) heldToken(ctx context.Context, name string) (uint64, bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	info, err := s.c.GetLock(ctx, name)
	if err != nil {
		return 0, false
	}
	for _, h := range info.Holders {
		if h.Session == s.id {
			return h.Token, true
		}
	}
	return 0, false
}

// cleanupAcquire runs when an Acquire's ctx ended before it got its grant:
// it leaves the queue (wait) and, if the lock was granted after all,
// releases it. It uses its own deadline, since the caller's has passed.
func (s *Session) cleanupAcquire(name string, w *waiter, wait bool) {
	ctx, cancel := context.WithTimeout(s.c.ctx, s.c.cfg.RequestTimeout)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)() // an ended session holds nothing
	if wait {
		err := s.c.write(ctx, s, api.MsgCancelWait, func(h api.Write) any {
			return &api.CancelWaitRequest{Write: h, Name: name}
		}, nil)
		if err == nil || !errors.Is(err, ErrNotWaiting) {
			return // it left the queue, or the session is gone
		}
	}
	// The cluster's holder list is authoritative; a pushed token may be a
	// late grant of an earlier hold.
	token, ok := s.heldToken(ctx, name)
	if !ok {
		if token, ok = w.token(); !ok {
			return
		}
	}
	err := s.c.write(ctx, s, api.MsgRelease, func(h api.Write) any {
		return &api.ReleaseRequest{Write: h, Name: name, Token: token}
	}, nil)
	s.c.log.Debug("released a grant that raced a cancelled acquire", "session", s.id, "lock", name, "token", token, "error", err)
}

// waiter is an Acquire in progress: the push handler delivers its grant.
// A node catching up on its log may push grants of this session's earlier
// holds of the same lock; only a token above the entry that queued this
// request (floor) ends the wait.
type waiter struct {
	granted chan uint64   // cap 1: the highest token pushed so far
	queued  chan struct{} // closed when the server answered Queued
	mu      sync.Mutex
	tok     uint64 // highest token delivered
	got     bool
	floor   uint64 // QueuedIndex, once known
}

func (w *waiter) deliver(token uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got && token <= w.tok {
		return
	}
	w.got, w.tok = true, token
	select { // replace an unread lower token
	case <-w.granted:
	default:
	}
	w.granted <- token
}

func (w *waiter) setFloor(floor uint64) {
	w.mu.Lock()
	w.floor = floor
	w.mu.Unlock()
}

// token is the grant this waiter received, if one above its floor came.
func (w *waiter) token() (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tok, w.got && w.tok > w.floor
}

func (s *Session) addWaiter(name string) (*waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.locks[name]; ok {
		return nil, fmt.Errorf("%w: session %d on %q", ErrAlreadyHolder, s.id, name)
	}
	if _, ok := s.waiters[name]; ok {
		return nil, fmt.Errorf("%w: session %d on %q", ErrAlreadyWaiting, s.id, name)
	}
	w := &waiter{granted: make(chan uint64, 1), queued: make(chan struct{})}
	s.waiters[name] = w
	return w, nil
}

func (s *Session) removeWaiter(name string, w *waiter) {
	s.mu.Lock()
	if s.waiters[name] == w {
		delete(s.waiters, name)
	}
	s.mu.Unlock()
}

// addLock records a granted hold.
func (s *Session) addLock(name string, token uint64, mode Mode) (*Lock, error) {
	l := &Lock{s: s, name: name, token: token, mode: mode, lost: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		l.cancel(err)
		return nil, err
	}
	if s.state == SessionJeopardy {
		l.cancel(ErrJeopardy)
	}
	s.locks[name] = l
	s.mu.Unlock()
	return l, nil
}

// dropLock forgets l and closes its Lost channel.
func (s *Session) dropLock(l *Lock, cause error) {
	s.mu.Lock()
	if s.locks[l.name] == l {
		delete(s.locks, l.name)
	}
	s.mu.Unlock()
	l.markLost(cause)
}

// onGranted delivers a pushed grant to the waiting Acquire, if any.
func (s *Session) onGranted(name string, token uint64) {
	s.mu.Lock()
	w := s.waiters[name]
	s.mu.Unlock()
	if w != nil {
		w.deliver(token)
	}
}

// onLost ends the hold with token, if this session has it.
func (s *Session) onLost(name string, token uint64) {
	s.mu.Lock()
	l := s.locks[name]
	s.mu.Unlock()
	if l != nil && l.token == token {
		s.dropLock(l, fmt.Errorf("%w: lost on the server", ErrFenced))
	}
}
