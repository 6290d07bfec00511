package locks

import (
	"fmt"
	"iter"
)

// waitQueue is one lock's FIFO queue of waiters: a doubly linked list in
// queue order with an index from session to its entry, so that queuing at
// the tail, finding a session's wait, removing it from anywhere in the
// queue and granting the head all take O(1). The index is derived from the
// list (a snapshot holds only the list) and is only looked up, never
// iterated, so apply cannot depend on map order. The zero value is empty.
type waitQueue struct {
	head, tail *waitNode
	bySession  map[uint64]*waitNode
}

type waitNode struct {
	w          Waiter
	prev, next *waitNode
}

// Len returns the number of waiters.
func (q *waitQueue) Len() int { return len(q.bySession) }

// has reports whether session waits in q.
func (q *waitQueue) has(session uint64) bool {
	_, ok := q.bySession[session]
	return ok
}

// front returns the head waiter; ok is false if q is empty.
func (q *waitQueue) front() (w Waiter, ok bool) {
	if q.head == nil {
		return Waiter{}, false
	}
	return q.head.w, true
}

// push queues w at the tail. It reports false, changing nothing, if
// w.Session already waits in q.
func (q *waitQueue) push(w Waiter) bool {
	if q.has(w.Session) {
		return false
	}
	if q.bySession == nil {
		q.bySession = make(map[uint64]*waitNode)
	}
	n := &waitNode{w: w, prev: q.tail}
	if q.tail == nil {
		q.head = n
	} else {
		q.tail.next = n
	}
	q.tail = n
	q.bySession[w.Session] = n
	return true
}

// remove takes session's wait out of q wherever it is.
func (q *waitQueue) remove(session uint64) (Waiter, bool) {
	n, ok := q.bySession[session]
	if !ok {
		return Waiter{}, false
	}
	if n.prev == nil {
		q.head = n.next
	} else {
		n.prev.next = n.next
	}
	if n.next == nil {
		q.tail = n.prev
	} else {
		n.next.prev = n.prev
	}
	delete(q.bySession, session)
	if len(q.bySession) == 0 {
		q.bySession = nil // let an emptied queue's index go
	}
	return n.w, true
}

// popFront removes and returns the head waiter; q must not be empty.
func (q *waitQueue) popFront() Waiter {
	w, _ := q.remove(q.head.w.Session)
	return w
}

// all yields the waiters in queue order. q must not change meanwhile.
func (q *waitQueue) all() iter.Seq[Waiter] {
	return func(yield func(Waiter) bool) {
		for n := q.head; n != nil; n = n.next {
			if !yield(n.w) {
				return
			}
		}
	}
}

// slice returns the waiters in queue order, nil if there are none.
func (q *waitQueue) slice() []Waiter {
	if q.Len() == 0 {
		return nil
	}
	out := make([]Waiter, 0, q.Len())
	for w := range q.all() {
		out = append(out, w)
	}
	return out
}

// check verifies that the list is well linked and that the index holds
// exactly the list's sessions, each pointing at its own entry.
func (q *waitQueue) check() error {
	count := 0
	var prev *waitNode
	for n := q.head; n != nil; n = n.next {
		if n.prev != prev {
			return fmt.Errorf("waiter %d of session %d: bad back link", count, n.w.Session)
		}
		if q.bySession[n.w.Session] != n {
			return fmt.Errorf("waiter %d of session %d: not indexed at its entry", count, n.w.Session)
		}
		prev = n
		count++
		if count > len(q.bySession) {
			return fmt.Errorf("queue longer than its index (%d)", len(q.bySession))
		}
	}
	if q.tail != prev {
		return fmt.Errorf("tail is not the last waiter")
	}
	if count != len(q.bySession) {
		return fmt.Errorf("queue of %d waiters, index of %d", count, len(q.bySession))
	}
	return nil
}
