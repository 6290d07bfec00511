package server

import (
	"strings"

	"github.com/lockd/lockd/locks"
)

// Result is a command's answer to its proposer. A deduplicated command's
// Result (Duplicate aside) is stored in its session and returned unchanged
// to every retry.
type Result struct {
	// Code is CodeOK or the error's code; Message is the error text.
	Code    Code
	Message string
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

// Err returns the result's error (nil if CodeOK), matching its sentinel
// with errors.Is.
func (r Result) Err() error { return ErrorForCode(r.Code, r.Message) }

// detail returns the result's error message without the text of its
// code's sentinel, which the code already names: the client's error for
// the code begins with its own sentinel ("lockd: invalid lock delay"), so
// a message that repeats the server's ("locks: invalid lock delay: 1m1s
// not in [0, 1m0s]") would say it twice. It is "" when the message is the
// sentinel alone, and the message unchanged when it does not begin with
// the sentinel (an unknown code, a Result stored in another form).
func (r Result) detail() string {
	for _, e := range codeTable() {
		if e.code != r.Code {
			continue
		}
		s := e.err.Error()
		if r.Message == s {
			return ""
		}
		return strings.TrimPrefix(r.Message, s+": ")
	}
	return r.Message
}

// errResult returns the Result of a refused command.
func errResult(err error) Result {
	c, ok := CodeOf(err)
	if !ok {
		// Every error the FSM produces has a code: a missing one is a bug.
		panic("server: FSM error without a code: " + err.Error())
	}
	return Result{Code: c, Message: err.Error()}
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
