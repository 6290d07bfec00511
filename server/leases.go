package server

import (
	"container/heap"
	"sync"
	"time"

	"github.com/lockd/lockd/sessions"
)

// Leader-side session leases (docs/ARCHITECTURE.md, "Sessions, leases
// and deduplication"): keep-alives are not logged; the leader keeps every
// open session's deadline in memory and proposes CmdExpireSession when
// one passes. A new leader first confirms its leadership with a ReadIndex
// (so its FSM holds every session opened before its term), then gives
// every session a fresh deadline of now+TTL.
//
// Deadlines are readings of the node's monotonic clock
// (Clock.Monotonic): "now" below is that reading, never the wall clock,
// so a step of the wall clock neither expires a session early nor keeps
// one alive late. A session expires once TTL of real time has passed on
// the leader since its last renewal (or since the leader's read-index
// confirmation), at the first scan after.
//
//	state     event                      next      effect
//	inactive  became leader, read index  active    deadlines = now+TTL for all sessions
//	active    session opened (apply)     active    deadline = now+TTL
//	active    KeepAlive                  active    deadline = now+TTL (unless expiring)
//	active    deadline passed (scan)     active    session moves to expiring; propose expiry
//	active    expiry applied             active    session forgotten
//	active    expiry proposal failed     active    retried at the next scan after a pause
//	any       leadership changed         inactive  everything forgotten

// lease is one session's deadline in the heap.
type lease struct {
	id  uint64
	at  time.Duration // Clock.Monotonic reading
	pos int           // index in leaseHeap
}

type leaseHeap []*lease

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}
func (h *leaseHeap) Push(x any) {
	l := x.(*lease)
	l.pos = len(*h)
	*h = append(*h, l)
}
func (h *leaseHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return l
}

// leaseTable holds the deadlines while this node leads. Renewing is
// O(log n) (heap.Fix); a scan costs O(1) when nothing is due.
type leaseTable struct {
	mu     sync.Mutex
	gen    uint64 // bumped at every leadership change
	active bool
	ready  chan struct{} // closed when active for gen
	byID   map[uint64]*lease
	heap   leaseHeap
	// expiring: deadline passed, expiry proposed, not yet applied.
	// Invariant: no ID is both in byID and in expiring.
	expiring map[uint64]struct{}
}

func newLeaseTable() *leaseTable {
	return &leaseTable{ready: make(chan struct{}), byID: map[uint64]*lease{}, expiring: map[uint64]struct{}{}}
}

// deactivate forgets everything and returns the new generation.
func (t *leaseTable) deactivate() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if t.active {
		t.ready = make(chan struct{})
	}
	t.active = false
	t.byID = map[uint64]*lease{}
	t.heap = nil
	t.expiring = map[uint64]struct{}{}
	return t.gen
}

// activate installs the new leader's deadlines if gen is still current.
func (t *leaseTable) activate(gen uint64, ds []sessions.Deadline) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen || t.active {
		return false
	}
	t.heap = make(leaseHeap, 0, len(ds))
	for _, d := range ds {
		l := &lease{id: uint64(d.ID), at: time.Duration(d.At), pos: len(t.heap)}
		t.heap = append(t.heap, l)
		t.byID[l.id] = l
	}
	heap.Init(&t.heap)
	t.active = true
	close(t.ready)
	return true
}

// readyCh returns a channel closed once the table is active, and the
// generation it belongs to.
func (t *leaseTable) readyCh() (<-chan struct{}, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready, t.gen
}

func (t *leaseTable) isActive() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.active
}

func (t *leaseTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// set gives id the deadline at. Caller holds mu.
func (t *leaseTable) set(id uint64, at time.Duration) {
	if l, ok := t.byID[id]; ok {
		l.at = at
		heap.Fix(&t.heap, l.pos)
		return
	}
	l := &lease{id: id, at: at}
	heap.Push(&t.heap, l)
	t.byID[id] = l
}

// opened records a session opened while active; now is a monotonic
// reading.
func (t *leaseTable) opened(id uint64, ttl, now time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active {
		return
	}
	if _, ok := t.expiring[id]; ok {
		return
	}
	t.set(id, deadline(now, ttl))
}

// renew moves the deadlines of ids to ats[i] (0: not open); ok[i] reports
// false for such a session or one whose expiry is already under way.
// current is false if the table is no longer active for gen: nothing was
// renewed.
func (t *leaseTable) renew(gen uint64, ids []uint64, ats []time.Duration) (ok []bool, current bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.active || gen != t.gen {
		return nil, false
	}
	ok = make([]bool, len(ids))
	for i, id := range ids {
		if ats[i] == 0 {
			continue
		}
		if _, exp := t.expiring[id]; exp {
			continue
		}
		t.set(id, ats[i])
		ok[i] = true
	}
	return ok, true
}

// remove forgets a session (expired or closed).
func (t *leaseTable) remove(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.expiring, id)
	if l, ok := t.byID[id]; ok {
		heap.Remove(&t.heap, l.pos)
		delete(t.byID, id)
	}
}

// due pops at most limit sessions whose deadline is at or before now (a
// monotonic reading) and marks them expiring.
func (t *leaseTable) due(now time.Duration, limit int) []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []uint64
	for t.active && len(out) < limit && len(t.heap) > 0 && t.heap[0].at <= now {
		l := heap.Pop(&t.heap).(*lease)
		delete(t.byID, l.id)
		t.expiring[l.id] = struct{}{}
		out = append(out, l.id)
	}
	return out
}

// retry puts an expiring session back with deadline at (its expiry
// proposal failed but this node still leads).
func (t *leaseTable) retry(gen, id uint64, at time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen || !t.active {
		return
	}
	if _, ok := t.expiring[id]; !ok {
		return
	}
	delete(t.expiring, id)
	t.set(id, at)
}

func (t *leaseTable) generation() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gen
}

// deadline is now + ttl, saturating.
func deadline(now, ttl time.Duration) time.Duration {
	return time.Duration(addNanos(int64(now), int64(ttl)))
}

// addNanos is now + d, saturating at the largest int64.
func addNanos(now, d int64) int64 {
	const maxInt64 = 1<<63 - 1
	if d > 0 && now > maxInt64-d {
		return maxInt64
	}
	return now + d
}
