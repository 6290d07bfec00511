package sessions

import (
	"fmt"
	"time"
)

// Config bounds the session table. Every replica must use the same Config:
// it shapes the outcome of apply (TTL clamping, the dedup window bound).
type Config struct {
	// MinTTL is the shortest TTL a session gets; shorter requests are raised
	// to it.
	MinTTL time.Duration
	// MaxTTL is the longest TTL a session gets; longer requests are lowered
	// to it.
	MaxTTL time.Duration
	// DefaultTTL is the TTL of a session opened with a TTL of zero or less.
	// It lies within [MinTTL, MaxTTL].
	DefaultTTL time.Duration
	// MaxResponses bounds the responses a session keeps for requests the
	// client has not yet acknowledged (its lowest-unanswered mark). A new
	// request beyond the bound is refused with ErrTooManyResponses and not
	// applied; the client must let its mark catch up first. This bounds the
	// memory and snapshot size of one misbehaving client.
	MaxResponses int
	// MaxKeyLen bounds the length in bytes of an open's idempotency key.
	MaxKeyLen int
	// MaxTombstones bounds how many ended sessions the table remembers so
	// that a request on one gets ErrSessionExpired or ErrSessionClosed rather
	// than ErrUnknownSession. The oldest are forgotten first.
	MaxTombstones int
}

// DefaultConfig returns TTLs from 1 s to 5 min (10 s by default), 1024
// unacknowledged responses per session, 128-byte keys and 4096 tombstones.
func DefaultConfig() Config {
	return Config{
		MinTTL:        time.Second,
		MaxTTL:        5 * time.Minute,
		DefaultTTL:    10 * time.Second,
		MaxResponses:  1024,
		MaxKeyLen:     128,
		MaxTombstones: 4096,
	}
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	switch {
	case c.MinTTL <= 0:
		return fmt.Errorf("%w: MinTTL %v must be positive", ErrInvalidConfig, c.MinTTL)
	case c.MaxTTL < c.MinTTL:
		return fmt.Errorf("%w: MaxTTL %v below MinTTL %v", ErrInvalidConfig, c.MaxTTL, c.MinTTL)
	case c.DefaultTTL < c.MinTTL || c.DefaultTTL > c.MaxTTL:
		return fmt.Errorf("%w: DefaultTTL %v outside [%v, %v]", ErrInvalidConfig, c.DefaultTTL, c.MinTTL, c.MaxTTL)
	case c.MaxResponses < 1:
		return fmt.Errorf("%w: MaxResponses %d must be at least 1", ErrInvalidConfig, c.MaxResponses)
	case c.MaxKeyLen < 1:
		return fmt.Errorf("%w: MaxKeyLen %d must be at least 1", ErrInvalidConfig, c.MaxKeyLen)
	case c.MaxTombstones < 0:
		return fmt.Errorf("%w: MaxTombstones %d is negative", ErrInvalidConfig, c.MaxTombstones)
	}
	return nil
}

// clampTTL applies the TTL policy: zero or less means DefaultTTL, and the
// result lies within [MinTTL, MaxTTL].
func (c Config) clampTTL(ttl time.Duration) time.Duration {
	switch {
	case ttl <= 0:
		return c.DefaultTTL
	case ttl < c.MinTTL:
		return c.MinTTL
	case ttl > c.MaxTTL:
		return c.MaxTTL
	}
	return ttl
}
