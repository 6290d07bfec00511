package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockd/lockd/api"
)

// LeaderInfo describes an election's leader: the value it proclaimed, its
// fencing token and session, and the lock revision it was read at. An
// observed LeaderInfo with Session 0 means the election has no leader.
type LeaderInfo struct {
	Value    []byte
	Token    uint64
	Session  uint64
	Revision uint64
}

// Election is a leader election on the lock named name: the leader holds
// the lock exclusively, with its value. Safe for concurrent use.
//
// The election's lock has a lock-delay like any lock: when the leader's
// session expires (it did not resign), nobody can win for the lock-delay
// after the expiry, so a candidate waits up to the TTL plus the lock-delay.
// The default, DefaultElectionLockDelay, is 0: a leader that stops acting
// when its lock's Context ends (Lock().Context(), cancelled at the start of
// jeopardy) has stopped about a quarter of the TTL before anyone else can
// win, whatever the lock-delay, and that quarter is the time its last
// messages have to land. WithElectionLockDelay adds to it, for a leader
// whose actions may be delayed longer and are not fenced. Resign hands
// over at once (one commit), with no lock-delay.
type Election struct {
	s     *Session
	name  string
	delay time.Duration // the lock-delay Campaign asks for

	mu   sync.Mutex
	lock *Lock // held while leading
}

// ElectionOption adjusts Session.Election.
type ElectionOption func(*electionOptions)

type electionOptions struct{ delay time.Duration }

// DefaultElectionLockDelay is the lock-delay a Campaign asks for unless
// WithElectionLockDelay says otherwise: none (see Election).
const DefaultElectionLockDelay time.Duration = 0

// WithElectionLockDelay sets the lock-delay of the election's lock: how
// long nobody can win after this session expires while leading. The
// default is DefaultElectionLockDelay, the range 0..60 s (the server's;
// Campaign returns ErrInvalidLockDelay outside it).
func WithElectionLockDelay(d time.Duration) ElectionOption {
	return func(o *electionOptions) { o.delay = d }
}

// Election returns the election on name for this session.
func (s *Session) Election(name string, opts ...ElectionOption) *Election {
	o := electionOptions{delay: DefaultElectionLockDelay}
	for _, opt := range opts {
		opt(&o)
	}
	return &Election{s: s, name: name, delay: o.delay}
}

// Name is the election's lock name.
func (e *Election) Name() string { return e.name }

// Lock returns the lock held while leading, or nil.
func (e *Election) Lock() *Lock {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lock != nil && e.lock.Err() != nil {
		e.lock = nil
	}
	return e.lock
}

// Campaign waits until this session leads the election, then proclaims
// value. Leading already, it proclaims value. A Campaign that ctx ends
// leaves no leadership behind. The lock is acquired with the election's
// lock-delay (WithElectionLockDelay).
func (e *Election) Campaign(ctx context.Context, value []byte) error {
	if e.Lock() != nil {
		return e.Proclaim(ctx, value)
	}
	l, err := e.s.Acquire(ctx, e.name, WithValue(value), WithLockDelay(e.delay))
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.lock = l
	e.mu.Unlock()
	return nil
}

// Proclaim replaces the leader's value without giving up leadership. It
// returns ErrNotElected if this session does not lead, ErrFenced if the
// server no longer counts it as the leader.
func (e *Election) Proclaim(ctx context.Context, value []byte) error {
	l := e.Lock()
	if l == nil {
		return ErrNotElected
	}
	err := e.s.c.write(ctx, e.s, api.MsgProclaim, func(h api.Write) any {
		return &api.ProclaimRequest{Write: h, Name: e.name, Token: l.token, Value: value}
	}, nil)
	if errors.Is(err, ErrNotHolder) {
		e.s.dropLock(l, err)
	}
	return err
}

// Resign gives up leadership; it returns nil if this session does not
// lead.
func (e *Election) Resign(ctx context.Context) error {
	l := e.Lock()
	if l == nil {
		return nil
	}
	err := l.Release(ctx)
	if err == nil || errors.Is(err, ErrFenced) {
		e.mu.Lock()
		if e.lock == l {
			e.lock = nil
		}
		e.mu.Unlock()
		return nil
	}
	return err
}

// Leader returns the current leader (a linearizable read), or
// ErrNoElectionLeader.
func (e *Election) Leader(ctx context.Context) (LeaderInfo, error) {
	info, err := e.s.c.GetLock(ctx, e.name)
	if err != nil {
		return LeaderInfo{}, err
	}
	li := leaderOf(info.Revision, info.Holders)
	if li.Session == 0 {
		return LeaderInfo{}, fmt.Errorf("%w: %q", ErrNoElectionLeader, e.name)
	}
	return li, nil
}

func leaderOf(rev uint64, holders []HolderInfo) LeaderInfo {
	if len(holders) == 0 {
		return LeaderInfo{Revision: rev}
	}
	h := holders[0]
	return LeaderInfo{Value: h.Value, Token: h.Token, Session: h.Session, Revision: rev}
}
