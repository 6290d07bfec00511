package fsm

import (
	"errors"
	"fmt"
	"time"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// Config configures the replicated state machine. Every replica must use
// the same values: they decide the outcome of commands.
type Config struct {
	// Sessions bounds the session table (TTL range, dedup window).
	Sessions sessions.Config
	// Locks bounds the lock table (name and value sizes, lock-delay range).
	Locks locks.Config
}

// DefaultConfig returns the packages' defaults.
func DefaultConfig() Config {
	return Config{Sessions: sessions.DefaultConfig(), Locks: locks.DefaultConfig()}
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	return errors.Join(c.Sessions.Validate(), c.Locks.Validate())
}

// Machine is lockd's replicated state machine: the session table and the lock
// table, driven by committed commands. It is deterministic: it reads time
// only from commands, iterates in sorted order, and does no I/O. It is not
// safe for concurrent use; the server applies from one goroutine and must
// serialise queries with it.
type Machine struct {
	cfg      Config
	codec    *Codec
	sessions *sessions.Table
	locks    *locks.Table
	policy   policy
	// index is the last applied index. Invariant: it only grows.
	index uint64
	// now is the last applied time, max of all command times so far.
	// Invariant: it only grows.
	now int64
}

// New returns an empty state machine.
func New(cfg Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Machine{cfg: cfg, codec: NewCodec()}
	f.reset()
	return f, nil
}

func (f *Machine) reset() {
	f.sessions, _ = sessions.New(f.cfg.Sessions) // config validated in New
	f.locks, _ = locks.New(f.cfg.Locks)
	f.policy = policy{}
	f.index, f.now = 0, 0
}

// Apply applies the committed entry at index. Empty data is a no-op entry.
// It never panics on bad input: an entry that does not decode, or a command
// that is refused, gets an error Result and changes nothing but the applied
// index (and time, if the envelope decoded). It returns the events the
// server pushes to clients.
func (f *Machine) Apply(index uint64, data []byte) (Result, []Event) {
	if index <= f.index {
		return refused(fmt.Errorf("%w: index %d, applied %d", ErrEntryApplied, index, f.index)), nil
	}
	f.index = index
	if len(data) == 0 {
		return Result{}, nil
	}
	cmd, err := f.codec.Decode(data)
	if err != nil {
		return refused(err), nil
	}
	f.now = max(f.now, cmd.Time)
	switch cmd.Type {
	case CmdNoop:
		return Result{}, nil
	case CmdOpenSession:
		return f.openSession(index, cmd)
	case CmdCloseSession:
		return f.endSession(index, cmd, sessions.Closed)
	case CmdExpireSession:
		return f.endSession(index, cmd, sessions.Expired)
	case CmdTick:
		return Result{}, appendEffects(nil, f.locks.Tick(index, f.now))
	case CmdGrant, CmdRevoke:
		return f.changePolicy(cmd), nil
	}
	if !cmd.Type.deduplicated() {
		panic(fmt.Sprintf("fsm: command type %v not dispatched", cmd.Type))
	}
	return f.applyWrite(index, cmd)
}

func (f *Machine) openSession(index uint64, cmd Command) (Result, []Event) {
	var body OpenSessionBody
	if err := f.codec.DecodeBody(cmd, &body); err != nil {
		return refused(err), nil
	}
	info, existing, err := f.sessions.Open(index, f.now, body.Key, time.Duration(body.TTL), ownerOf(cmd))
	if err != nil {
		return refused(err), nil
	}
	res := Result{Session: uint64(info.ID), TTL: int64(info.TTL), Duplicate: existing}
	if existing {
		return res, nil
	}
	return res, []Event{SessionOpened{Session: res.Session, TTL: res.TTL}}
}

// endSession closes or expires cmd.Session and releases its locks. Closing
// a closed session succeeds again (a retried close). Only the session's
// owner may close it; the leader's expiry needs no owner.
func (f *Machine) endSession(index uint64, cmd Command, reason sessions.EndReason) (Result, []Event) {
	id := sessions.ID(cmd.Session)
	err := error(nil)
	if reason == sessions.Closed {
		err = f.sessions.Authorize(id, ownerOf(cmd))
	}
	if err == nil {
		_, err = f.sessions.End(id, reason)
	}
	if err != nil {
		if reason == sessions.Closed && errors.Is(err, sessions.ErrSessionClosed) {
			return Result{Duplicate: true}, nil
		}
		return refused(err), nil
	}
	evs := []Event{SessionClosed{Session: cmd.Session}}
	lost := locks.LostClosed
	if reason == sessions.Expired {
		evs[0] = SessionExpired{Session: cmd.Session}
		lost = locks.LostExpired
	}
	return Result{}, appendEffects(evs, f.locks.ReleaseSession(index, f.now, cmd.Session, lost))
}

// applyWrite runs a deduplicated command of the session's owner (auth.go):
// a retry gets the stored Result and applies nothing (the same sequence
// number with another request is refused); a new command is applied and, if it succeeded, its
// Result is stored in the session. A refused command is not stored: it
// changed nothing, so its retry may be applied afresh.
func (f *Machine) applyWrite(index uint64, cmd Command) (Result, []Event) {
	name, run, err := f.decodeWrite(index, cmd)
	if err != nil {
		return refused(err), nil
	}
	id := sessions.ID(cmd.Session)
	if err := f.sessions.Authorize(id, ownerOf(cmd)); err != nil {
		return refused(err), nil
	}
	digest := digestOf(cmd)
	stored, dup, err := f.sessions.Begin(id, cmd.Seq, cmd.LowestUnanswered, digest)
	if err != nil {
		return refused(err), nil
	}
	if dup {
		var sr storedResult
		if err := f.codec.decode(stored, &sr); err != nil {
			panic(fmt.Sprintf("fsm: stored response of session %d seq %d does not decode: %v", id, cmd.Seq, err))
		}
		res := sr.result()
		res.Duplicate = true
		return res, nil
	}
	// Checked after the dedup window: a retry of an answered request gets
	// its answer even if the permission was revoked since.
	if err := f.authorize(cmd.Principal, PermLock, name); err != nil {
		return refused(err), nil
	}
	res, eff, err := run()
	if err != nil {
		return refused(err), nil
	}
	enc := f.codec.encodeResult(storedResultOf(res))
	f.sessions.Record(id, cmd.Seq, cmd.LowestUnanswered, digest, enc)
	return res, appendEffects(nil, eff)
}

// decodeWrite decodes a deduplicated command's body and returns the lock
// it names and the function that applies it.
func (f *Machine) decodeWrite(index uint64, cmd Command) (string, func() (Result, locks.Effects, error), error) {
	s := cmd.Session
	switch cmd.Type {
	case CmdAcquire:
		var b AcquireBody
		if err := f.codec.DecodeBody(cmd, &b); err != nil {
			return "", nil, err
		}
		return b.Name, func() (Result, locks.Effects, error) {
			r, eff, err := f.locks.Acquire(index, f.now, locks.AcquireRequest{Session: s, Name: b.Name, Mode: b.Mode,
				Value: b.Value, Wait: b.Wait, LockDelay: time.Duration(b.LockDelay)})
			res := Result{Granted: r.Granted, Token: r.Token, Queued: !r.Granted, Position: r.Position}
			if res.Queued {
				res.QueuedIndex = index
			}
			return res, eff, err
		}, nil
	case CmdRelease:
		var b ReleaseBody
		if err := f.codec.DecodeBody(cmd, &b); err != nil {
			return "", nil, err
		}
		return b.Name, func() (Result, locks.Effects, error) {
			eff, err := f.locks.Release(index, f.now, s, b.Name, b.Token)
			return Result{}, eff, err
		}, nil
	case CmdCancelWait:
		var b CancelWaitBody
		if err := f.codec.DecodeBody(cmd, &b); err != nil {
			return "", nil, err
		}
		return b.Name, func() (Result, locks.Effects, error) {
			eff, err := f.locks.CancelWait(index, f.now, s, b.Name)
			return Result{}, eff, err
		}, nil
	case CmdProclaim:
		var b ProclaimBody
		if err := f.codec.DecodeBody(cmd, &b); err != nil {
			return "", nil, err
		}
		return b.Name, func() (Result, locks.Effects, error) {
			eff, err := f.locks.Proclaim(index, s, b.Name, b.Token, b.Value)
			return Result{}, eff, err
		}, nil
	}
	panic(fmt.Sprintf("fsm: %v is not a deduplicated command", cmd.Type))
}
