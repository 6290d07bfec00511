package client

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// backoff computes exponential delays with full jitter: attempt n waits a
// uniform random time in [0, min(max, base·2ⁿ)], at least base/2. One
// backoff is shared by a Client; its random source is seeded per Client.
type backoff struct {
	base, max time.Duration

	mu  sync.Mutex
	rnd *rand.Rand
}

func newBackoff(base, max time.Duration, seed uint64) *backoff {
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return &backoff{base: base, max: max, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// delay returns the wait before attempt round n (0-based).
func (b *backoff) delay(n int) time.Duration {
	ceil := b.base
	for i := 0; i < n && ceil < b.max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, b.max)
	b.mu.Lock()
	d := time.Duration(b.rnd.Int64N(int64(ceil) + 1))
	b.mu.Unlock()
	return max(d, b.base/2)
}

// sleep waits delay(n) or until ctx or stop end, whichever is first; it
// returns ctx's error if ctx ended, errClientClosed if stop did.
func (b *backoff) sleep(ctx context.Context, n int, stop <-chan struct{}) error {
	t := time.NewTimer(b.delay(n))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}
