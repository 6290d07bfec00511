package locks

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// queueSessions returns the sessions of q in queue order.
func queueSessions(q *waitQueue) []uint64 {
	var out []uint64
	for w := range q.all() {
		out = append(out, w.Session)
	}
	return out
}

// TestWaitQueueIndexAgreesWithQueueAfterRandomOps drives a queue and a
// plain slice (the old linear representation) with the same seeded random
// pushes, removals from anywhere and head pops, and checks after each that
// the queue's order, length, lookups and index agree with the slice.
func TestWaitQueueIndexAgreesWithQueueAfterRandomOps(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		var q waitQueue
		var model []uint64
		for step := range 2000 {
			s := uint64(1 + r.IntN(64))
			inModel := slices.Contains(model, s)
			switch k := r.IntN(10); {
			case k < 5:
				if ok := q.push(Waiter{Session: s, Mode: Exclusive, QueuedIndex: uint64(step)}); ok == inModel {
					t.Fatalf("seed %d step %d: push(%d) = %v with %d already queued: %v", seed, step, s, ok, s, inModel)
				}
				if !inModel {
					model = append(model, s)
				}
			case k < 8:
				w, ok := q.remove(s)
				if ok != inModel || (ok && w.Session != s) {
					t.Fatalf("seed %d step %d: remove(%d) = %+v %v, queued %v", seed, step, s, w, ok, inModel)
				}
				if i := slices.Index(model, s); i >= 0 {
					model = slices.Delete(model, i, i+1)
				}
			default:
				if len(model) == 0 {
					if _, ok := q.front(); ok {
						t.Fatalf("seed %d step %d: empty queue has a head", seed, step)
					}
					continue
				}
				if w := q.popFront(); w.Session != model[0] {
					t.Fatalf("seed %d step %d: popFront %d, want %d", seed, step, w.Session, model[0])
				}
				model = model[1:]
			}
			if err := q.check(); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if got := queueSessions(&q); !slices.Equal(got, model) || q.Len() != len(model) {
				t.Fatalf("seed %d step %d: queue %v (len %d), want %v", seed, step, got, q.Len(), model)
			}
			if q.has(s) != slices.Contains(model, s) {
				t.Fatalf("seed %d step %d: has(%d) = %v", seed, step, s, q.has(s))
			}
		}
	}
}

// The check function itself catches an index that disagrees with the
// queue (negative control for the test above and for lock.check).
func TestWaitQueueCheckCatchesBrokenIndex(t *testing.T) {
	fresh := func() *waitQueue {
		var q waitQueue
		for s := uint64(1); s <= 3; s++ {
			q.push(Waiter{Session: s, Mode: Exclusive})
		}
		if err := q.check(); err != nil {
			t.Fatal(err)
		}
		return &q
	}
	breaks := map[string]func(q *waitQueue){
		"entry missing from index": func(q *waitQueue) { delete(q.bySession, 2) },
		"extra index entry":        func(q *waitQueue) { q.bySession[9] = &waitNode{w: Waiter{Session: 9}} },
		"index at another entry":   func(q *waitQueue) { q.bySession[2] = q.head },
		"bad back link":            func(q *waitQueue) { q.tail.prev = q.head },
		"wrong tail":               func(q *waitQueue) { q.tail = q.head },
		"cycle":                    func(q *waitQueue) { q.tail.next = q.head },
	}
	for name, f := range breaks {
		q := fresh()
		f(q)
		if err := q.check(); err == nil {
			t.Errorf("%s: check found nothing", name)
		}
	}
}

func newLimitedHarness(t *testing.T, maxWaiters int) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxWaitersPerLock = maxWaiters
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, tb: tb, now: 1_000}
}

func TestWaitBeyondMaxWaitersPerLockIsRefusedAndChangesNothing(t *testing.T) {
	h := newLimitedHarness(t, 3)
	h.hold(1, "q", Exclusive)
	for s := uint64(2); s <= 4; s++ {
		h.wait(s, "q", Exclusive, 0)
	}
	before := h.snapshot()
	for _, m := range []Mode{Exclusive, Shared} {
		if _, _, err := h.acquire(5, "q", m, true, 0); !errors.Is(err, ErrTooManyWaiters) {
			t.Fatalf("fourth waiter (%v): %v, want ErrTooManyWaiters", m, err)
		}
	}
	// A try still gets ErrLockHeld, and a session already waiting still
	// gets ErrAlreadyWaiting: the limit is only about queuing one more.
	if _, _, err := h.acquire(5, "q", Exclusive, false, 0); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("try: %v, want ErrLockHeld", err)
	}
	if _, _, err := h.acquire(3, "q", Exclusive, true, 0); !errors.Is(err, ErrAlreadyWaiting) {
		t.Fatalf("retry of a waiter: %v, want ErrAlreadyWaiting", err)
	}
	h.unchanged(before, "refused waiter")
	if n, has := h.tb.SessionLockCount(5, "q"); n != 0 || has {
		t.Fatalf("refused session indexed on %d locks (q: %v)", n, has)
	}
	// The limit is per lock: other locks still queue.
	h.hold(1, "other", Exclusive)
	h.wait(5, "other", Exclusive, 0)
	// Once a waiter leaves, one more may queue, at the tail.
	if _, err := h.tb.CancelWait(h.next(), h.now, 3, "q"); err != nil {
		t.Fatal(err)
	}
	res, _, err := h.acquire(6, "q", Exclusive, true, 0)
	if err != nil || res.Position != 3 {
		t.Fatalf("after a cancel: %+v %v, want queued at 3", res, err)
	}
	if got := h.waiters("q"); !slices.Equal(got, []uint64{2, 4, 6}) {
		t.Fatalf("waiters %v", got)
	}
}

