package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// stampClock chooses the time stamped on each command this node proposes
// while it leads: the replicated state's time (fsm.Machine.Time), which
// every lock-delay and session open is counted in.
//
// The rule: replicated time advances by the real time that elapses on the
// leader's monotonic clock, and never from the wall clock.
//
//	stamp = max(applied, base + (Monotonic() - anchor))
//
// where applied is the state machine's time after the last applied entry,
// and (base, anchor) is a replicated time and the monotonic reading at
// which it was current:
//
//	event                               (base, anchor) becomes
//	this node takes office (leader)     (applied, Monotonic()), or
//	                                    (Now().UnixNano(), Monotonic()) if applied is 0:
//	                                    a fresh cluster, no replicated time yet (provisional)
//	its read index confirms leadership  (applied, Monotonic()) if provisional and applied
//	                                    is no longer 0: see below
//	a stamp finds applied ahead         (applied, Monotonic()): an earlier
//	                                    leader's entries applied after we took office
//	this node leaves office             unused: stamps are applied (see below)
//
// That is the rule stamp = max(applied, last + elapsed since last), with
// the last stamp's reading kept as (base, anchor). So stamps never go
// backwards (both terms only grow; the provisional start below is the one
// exception, and the state machine keeps the maximum anyway) and never
// leap: a step of the wall clock, on the leader or on a new leader whose
// wall clock is an hour off, changes nothing. The state machine's time
// runs at the rate of real time while a leader is in office; it does not
// run between the last entry of one leader and the election of the next,
// or while the cluster is down. It is therefore not a wall-clock reading:
// it starts at the first leader's wall clock and falls behind wall time
// by every such gap. Lock-delays thus last at least their real duration.
//
// A node can take office with nothing applied although earlier leaders
// stamped commands: a restarted node whose log has no snapshot and whose
// stored commit index covers no command. Its wall clock is then only a
// guess; once its read index confirms leadership (every entry of earlier
// terms applied), it continues from the applied time instead. A stamp it
// proposed before that, from a wall clock ahead, may have moved
// replicated time forward once (the state machine keeps the maximum):
// the one case where a wall clock still counts.
//
// Between the node loop publishing leadership and the LeaderChanged hook
// calling takeOffice, and after leaving office, a stamp is applied (or
// the wall clock if 0): never ahead of replicated time.
type stampClock struct {
	clock   Clock
	applied *atomic.Int64 // the state machine's time after the last apply

	mu          sync.Mutex
	leading     bool
	office      uint64        // the lease table's generation when this node took office
	provisional bool          // base is the wall clock: nothing was applied at takeOffice
	base        int64         // replicated time (unix ns scale) at anchor
	anchor      time.Duration // Clock.Monotonic() when base was current
}

func newStampClock(clock Clock, applied *atomic.Int64) *stampClock {
	return &stampClock{clock: clock, applied: applied}
}

// takeOffice starts stamping from the replicated time applied so far. It
// runs on the node loop when this node becomes leader, so every entry the
// loop applied before is counted; office identifies the term led (the
// lease table's generation).
func (c *stampClock) takeOffice(office uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leading, c.office = true, office
	c.base = c.applied.Load()
	c.provisional = c.base == 0
	if c.provisional {
		c.base = c.clock.Now().UnixNano()
	}
	c.anchor = c.clock.Monotonic()
}

// confirmed runs once this node's read index confirmed it leads in
// office, so every entry of earlier terms is applied: a provisional start
// from the wall clock gives way to the applied time, if there is one now.
func (c *stampClock) confirmed(office uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.leading || c.office != office || !c.provisional {
		return
	}
	c.provisional = false
	if applied := c.applied.Load(); applied != 0 {
		c.base, c.anchor = applied, c.clock.Monotonic()
	}
}

// leaveOffice stops the clock; stamps are the applied time until the
// next takeOffice.
func (c *stampClock) leaveOffice() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leading = false
}

// stamp returns the time for a command proposed now.
func (c *stampClock) stamp() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, mono, behind := c.at()
	if behind {
		c.base, c.anchor, c.provisional = t, mono, false
	}
	return t
}

// now returns the replicated time a command proposed now would get: what
// the leader compares lock-delay deadlines with.
func (c *stampClock) now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, _, _ := c.at()
	return t
}

// at computes the stamp at this moment, the monotonic reading it was
// taken at, and whether applied overtook the running clock (which then
// continues from it). Caller holds mu.
func (c *stampClock) at() (t int64, mono time.Duration, behind bool) {
	applied := c.applied.Load()
	if !c.leading {
		if applied == 0 {
			return c.clock.Now().UnixNano(), 0, false
		}
		return applied, 0, false
	}
	mono = c.clock.Monotonic()
	t = addNanos(c.base, int64(max(mono-c.anchor, 0)))
	if applied > t {
		return applied, mono, true
	}
	return t, mono, false
}
