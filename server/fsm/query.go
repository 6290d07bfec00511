package fsm

import (
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// Read-only queries of the replicated state. They reflect the entries
// applied so far; the server makes them linearizable with ReadIndex.

// SessionCount returns the number of open sessions and whether one of
// them has idempotency key key.
func (f *Machine) SessionCount(key string) (n int, hasKey bool) {
	return f.sessions.Len(), key != "" && f.sessions.HasKey(key)
}

// SessionLockCount returns how many locks session holds or waits for, and
// whether name is one of them.
func (f *Machine) SessionLockCount(session uint64, name string) (n int, has bool) {
	return f.locks.SessionLockCount(session, name)
}

// AppliedIndex returns the index of the last applied entry.
func (f *Machine) AppliedIndex() uint64 { return f.index }

// Time returns the state machine's time: the latest command time applied.
func (f *Machine) Time() int64 { return f.now }

// Session returns an open session.
func (f *Machine) Session(id uint64) (sessions.Info, bool) { return f.sessions.Get(sessions.ID(id)) }

// Sessions returns the open sessions by ID.
func (f *Machine) Sessions() []sessions.Info { return f.sessions.List() }

// SessionDeadlines gives a new leader every open session's deadline,
// counted afresh from now (its election time).
func (f *Machine) SessionDeadlines(now int64) []sessions.Deadline { return f.sessions.Deadlines(now) }

// ValidateName checks a lock name as an acquire would: an error wrapping
// locks.ErrInvalidName if it is empty, too long, not UTF-8 or holds a NUL.
func (f *Machine) ValidateName(name string) error { return f.locks.ValidateName(name) }

// Lock returns one lock (a free lock has no holders).
func (f *Machine) Lock(name string) locks.Info { return f.locks.Get(name) }

// Locks returns every held, awaited or delayed lock by name.
func (f *Machine) Locks() []locks.Info { return f.locks.List() }

// SessionLocks returns the locks a session holds or waits for, by name.
func (f *Machine) SessionLocks(id uint64) []locks.Info { return f.locks.SessionLocks(id) }

// CheckToken reports whether token is a current holder's fencing token.
func (f *Machine) CheckToken(name string, token uint64) bool { return f.locks.CheckToken(name, token) }

// NextLockDeadline returns when the leader should propose CmdTick: the
// earliest end of a pending lock-delay.
func (f *Machine) NextLockDeadline() (int64, bool) { return f.locks.NextDeadline() }

// ChangedSince answers an observer that last saw the lock at revision
// since: the lock now and whether it changed meanwhile.
func (f *Machine) ChangedSince(name string, since uint64) (locks.Info, bool) {
	return f.locks.ChangedSince(name, since)
}
