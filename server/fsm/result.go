package fsm

import "github.com/lockd/lockd/locks"

// Result is a command's answer to its proposer. A deduplicated command's
// Result (Duplicate aside) is stored in its session and returned unchanged
// to every retry.
type Result struct {
	// Err is why the command was refused, nil if it was applied: it
	// matches ErrBadCommand, ErrEntryApplied or a sentinel of package
	// sessions or locks. A refused command changed nothing but the applied
	// index and time.
	Err error
	// Session and TTL (nanoseconds) answer CmdOpenSession.
	Session uint64
	TTL     int64
	// Granted with Token, or Queued at Position (1 = head), answer
	// CmdAcquire.
	Granted  bool
	Token    uint64
	Queued   bool
	Position int
	// QueuedIndex is the index of the entry that queued the request: the
	// grant that ends the wait has a higher token.
	QueuedIndex uint64
	// Duplicate: the answer was already given once (a deduplicated retry,
	// an open with a known key, a repeated close); nothing was applied now.
	Duplicate bool
}

// refused returns the Result of a refused command.
func refused(err error) Result { return Result{Err: err} }

// storedResult is a Result as a session's response window keeps it (so
// as snapshots hold it): go-msgpack's map of these fields, written by
// hand in appendStoredResult. Only applied commands' Results are stored,
// so Code and Message, once a refusal's code and text, are always zero;
// they remain for the layout's sake.
type storedResult struct {
	Code        uint32
	Message     string
	Session     uint64
	TTL         int64
	Granted     bool
	Token       uint64
	Queued      bool
	Position    int
	QueuedIndex uint64
	Duplicate   bool
}

// storedResultOf returns the stored form of an applied command's Result.
func storedResultOf(r Result) *storedResult {
	return &storedResult{Session: r.Session, TTL: r.TTL, Granted: r.Granted, Token: r.Token, Queued: r.Queued,
		Position: r.Position, QueuedIndex: r.QueuedIndex, Duplicate: r.Duplicate}
}

// result returns the Result a stored one answers.
func (s *storedResult) result() Result {
	return Result{Session: s.Session, TTL: s.TTL, Granted: s.Granted, Token: s.Token, Queued: s.Queued,
		Position: s.Position, QueuedIndex: s.QueuedIndex, Duplicate: s.Duplicate}
}

// Event is something the server acts on after an entry is applied: one of
// SessionOpened, SessionClosed, SessionExpired (for the leader's deadline
// tracking and for clients), Granted, Lost, HolderChanged (pushed to
// clients). An entry's events come in a deterministic order: the session
// event first, then Lost, Granted and HolderChanged, each by lock name.
type Event interface{ isEvent() }

// SessionOpened: a new session exists (not sent for a deduplicated open).
// The leader starts its deadline at now + TTL. Every applied open yields
// one, so a new leader that starts from SessionDeadlines and then applies
// entries of the previous term misses no session.
type SessionOpened struct {
	Session uint64
	TTL     int64
}

// SessionClosed: the session was closed by its client; the leader drops
// its deadline.
type SessionClosed struct {
	Session uint64
}

// Granted: a queued Acquire now holds the lock. One per grant: push one
// wake-up to Session. (An Acquire granted at once is answered by its
// Result instead.)
type Granted struct {
	Session uint64
	Name    string
	Mode    locks.Mode
	Token   uint64
}

// Lost: Session no longer holds the lock with Token, because the session
// expired or was closed.
type Lost struct {
	Session uint64
	Name    string
	Token   uint64
	Reason  locks.LostReason
}

// SessionExpired: the session ended by expiry.
type SessionExpired struct {
	Session uint64
}

// HolderChanged: the lock's holders or a holder's value changed at
// Revision (the entry's index); Holders is the new set, empty when free.
// Observers (elections) that reconnect compare revisions to learn whether
// they missed a change.
type HolderChanged struct {
	Name     string
	Revision uint64
	Holders  []locks.Holder
}

func (SessionOpened) isEvent()  {}
func (SessionClosed) isEvent()  {}
func (Granted) isEvent()        {}
func (Lost) isEvent()           {}
func (SessionExpired) isEvent() {}
func (HolderChanged) isEvent()  {}

// appendEffects converts the lock table's effects into events.
func appendEffects(evs []Event, eff locks.Effects) []Event {
	for _, l := range eff.Lost {
		evs = append(evs, Lost(l))
	}
	for _, g := range eff.Grants {
		evs = append(evs, Granted{Session: g.Session, Name: g.Name, Mode: g.Mode, Token: g.Token})
	}
	for _, c := range eff.Changes {
		evs = append(evs, HolderChanged(c))
	}
	return evs
}
