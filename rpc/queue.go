package rpc

import "sync"

// outFrame is one encoded frame waiting for the writer.
type outFrame struct {
	hdr  [headerLen]byte
	body []byte
	// barrier, if set, makes this a marker, not a frame: the writer
	// flushes everything before it and closes barrier.
	barrier chan struct{}
}

// outQueue holds frames between the goroutines that produce them and the
// connection's single writer. The writer takes everything queued at once,
// writes it through a bufio.Writer and flushes only when the queue is
// empty, so many small frames share one syscall.
//
// Frames are either bounded (one-way sends, pushes, pongs: at most limit
// queued) or unbounded (requests, responses, cancels, pings: already
// bounded by MaxInFlight and by the ping interval).
type outQueue struct {
	mu      sync.Mutex
	frames  []outFrame
	spare   []outFrame
	bounded int // bounded frames in frames; Invariant: bounded <= limit
	limit   int
	closed  bool
	wake    chan struct{} // capacity 1: "frames is non-empty"
}

func newOutQueue(limit int) *outQueue {
	return &outQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// put appends f. It returns ErrQueueFull if f is bounded and the queue
// holds limit bounded frames, ErrClosed after close.
func (q *outQueue) put(f outFrame, bounded bool) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if bounded {
		if q.bounded >= q.limit {
			q.mu.Unlock()
			return ErrQueueFull
		}
		q.bounded++
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
// slice is valid until the next take.
func (q *outQueue) take() []outFrame {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.frames
	clear(q.spare)
	q.frames, q.spare = q.spare[:0], out
	q.bounded = 0
	return out
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.mu.Unlock()
}
