package consensus

import "fmt"

// inflights is the bounded window of MsgApp messages sent to one follower
// in replicate state and not yet acknowledged, each recorded as the last
// index it carried (Raft thesis §10.2.1). It is a ring buffer, in the
// manner of etcd-io/raft's tracker.Inflights.
type inflights struct {
	// buf is the ring; start is the slot of the oldest message and n the
	// number of slots in use, from start on, wrapping around.
	// Invariant: 0 <= start < len(buf) (or start == 0 when len(buf) == 0),
	// 0 <= n <= len(buf), and the n indexes from start strictly increase.
	buf   []uint64
	start int
	n     int
}

func newInflights(size int) *inflights { return &inflights{buf: make([]uint64, size)} }

// at is the i-th oldest index in the window, 0 <= i < n.
func (in *inflights) at(i int) uint64 { return in.buf[(in.start+i)%len(in.buf)] }

// count is the number of messages in flight.
func (in *inflights) count() int { return in.n }

// full reports whether the window admits no more messages.
func (in *inflights) full() bool { return in.n == len(in.buf) }

// add records a MsgApp whose last entry is index. It panics if the window
// is full or index is not above the last one added: the leader sends
// within the window, and each MsgApp goes past the one before.
func (in *inflights) add(index uint64) {
	if in.full() {
		panic(fmt.Sprintf("consensus: add %d to a full inflights window of %d", index, len(in.buf)))
	}
	if in.n > 0 {
		if last := in.at(in.n - 1); index <= last {
			panic(fmt.Sprintf("consensus: inflight index %d not above %d", index, last))
		}
	}
	in.buf[(in.start+in.n)%len(in.buf)] = index
	in.n++
}

// freeTo releases every message whose last index is <= to: the follower
// has acknowledged up to to.
func (in *inflights) freeTo(to uint64) {
	for in.n > 0 && in.buf[in.start] <= to {
		in.start = (in.start + 1) % len(in.buf)
		in.n--
	}
	if in.n == 0 {
		in.start = 0
	}
}

// freeFirstOne releases the oldest message, if any.
func (in *inflights) freeFirstOne() {
	if in.n > 0 {
		in.freeTo(in.buf[in.start])
	}
}

func (in *inflights) reset() { in.start, in.n = 0, 0 }

// checkBelow panics unless every index in flight is below next, the
// follower's next index: in replicate state Next moves past each MsgApp as
// it is sent and only a fall back to probe (which empties the window)
// lowers it.
func (in *inflights) checkBelow(next uint64) {
	if in.n > 0 {
		if last := in.at(in.n - 1); last >= next {
			panic(fmt.Sprintf("consensus: inflight index %d not below next %d", last, next))
		}
	}
}
