package locks

import (
	"fmt"
	"time"
)

// DefaultLockDelay is the lock-delay the client SDK should ask for when the
// application does not choose one (Consul's default). The table itself has
// no default: every Acquire states its delay, so zero always means none.
const DefaultLockDelay = 15 * time.Second

// Config bounds the lock table. Every replica must use the same Config: it
// decides which commands are refused.
type Config struct {
	// MaxNameLen bounds a lock name's length in bytes.
	MaxNameLen int
	// MaxValueLen bounds a holder's value in bytes.
	MaxValueLen int
	// MaxLockDelay bounds the lock-delay an Acquire may ask for.
	MaxLockDelay time.Duration
	// MaxFreed bounds how many freed locks' revisions the table remembers,
	// so that an observer of a lock that was freed and forgotten still sees
	// its revision move; the oldest are forgotten first.
	MaxFreed int
	// MaxWaitersPerLock bounds how many Acquires may wait for one lock; a
	// waiting Acquire beyond it gets ErrTooManyWaiters. A snapshot restores
	// longer queues as they are (the limit may have been lowered).
	MaxWaitersPerLock int
}

// DefaultConfig returns 512-byte names, 4 KiB values, lock-delays up to
// 60 s, 4096 remembered freed locks and 10,000 waiters per lock.
func DefaultConfig() Config {
	return Config{
		MaxNameLen:        512,
		MaxValueLen:       4096,
		MaxLockDelay:      60 * time.Second,
		MaxFreed:          4096,
		MaxWaitersPerLock: 10_000,
	}
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	switch {
	case c.MaxNameLen < 1:
		return fmt.Errorf("%w: MaxNameLen %d must be at least 1", ErrInvalidConfig, c.MaxNameLen)
	case c.MaxValueLen < 0:
		return fmt.Errorf("%w: MaxValueLen %d is negative", ErrInvalidConfig, c.MaxValueLen)
	case c.MaxLockDelay < 0:
		return fmt.Errorf("%w: MaxLockDelay %v is negative", ErrInvalidConfig, c.MaxLockDelay)
	case c.MaxFreed < 0:
		return fmt.Errorf("%w: MaxFreed %d is negative", ErrInvalidConfig, c.MaxFreed)
	case c.MaxWaitersPerLock < 1:
		return fmt.Errorf("%w: MaxWaitersPerLock %d must be at least 1", ErrInvalidConfig, c.MaxWaitersPerLock)
	}
	return nil
}