// Past the end of a lock-delay, the head run it lets through is granted by
// the same Acquire before it queues, so those waiters do not count.
func TestWaiterLimitCountsOnlyWaitersLeftAfterALapsedDelay(t *testing.T) {
	h := newLimitedHarness(t, 2)
	h.acquire(1, "d", Exclusive, false, time.Second)
	h.wait(2, "d", Shared, 0)
	h.wait(3, "d", Shared, 0)
	h.end(1, LostExpired) // delay until now+1s; 2 and 3 wait behind it
	if _, _, err := h.acquire(4, "d", Exclusive, true, 0); !errors.Is(err, ErrTooManyWaiters) {
		t.Fatalf("during the delay: %v, want ErrTooManyWaiters", err)
	}
	h.now += int64(time.Second)
	res, eff, err := h.acquire(4, "d", Exclusive, true, 0)
	if err != nil || res.Granted || res.Position != 1 || len(eff.Grants) != 2 {
		t.Fatalf("after the delay: %+v %+v %v, want 2 grants and queued at 1", res, eff, err)
	}
	if got := h.holders("d"); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("holders %v", got)
	}
}

// A snapshot taken with a higher limit restores its longer queue as it is;
// new waiters are refused until it is below the limit again.
func TestRestoreKeepsQueueLongerThanLimit(t *testing.T) {
	h := newHarness(t)
	h.hold(1, "q", Exclusive)
	for s := uint64(2); s <= 5; s++ {
		h.wait(s, "q", Exclusive, 0)
	}
	snap := h.snapshot()
	small := newLimitedHarness(t, 2)
	if err := small.tb.Restore(snap); err != nil {
		t.Fatal(err)
	}
	small.index = h.index
	small.checkInvariants()
	if !bytes.Equal(small.snapshot(), snap) {
		t.Fatal("restored table encodes differently")
	}
	if _, _, err := small.acquire(9, "q", Exclusive, true, 0); !errors.Is(err, ErrTooManyWaiters) {
		t.Fatalf("wait: %v, want ErrTooManyWaiters", err)
	}
	if _, err := small.tb.CancelWait(small.next(), small.now, 4, "q"); err != nil {
		t.Fatal(err)
	}
	if got := small.waiters("q"); !slices.Equal(got, []uint64{2, 3, 5}) {
		t.Fatalf("waiters %v", got)
	}
}

// The snapshot still holds each queue as a plain list in FIFO order, as
// before the index: a snapshot built by hand restores and encodes back to
// the same bytes, and the restored index finds every waiter.
func TestSnapshotLayoutOfQueuesIsUnchanged(t *testing.T) {
	st := snapTable{Version: snapshotVersion, Locks: []snapLock{{
		Name:     "q",
		Holders:  []Holder{{Session: 1, Mode: Exclusive, Token: 3, Value: []byte("h"), AcquiredAt: 5}},
		Waiters:  []Waiter{{Session: 7, Mode: Shared, QueuedAt: 6, QueuedIndex: 4}, {Session: 2, Mode: Exclusive, Value: []byte("w"), LockDelay: time.Second, QueuedAt: 7, QueuedIndex: 5}},
		Revision: 3,
	}}}
	var data []byte
	if err := codec.NewEncoderBytes(&data, newHandle()).Encode(&st); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	if err := h.tb.Restore(data); err != nil {
		t.Fatal(err)
	}
	h.index = 5
	h.checkInvariants()
	if !bytes.Equal(h.snapshot(), data) {
		t.Fatal("snapshot bytes changed on a round trip")
	}
	for _, s := range []uint64{7, 2} {
		if _, waiting := h.tb.locks["q"].role(s); !waiting {
			t.Fatalf("session %d not found waiting after restore", s)
		}
	}
	if _, err := h.tb.CancelWait(h.next(), h.now, 2, "q"); err != nil {
		t.Fatal(err)
	}
	if got := h.waiters("q"); !slices.Equal(got, []uint64{7}) {
		t.Fatalf("waiters %v", got)
	}
}

// TestRandomCommandsKeepInvariantsWithWaiterLimit runs the random command
// test with a limit of two waiters per lock, so that it is often reached.
func TestRandomCommandsKeepInvariantsWithWaiterLimit(t *testing.T) {
	refused := 0
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { refused += runRandomWith(t, seed, 400, 2) })
	}
	if refused == 0 {
		t.Fatal("no Acquire was refused for the waiter limit: the test does not reach it")
	}
}
