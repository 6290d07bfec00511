package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockd/lockd/client"
)

// outcomeOf classifies a write's error. Anything that is not a definite
// answer from the state machine is unknown: it may have been applied.
func outcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, client.ErrLockHeld):
		return OutcomeHeld
	case errors.Is(err, client.ErrNotHolder):
		return OutcomeFenced
	case errors.Is(err, client.ErrAlreadyHolder):
		return OutcomeAlready
	case errors.Is(err, client.ErrInvalidName), errors.Is(err, client.ErrInvalidMode),
		errors.Is(err, client.ErrInvalidLockDelay), errors.Is(err, client.ErrValueTooLarge):
		return OutcomeFailed
	}
	// ErrSessionExpired is not definite either: the SDK also returns it
	// when the session ended locally while the request was being retried,
	// and the request may have been applied before that.
	return OutcomeUnknown
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Stats counts what a workload did.
type Stats struct {
	Grants, Held, Releases, Unknown, Reads, ReadErrors atomic.Int64
	Increments, StaleRefused, SessionsOpened, Expired  atomic.Int64
	Campaigns, Observed                                atomic.Int64
}

func (s *Stats) String() string {
	return fmt.Sprintf("grants=%d held=%d releases=%d unknown=%d reads=%d read-errors=%d increments=%d stale-refused=%d sessions=%d expired=%d campaigns=%d observed=%d",
		s.Grants.Load(), s.Held.Load(), s.Releases.Load(), s.Unknown.Load(), s.Reads.Load(), s.ReadErrors.Load(),
		s.Increments.Load(), s.StaleRefused.Load(), s.SessionsOpened.Load(), s.Expired.Load(), s.Campaigns.Load(), s.Observed.Load())
}

// Recorder wraps SDK calls so that each is recorded in a History.
type Recorder struct {
	H         *History
	Stats     *Stats
	Resources map[string]*Resource
	OpTimeout time.Duration
	TTL       time.Duration

	clients atomic.Int64
}

// NewRecorder returns a recorder with a resource per protected lock name.
func NewRecorder(h *History, protected []string, ttl time.Duration) *Recorder {
	r := &Recorder{H: h, Stats: &Stats{}, Resources: map[string]*Resource{}, OpTimeout: 5 * time.Second, TTL: ttl}
	for _, n := range protected {
		r.Resources[n] = NewResource(n, h)
	}
	return r
}

// NewClientID returns a fresh client number for the history.
func (r *Recorder) NewClientID() int { return int(r.clients.Add(1)) - 1 }

// Sess is a recorded session.
type Sess struct {
	S      *client.Session
	Opened int64 // when NewSession returned
	client int
}

