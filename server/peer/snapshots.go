package peer

import (
	"fmt"
	"sync"
	"time"

	"github.com/lockd/lockd/rpc"
)

// Defaults of the inbound snapshot limits (see Transport.LimitSnapshots).
const (
	// DefaultMaxSnapshotBytes bounds one snapshot a peer may send us.
	DefaultMaxSnapshotBytes = 1 << 30
	// DefaultSnapshotIdleTimeout drops a transfer after this long without
	// a chunk.
	DefaultSnapshotIdleTimeout = 30 * time.Second
)

// snapReceiver reassembles the snapshots peers stream to this node. It
// holds at most one transfer per sender id, tied to the connection it
// arrives on; a transfer is dropped when it fails, when its sender starts
// another, and when no chunk has come for idle or its connection closed
// (checked every idle/2). A sender id is only what the peer claimed in
// its handshake, so the ids, and with them the transfers, are bounded by
// the peer server's connection limits; each transfer by max bytes.
type snapReceiver struct {
	max  uint64
	idle time.Duration
	now  func() time.Time // time.Now; tests replace it

	mu     sync.Mutex
	byPeer map[string]*snapTransfer
	timer  *time.Timer // armed while a transfer is in progress
	closed bool
}

// snapTransfer is one snapshot being received.
type snapTransfer struct {
	conn *rpc.Conn
	a    *rpc.Assembler
	last time.Time // when its last chunk arrived
}

func newSnapReceiver() *snapReceiver {
	return &snapReceiver{max: DefaultMaxSnapshotBytes, idle: DefaultSnapshotIdleTimeout, now: time.Now,
		byPeer: make(map[string]*snapTransfer)}
}

// add takes one chunk from sender from on connection c. A chunk at
// offset 0 starts a new transfer, replacing any the sender had; any other
// chunk continues the sender's transfer on the same connection. It
// returns the whole snapshot once the last chunk arrived; an error
// (wrapping rpc.ErrChunk) ends the transfer.
func (r *snapReceiver) add(c *rpc.Conn, from string, ch rpc.Chunk) (data []byte, done bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false, rpc.ErrClosed
	}
	tr := r.byPeer[from]
	switch {
	case ch.Offset == 0:
		tr = &snapTransfer{conn: c, a: rpc.NewAssembler(r.max)}
		r.byPeer[from] = tr
		r.arm()
	case tr == nil:
		return nil, false, fmt.Errorf("%w: chunk at offset %d from %s, which has no transfer in progress", rpc.ErrChunk, ch.Offset, from)
	case tr.conn != c: // a transfer replaced by one on another connection
		return nil, false, fmt.Errorf("%w: chunk at offset %d from %s on another connection than its transfer", rpc.ErrChunk, ch.Offset, from)
	}
	tr.last = r.now()
	done, err = tr.a.Add(ch)
	if err != nil || done {
		delete(r.byPeer, from)
	}
	if err != nil {
		return nil, false, err
	}
	if done {
		return tr.a.Bytes(), true, nil
	}
	return nil, false, nil
}

// arm starts the sweep timer if it is not running. Caller holds r.mu.
func (r *snapReceiver) arm() {
	if r.timer == nil && !r.closed {
		r.timer = time.AfterFunc(r.idle/2, r.tick)
	}
}

func (r *snapReceiver) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timer = nil
	r.sweepLocked()
	if len(r.byPeer) > 0 {
		r.arm()
	}
}

// sweep drops the transfers idle for idle or whose connection closed, and
// reports how many remain.
func (r *snapReceiver) sweep() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweepLocked()
	return len(r.byPeer)
}

func (r *snapReceiver) sweepLocked() {
	now := r.now()
	for from, tr := range r.byPeer {
		if now.Sub(tr.last) >= r.idle || tr.conn.Err() != nil {
			delete(r.byPeer, from)
		}
	}
}

// close drops every transfer and stops the timer.
func (r *snapReceiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	clear(r.byPeer)
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// LimitSnapshots sets the largest snapshot a peer may send this node
// (maxBytes; a larger one is refused at its first chunk and the sender
// reports it failed) and how long a transfer may go without a chunk
// before it is dropped (idle). Call it before Listen. Defaults:
// DefaultMaxSnapshotBytes and DefaultSnapshotIdleTimeout.
func (t *Transport) LimitSnapshots(maxBytes uint64, idle time.Duration) error {
	if maxBytes == 0 || idle <= 0 {
		return fmt.Errorf("peer: snapshot limits must be positive (max %d bytes, idle %v)", maxBytes, idle)
	}
	t.snaps.mu.Lock()
	t.snaps.max, t.snaps.idle = maxBytes, idle
	t.snaps.mu.Unlock()
	return nil
}
