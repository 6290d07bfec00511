package locks

import (
	"fmt"
	"time"
)

// Mode is how a lock is held.
type Mode uint8

const (
	// Exclusive: one holder, nobody else.
	Exclusive Mode = iota + 1
	// Shared: any number of shared holders together.
	Shared
)

func (m Mode) String() string {
	switch m {
	case Exclusive:
		return "exclusive"
	case Shared:
		return "shared"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

func (m Mode) valid() bool { return m == Exclusive || m == Shared }

// LostReason says why a holder lost a lock it did not release.
type LostReason uint8

const (
	// LostExpired: the holder's session expired.
	LostExpired LostReason = iota + 1
	// LostClosed: the holder's session was closed with the lock held.
	LostClosed
)

// Holder is one current holder of a lock.
type Holder struct {
	Session uint64
	Mode    Mode
	// Token is the fencing token: the index of the entry that granted it.
	Token uint64
	// Value is the holder's small value (an election candidate's identity).
	Value      []byte
	AcquiredAt int64
	// LockDelay is how long the lock stays ungrantable if this holder's
	// session expires while holding it.
	LockDelay time.Duration
}

// Waiter is one queued Acquire.
type Waiter struct {
	Session   uint64
	Mode      Mode
	Value     []byte
	LockDelay time.Duration
	QueuedAt  int64
	// QueuedIndex is the index of the entry that queued it.
	QueuedIndex uint64
}

// Info describes one lock for queries.
type Info struct {
	Name string
	// Holders in grant order; empty while the lock is free.
	Holders []Holder
	// Waiters in FIFO order.
	Waiters []Waiter
	// DelayUntil is the end of a lock-delay (unix nanoseconds), 0 if none.
	DelayUntil int64
	// Revision is the index of the entry that last changed the holders or a
	// holder's value (0 if unknown).
	Revision uint64
}

// AcquireRequest is one Acquire.
type AcquireRequest struct {
	Session uint64
	Name    string
	Mode    Mode
	Value   []byte
	// Wait queues the request if it cannot be granted at once; otherwise it
	// fails with ErrLockHeld.
	Wait bool
	// LockDelay in [0, Config.MaxLockDelay].
	LockDelay time.Duration
}

// AcquireResult says what an Acquire did.
type AcquireResult struct {
	// Granted with Token, or queued at Position (1 = head).
	Granted  bool
	Token    uint64
	Position int
}

// Grant tells a queued waiter it now holds the lock: one per grant, for the
// server to push exactly one wake-up.
type Grant struct {
	Session uint64
	Name    string
	Mode    Mode
	Token   uint64
}

// Lost tells a session it no longer holds a lock it did not release.
type Lost struct {
	Session uint64
	Name    string
	Token   uint64
	Reason  LostReason
}

// Change says a lock's holders or values changed: for observers and
// elections. Holders is the new set (empty: free).
type Change struct {
	Name     string
	Revision uint64
	Holders  []Holder
}

// Effects are what one command did beyond its own answer, in a
// deterministic order (by lock name, then queue order).
type Effects struct {
	Grants  []Grant
	Lost    []Lost
	Changes []Change
}