// Open opens a session, retrying (bounded by ctx) until it succeeds.
func (r *Recorder) Open(ctx context.Context, c *client.Client, clientID int) (*Sess, error) {
	for {
		octx, cancel := context.WithTimeout(ctx, r.OpTimeout)
		s, err := c.NewSession(octx, client.WithTTL(r.TTL))
		cancel()
		if err == nil {
			r.Stats.SessionsOpened.Add(1)
			return &Sess{S: s, Opened: r.H.Now(), client: clientID}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Retire ends a session and records that it ended: by the time Close
// returned nil (closed, or expired earlier), or at an unknown time after it
// opened (Close failed, or the session had already ended locally, which
// the server may follow later).
func (r *Recorder) Retire(s *Sess) {
	if s.S.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.OpTimeout)
		err := s.S.Close(ctx)
		cancel()
		ret := r.H.Now()
		st := s.S.Err()
		switch {
		case err == nil && errors.Is(st, client.ErrSessionClosed):
			// Close also returns nil when the server had already expired
			// the session, so all it proves is that the session ended
			// between its opening and now.
			r.H.Add(Op{Client: s.client, Session: s.S.ID(), Kind: KindClose, Outcome: OutcomeOK, Call: s.Opened, Return: ret})
			return
		case err != nil && outcomeOf(err) == OutcomeUnknown:
			r.H.Add(Op{Client: s.client, Session: s.S.ID(), Kind: KindClose, Outcome: OutcomeUnknown, Err: errString(err), Call: s.Opened, Return: Pending})
			return
		}
	}
	r.Stats.Expired.Add(1)
	r.H.Add(Op{Client: s.client, Session: s.S.ID(), Kind: KindExpire, Outcome: OutcomeUnknown, Err: errString(s.S.Err()), Call: s.Opened, Return: Pending})
}

// Acquire takes name (waiting or trying) and records it. On an unknown
// outcome it records the SDK's cleanup too; the caller must retire the
// session.
func (r *Recorder) Acquire(ctx context.Context, s *Sess, name string, mode Mode, wait bool) (*client.Lock, Outcome) {
	opts := []client.LockOption{client.WithLockDelay(0)}
	if mode == Shared {
		opts = append(opts, client.Shared())
	}
	ctx, cancel := context.WithTimeout(ctx, r.OpTimeout)
	defer cancel()
	call := r.H.Now()
	var l *client.Lock
	var err error
	if wait {
		l, err = s.S.Acquire(ctx, name, opts...)
	} else {
		l, err = s.S.TryAcquire(ctx, name, opts...)
	}
	return l, r.recordAcquire(s, name, mode, wait, l, err, call)
}

func (r *Recorder) recordAcquire(s *Sess, name string, mode Mode, wait bool, l *client.Lock, err error, call int64) Outcome {
	out := outcomeOf(err)
	op := Op{Client: s.client, Session: s.S.ID(), Lock: name, Kind: KindAcquire, Mode: mode, Wait: wait,
		Outcome: out, Err: errString(err), Call: call, Return: r.H.Now()}
	switch out {
	case OutcomeOK:
		op.Token = l.Token()
		r.Stats.Grants.Add(1)
	case OutcomeHeld:
		r.Stats.Held.Add(1)
	case OutcomeUnknown:
		r.Stats.Unknown.Add(1)
		op.Return = Pending
		r.H.Add(Op{Client: s.client, Session: s.S.ID(), Lock: name, Kind: KindCleanup, Outcome: OutcomeUnknown, Call: call, Return: Pending})
	}
	r.H.Add(op)
	return out
}

// Release releases l and records it.
func (r *Recorder) Release(s *Sess, l *client.Lock) Outcome {
	ctx, cancel := context.WithTimeout(context.Background(), r.OpTimeout)
	defer cancel()
	call := r.H.Now()
	err := l.Release(ctx)
	out := outcomeOf(err)
	op := Op{Client: s.client, Session: s.S.ID(), Lock: l.Name(), Kind: KindRelease, Token: l.Token(),
		Outcome: out, Err: errString(err), Call: call, Return: r.H.Now()}
	if out == OutcomeUnknown {
		op.Return = Pending
		r.Stats.Unknown.Add(1)
	} else {
		r.Stats.Releases.Add(1)
	}
	r.H.Add(op)
	return out
}

// Read records a linearizable read of name's holders; a failed read tells
// nothing and is not recorded.
func (r *Recorder) Read(ctx context.Context, c *client.Client, clientID int, name string) {
	ctx, cancel := context.WithTimeout(ctx, r.OpTimeout)
	defer cancel()
	call := r.H.Now()
	info, err := c.GetLock(ctx, name)
	if err != nil {
		r.Stats.ReadErrors.Add(1)
		return
	}
	op := Op{Client: clientID, Lock: name, Kind: KindRead, Outcome: OutcomeOK, Call: call, Return: r.H.Now()}
	for _, h := range info.Holders {
		m := Exclusive
		if h.Mode == client.ModeShared {
			m = Shared
		}
		op.Holders = append(op.Holders, Holder{Session: h.Session, Mode: m, Token: h.Token})
	}
	r.Stats.Reads.Add(1)
	r.H.Add(op)
}

// Check records CheckToken(name, token).
func (r *Recorder) Check(ctx context.Context, c *client.Client, clientID int, name string, token uint64) {
	ctx, cancel := context.WithTimeout(ctx, r.OpTimeout)
	defer cancel()
	call := r.H.Now()
	ok, err := c.CheckToken(ctx, name, token)
	if err != nil {
		r.Stats.ReadErrors.Add(1)
		return
	}
	r.Stats.Reads.Add(1)
	r.H.Add(Op{Client: clientID, Lock: name, Kind: KindCheck, Token: token, Valid: ok, Outcome: OutcomeOK, Call: call, Return: r.H.Now()})
}

// Increment does one fenced read-modify-write of the resource guarded by
// name under token.
func (r *Recorder) Increment(clientID int, name string, token uint64, hold time.Duration, opID string) {
	res := r.Resources[name]
	if res == nil {
		return
	}
	v, err := res.Read(clientID, token)
	if err != nil {
		r.Stats.StaleRefused.Add(1)
		return
	}
	time.Sleep(hold)
	if err := res.Write(clientID, token, v+1, opID); err != nil {
		r.Stats.StaleRefused.Add(1)
		return
	}
	r.Stats.Increments.Add(1)
}

// LockWorker takes locks from names until ctx ends: exclusive locks with a
// protected resource are incremented under the lock; wait chooses
// Acquire over TryAcquire. Shared is the chance of a shared request.
type LockWorker struct {
	R       *Recorder
	C       *client.Client
	Names   []string
	Wait    bool
	Shared  float64
	Rand    *rand.Rand
	MaxHold time.Duration
}

// Run loops until ctx ends and retires its session.
func (w *LockWorker) Run(ctx context.Context) {
	id := w.R.NewClientID()
	var s *Sess
	defer func() {
		if s != nil {
			w.R.Retire(s)
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if s == nil {
			var err error
			if s, err = w.R.Open(ctx, w.C, id); err != nil {
				return
			}
		}
		name := w.Names[w.Rand.IntN(len(w.Names))]
		mode := Exclusive
		if w.R.Resources[name] == nil && w.Rand.Float64() < w.Shared {
			mode = Shared
		}
		l, out := w.R.Acquire(context.Background(), s, name, mode, w.Wait)
		switch out {
		case OutcomeOK:
		case OutcomeHeld:
			sleepCtx(ctx, time.Duration(w.Rand.IntN(10)+2)*time.Millisecond)
			continue
		default:
			w.R.Retire(s)
			s = nil
			continue
		}
		hold := time.Duration(w.Rand.Int64N(int64(w.MaxHold) + 1))
		w.R.Increment(id, name, l.Token(), hold, fmt.Sprintf("c%d-%d", id, n))
		if w.Rand.IntN(4) == 0 {
			w.R.Read(context.Background(), w.C, id, name)
			w.R.Check(context.Background(), w.C, id, name, l.Token())
		}
		if out := w.R.Release(s, l); out == OutcomeUnknown || out == OutcomeFailed {
			w.R.Retire(s)
			s = nil
		}
	}
}

// Reader reads every lock's holders and checks recent tokens until ctx
// ends.
type Reader struct {
	R     *Recorder
	C     *client.Client
	Names []string
	Every time.Duration
}

// Run loops until ctx ends.
func (rd *Reader) Run(ctx context.Context) {
	id := rd.R.NewClientID()
	for ctx.Err() == nil {
		for _, n := range rd.Names {
			rd.R.Read(context.Background(), rd.C, id, n)
		}
		sleepCtx(ctx, rd.Every)
	}
}

// Campaigner runs an election: campaign, lead a while (incrementing the
// election's resource as leader), resign, again.
type Campaigner struct {
	R       *Recorder
	C       *client.Client
	Name    string
	Rand    *rand.Rand
	MaxLead time.Duration
}

// Run loops until ctx ends.
func (cp *Campaigner) Run(ctx context.Context) {
	id := cp.R.NewClientID()
	var s *Sess
	defer func() {
		if s != nil {
			cp.R.Retire(s)
		}
	}()
	for n := 0; ctx.Err() == nil; n++ {
		if s == nil {
			var err error
			if s, err = cp.R.Open(ctx, cp.C, id); err != nil {
				return
			}
		}
		e := s.S.Election(cp.Name)
		cctx, cancel := context.WithTimeout(context.Background(), cp.R.OpTimeout)
		call := cp.R.H.Now()
		err := e.Campaign(cctx, []byte(fmt.Sprintf("c%d", id)))
		cancel()
		cp.R.Stats.Campaigns.Add(1)
		l := e.Lock()
		if err == nil && l == nil {
			err = errLostAtOnce // granted, then lost before we looked
		}
		if out := cp.R.recordAcquire(s, cp.Name, Exclusive, true, l, err, call); out != OutcomeOK {
			cp.R.Retire(s)
			s = nil
			continue
		}
		cp.R.Increment(id, cp.Name, l.Token(), time.Duration(cp.Rand.Int64N(int64(cp.MaxLead)+1)), fmt.Sprintf("c%d-%d", id, n))
		// Resign is a Release of the election's lock; calling Release
		// directly keeps its answer (Resign maps ErrFenced to nil).
		if out := cp.R.Release(s, l); out == OutcomeUnknown || out == OutcomeFailed {
			cp.R.Retire(s)
			s = nil
		}
	}
}

// Observer watches an election and records the leaders it is shown.
type Observer struct {
	R    *Recorder
	C    *client.Client
	Name string

	mu   sync.Mutex
	seen []client.LeaderInfo
}

// Run observes until ctx ends (it needs a session of its own).
func (o *Observer) Run(ctx context.Context) {
	id := o.R.NewClientID()
	s, err := o.R.Open(ctx, o.C, id)
	if err != nil {
		return
	}
	defer o.R.Retire(s)
	for li := range s.S.Election(o.Name).Observe(ctx) {
		o.R.Stats.Observed.Add(1)
		o.mu.Lock()
		o.seen = append(o.seen, li)
		o.mu.Unlock()
	}
}

// Seen returns the leaders observed, in order.
func (o *Observer) Seen() []client.LeaderInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]client.LeaderInfo(nil), o.seen...)
}

// CheckObserved checks that an observer saw the election move forward
// only: revisions never go back, and a leader's token is never below an
// earlier leader's.
func CheckObserved(name string, seen []client.LeaderInfo) error {
	var rev, tok uint64
	for i, li := range seen {
		if li.Revision < rev {
			return fmt.Errorf("%w: %s: observation %d has revision %d after %d", ErrFencingViolation, name, i, li.Revision, rev)
		}
		if li.Session != 0 && li.Token < tok {
			return fmt.Errorf("%w: %s: observation %d has leader token %d after %d", ErrFencingViolation, name, i, li.Token, tok)
		}
		rev = li.Revision
		if li.Session != 0 {
			tok = li.Token
		}
	}
	return nil
}

// errLostAtOnce: a Campaign returned but its lock had already ended, so
// whether it was granted is unknown to the history.
var errLostAtOnce = errors.New("nemesis: campaign won but the lock was already lost")

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
