package locks

import "errors"

// Errors returned to callers, matched with errors.Is. A command that gets
// one of them changed nothing.
var (
	// ErrInvalidName: the lock name is empty, too long, not UTF-8, or
	// contains NUL.
	ErrInvalidName = errors.New("locks: invalid lock name")
	// ErrValueTooLarge: the holder value is longer than Config.MaxValueLen.
	ErrValueTooLarge = errors.New("locks: value too large")
	// ErrInvalidMode: the mode is neither Exclusive nor Shared.
	ErrInvalidMode = errors.New("locks: invalid mode")
	// ErrInvalidLockDelay: the lock-delay is negative or above
	// Config.MaxLockDelay.
	ErrInvalidLockDelay = errors.New("locks: invalid lock delay")
	// ErrLockHeld: a try-acquire could not be granted at once (held in a
	// conflicting mode, waiters queued ahead, or in lock-delay).
	ErrLockHeld = errors.New("locks: lock held")
	// ErrNotHolder: the session does not hold the lock with that token.
	ErrNotHolder = errors.New("locks: not the holder")
	// ErrNotWaiting: the session is not waiting for the lock.
	ErrNotWaiting = errors.New("locks: not waiting")
	// ErrAlreadyHolder: the session already holds the lock (there is no
	// re-entrancy and no upgrade from shared to exclusive).
	ErrAlreadyHolder = errors.New("locks: already holder")
	// ErrAlreadyWaiting: the session already waits for the lock.
	ErrAlreadyWaiting = errors.New("locks: already waiting")
	// ErrTooManyWaiters: a waiting Acquire would queue beyond
	// Config.MaxWaitersPerLock.
	ErrTooManyWaiters = errors.New("locks: too many waiters")
	// ErrInvalidConfig: a Config field is out of range.
	ErrInvalidConfig = errors.New("locks: invalid config")
	// ErrCorruptSnapshot: snapshot bytes do not decode or break an invariant.
	ErrCorruptSnapshot = errors.New("locks: corrupt snapshot")
)
