package rpc

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// put's refusals, both wrapping ErrQueueFull. Static, so that a Send
// that drops allocates nothing.
var (
	errQueueBytes  = fmt.Errorf("%w: byte budget reached", ErrQueueFull)
	errQueueFrames = fmt.Errorf("%w: frame limit reached", ErrQueueFull)
)

// outFrame is one encoded frame waiting for the writer.
type outFrame struct {
	hdr  [headerLen]byte
	body []byte
	// slot marks the answer to a request: the server's in-flight slot for
	// it is freed when the writer takes it up (see link.freeSlot).
	slot bool
	// barrier, if set, makes this a marker, not a frame: the writer
	// flushes everything before it and closes barrier.
	barrier chan struct{}
}

// size is what the frame counts against the byte budget.
func (f *outFrame) size() int64 {
	if f.barrier != nil {
		return 0
	}
	return int64(headerLen + len(f.body))
}

// frameClass says which limits a frame is checked against when queued.
type frameClass uint8

const (
	// classFree frames are counted in bytes but never refused: requests
	// (bounded by MaxInFlight on this side), cancels and pings (bounded
	// by the calls and the ping interval), barriers.
	classFree frameClass = iota
	// classBounded frames (one-way sends, pushes, pongs) are refused when
	// SendQueueLen of them wait or the byte budget would be exceeded.
	classBounded
	// classAnswer frames (responses, errors) are refused only when the
	// byte budget would be exceeded.
	classAnswer
)

// outQueue holds frames between the goroutines that produce them and the
// connection's single writer. The writer takes everything queued at once,
// writes it through a bufio.Writer and flushes only when the queue is
// empty, so many small frames share one syscall.
//
// Every frame counts in bytes (header and body) from put until the writer
// has written it (into its buffer or onto the socket), including while it
// waits in a batch the writer has taken and while the writer is blocked
// on it; the total never exceeds maxBytes for refusable frames. Bounded
// frames are also counted in frames while they wait.
type outQueue struct {
	mu      sync.Mutex
	frames  []outFrame
	spare   []outFrame
	bounded int // bounded frames in frames; Invariant: bounded <= limit
	limit   int
	closed  bool
	wake    chan struct{} // capacity 1: "frames is non-empty"

	// bytes is the size of the frames put and not yet released. Added to
	// under mu, subtracted by the writer without it (it only decreases
	// what put checks, so the check stays conservative).
	bytes    atomic.Int64
	maxBytes int64
	// peak is the most bytes ever counted at once. Invariant: peak <=
	// maxBytes while only refusable frames are put (a server's queue).
	peak atomic.Int64
}

func newOutQueue(limit, maxBytes int) *outQueue {
	return &outQueue{limit: limit, maxBytes: int64(maxBytes), wake: make(chan struct{}, 1)}
}

// put appends f. It returns errQueueFrames if f is bounded and the queue
// holds limit bounded frames, errQueueBytes if f is not free and would
// take the queue past its byte budget; ErrClosed after close.
func (q *outQueue) put(f outFrame, class frameClass) error {
	n := f.size()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if class != classFree {
		if queued := q.bytes.Load(); queued+n > q.maxBytes {
			q.mu.Unlock()
			return errQueueBytes
		}
	}
	if class == classBounded {
		if q.bounded >= q.limit {
			q.mu.Unlock()
			return errQueueFrames
		}
		q.bounded++
	}
	if now := q.bytes.Add(n); now > q.peak.Load() {
		q.peak.Store(now) // under mu: no other put races this store
	}
	q.frames = append(q.frames, f)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// take returns every queued frame and empties the queue. The returned
// slice is valid until the next take. The frames stay counted in bytes
// until released one by one.
func (q *outQueue) take() []outFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.frames
	clear(q.spare)
	q.frames, q.spare = q.spare[:0], out
	q.bounded = 0
	return out
}

// release uncounts a taken frame's bytes, once the writer has written it.
func (q *outQueue) release(f *outFrame) {
	if n := f.size(); n > 0 {
		q.bytes.Add(-n)
	}
}

// queued reports the bytes counted now.
func (q *outQueue) queued() int64 { return q.bytes.Load() }

// highWater reports the most bytes counted at once so far.
func (q *outQueue) highWater() int64 { return q.peak.Load() }

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.mu.Unlock()
}
