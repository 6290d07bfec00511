package consensus

import "fmt"

// inflights is the bounded window of MsgApp messages sent to one follower
// in replicate state and not yet acknowledged, as the last index each one
// carried, in increasing order.
type inflights struct {
	// buf is a ring buffer; start is the oldest slot and count the number
	// in use. Invariant: count <= len(buf).
	buf   []uint64
	start int
	count int
}

func newInflights(size int) *inflights { return &inflights{buf: make([]uint64, size)} }

func (in *inflights) full() bool { return in.count == len(in.buf) }

// add records a MsgApp whose last entry is index.
func (in *inflights) add(index uint64) {
	if in.full() {
		panic("consensus: add to a full inflights window")
	}
	if in.count > 0 {
		if prev := in.buf[(in.start+in.count-1)%len(in.buf)]; index <= prev {
			panic(fmt.Sprintf("consensus: inflight index %d not above %d", index, prev))
		}
	}
	in.buf[(in.start+in.count)%len(in.buf)] = index
	in.count++
}

// freeLE releases every message whose last index is <= to.
func (in *inflights) freeLE(to uint64) {
	for in.count > 0 && in.buf[in.start] <= to {
		in.start = (in.start + 1) % len(in.buf)
		in.count--
	}
	if in.count == 0 {
		in.start = 0
	}
}

func (in *inflights) reset() { in.start, in.count = 0, 0 }
