package server

import (
	"testing"
	"time"
)

// FuncClock over a function without monotonic readings counts Monotonic
// from its first reading, moving with the function; over time.Now it is
// the system clock, whose time.Now readings carry the monotonic clock.
func TestFuncClockCountsMonotonicFromItsFirstReading(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := FuncClock(func() time.Time { return now })
	if m := c.Monotonic(); m != 0 {
		t.Fatalf("monotonic reading at the origin %v, want 0", m)
	}
	now = now.Add(3 * time.Second)
	if m, w := c.Monotonic(), c.Now(); m != 3*time.Second || !w.Equal(now) {
		t.Fatalf("after 3 s: monotonic %v, wall %v", m, w)
	}
	sys := SystemClock()
	a := sys.Monotonic()
	if b := sys.Monotonic(); a < 0 || b < a {
		t.Fatalf("system clock's monotonic readings %v then %v", a, b)
	}
	if _, ok := sys.(funcClock); !ok || !hasMonotonic(sys.(funcClock).origin) {
		t.Fatal("the system clock's origin carries no monotonic reading")
	}
}

// hasMonotonic reports whether t carries a monotonic clock reading:
// Round(0) strips it, and == compares it.
func hasMonotonic(t time.Time) bool { return t != t.Round(0) }
