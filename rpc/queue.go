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

// outQueue holds frames between the goroutines that produce them and
// whoever holds the connection's writer role (see link). The holder takes
// everything queued at once, writes it through the link's bufio.Writer
// and flushes only when the queue is empty, so many small frames share
// one syscall.
//
// The writer role itself is the flag writing, guarded by mu like the
// frames, so that handing the role over and looking at the queue are one
// step. The role is released only by take, and only when the queue is
// empty, or by handoff, which wakes writeLoop if it is not. Hence the
// invariant: while the queue is open and holds a frame, either someone
// holds the role (and will write that frame before releasing it), or a
// wake is pending or being sent for writeLoop.
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
	writing bool          // someone holds the writer role
	wake    chan struct{} // capacity 1: "frames may need writeLoop"
}

func newOutQueue(limit int) *outQueue {
	return &outQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// put appends f and wakes writeLoop. It returns ErrQueueFull if f is
// bounded and the queue holds limit bounded frames, ErrClosed after
// close. It never writes and never blocks on the socket.
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

// putClaim appends the unbounded frame f and, if nobody holds the writer
// role, gives it to the caller (claimed is true): the caller must then
// write as the holder (link.holdWriter). If the role is held, its holder
// cannot let go without either taking f or waking writeLoop for it
// (take, handoff), so nobody needs waking here. It returns ErrClosed
// after close.
func (q *outQueue) putClaim(f outFrame) (claimed bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, ErrClosed
	}
	q.frames = append(q.frames, f)
	if q.writing {
		return false, nil
	}
	q.writing = true
	return true, nil
}

// claim gives the writer role to the caller if nobody holds it and the
// queue is open.
func (q *outQueue) claim() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.writing {
		return false
	}
	q.writing = true
	return true
}

// take, called by the role's holder, returns every queued frame and
// empties the queue. The returned slice is valid until the next take.
// If the queue is empty and idle is true (the holder has nothing left to
// flush), it releases the role instead and reports released; after close
// it always releases.
func (q *outQueue) take(idle bool) (batch []outFrame, released bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (len(q.frames) == 0 && idle) {
		q.writing = false
		return nil, true
	}
	out := q.frames
	clear(q.spare)
	q.frames, q.spare = q.spare[:0], out
	q.bounded = 0
	return out, false
}

// handoff releases the role without emptying the queue; if frames are
// waiting, writeLoop is woken to take the role and write them.
func (q *outQueue) handoff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.writing = false
	if len(q.frames) > 0 && !q.closed {
		select {
		case q.wake <- struct{}{}:
		default: // a wake is already pending
		}
	}
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.mu.Unlock()
}
