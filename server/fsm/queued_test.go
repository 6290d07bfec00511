package fsm

import (
	"testing"

	"github.com/lockd/lockd/locks"
)

// A queued Acquire's result names the entry that queued it, and the grant
// that later ends the wait carries a higher token; a retry of the request
// returns the same QueuedIndex. The SDK relies on this to ignore late
// pushes of earlier grants.
func TestQueuedAcquireNamesItsEntryAndTheGrantIsAboveIt(t *testing.T) {
	h := newFSMHarness(t)
	a, b := h.open("a", 0), h.open("b", 0)
	tokenA := h.hold(a, "l", locks.Exclusive)
	res, _ := h.acquire(b, "l", locks.Exclusive, true, 0)
	h.mustOK(res)
	if !res.Queued || res.QueuedIndex == 0 {
		t.Fatalf("queued acquire result %+v: want Queued with its entry index", res)
	}
	if res.QueuedIndex <= tokenA {
		t.Fatalf("queued at %d, not after the holder's grant at %d", res.QueuedIndex, tokenA)
	}
	_, evs := h.release(a, "l", tokenA)
	var granted *Granted
	for _, e := range evs {
		if g, ok := e.(Granted); ok && g.Session == b {
			granted = &g
		}
	}
	if granted == nil {
		t.Fatalf("release did not grant the waiter: events %+v", evs)
	}
	if granted.Token <= res.QueuedIndex {
		t.Fatalf("grant token %d not above the queuing entry %d", granted.Token, res.QueuedIndex)
	}
}
