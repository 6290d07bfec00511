package peer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// Introducer is the service layer's part in the introduction every peer
// connection starts with: the dialer's sender asks the peer for its node
// info first, introducing itself in the request (its advertised peer
// address, incarnation and cluster ID); the peer's node-info handler may
// refuse it, and the dialer may refuse the answer. Either way the
// connection is dropped before any Raft message crosses it. A peer of an
// older build answers without judging, and one that dials without
// introducing itself is served as before.
type Introducer interface {
	// Introduction is the request this node opens each connection with.
	Introduction() *NodeInfoRequest
	// Answered judges the answer of peer id at addr; a *Refusal drops
	// the connection.
	Answered(id consensus.NodeID, addr string, resp *NodeInfoResponse) error
}

// SetIntroducer makes the senders introduce this node on every peer
// connection they dial. Call it before the first SetPeers.
func (t *Transport) SetIntroducer(in Introducer) {
	t.mu.Lock()
	t.intro = in
	t.mu.Unlock()
}

func (t *Transport) introducer() Introducer {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.intro
}

// introduce runs the introduction on a freshly dialed connection to peer
// id at addr.
func (t *Transport) introduce(ctx context.Context, conn *rpc.ClientConn, id consensus.NodeID, addr string) error {
	in := t.introducer()
	if in == nil {
		return nil
	}
	var resp NodeInfoResponse
	err := conn.Call(ctx, msgNodeInfo, in.Introduction(), &resp)
	if r := refusedBy(err); r != nil {
		t.warnOnce("refused:"+string(id)+":"+r.Reason, "peer refused this node", "peer", id, "addr", addr, "reason", r.Reason)
		return r
	}
	if err != nil {
		return fmt.Errorf("peer: introduction to %s: %w", id, err)
	}
	if err := answeredAsSelf(conn, addr, &resp); err != nil {
		t.warnOnce("refusing:"+string(id)+":"+err.Error(), "refusing peer", "peer", id, "addr", addr, "reason", err.Error())
		return err
	}
	if err := in.Answered(id, addr, &resp); err != nil {
		if r, ok := err.(*Refusal); ok {
			t.warnOnce("refusing:"+string(id)+":"+r.Reason, "refusing peer", "peer", id, "addr", addr, "reason", r.Reason)
		}
		return err
	}
	return nil
}

// refusedLinger is how long a refused connection stays open for the
// refusal to reach the dialer, which closes it itself on reading it.
const refusedLinger = 5 * time.Second

// refuse marks c refused (its Raft frames are dropped), logs why, and
// closes it once the dialer had time to read the answer.
func (t *Transport) refuse(c *rpc.Conn, claims, remote string, r *Refusal) {
	t.refused.Store(c, struct{}{})
	t.warnOnce("refusing:"+claims+":"+r.Reason, "refusing peer", "claims", claims, "remote", remote, "reason", r.Reason)
	go func() {
		timer := time.NewTimer(refusedLinger)
		defer timer.Stop()
		select {
		case <-c.Done():
		case <-timer.C:
			_ = c.Close()
		}
		t.refused.Delete(c)
	}()
}

// isRefused reports whether c was refused; its frames are then dropped.
func (t *Transport) isRefused(c *rpc.Conn) bool {
	_, ok := t.refused.Load(c)
	return ok
}

// warnEvery bounds how often the same refusal is logged as a warning: a
// refused peer redials every second or so.
const warnEvery = time.Minute

// warnLog remembers when each refusal was last logged as a warning.
type warnLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// warnOnce logs msg as a warning the first time key is seen in warnEvery,
// at debug level otherwise.
func (t *Transport) warnOnce(key, msg string, args ...any) {
	now := time.Now()
	t.warns.mu.Lock()
	if t.warns.last == nil || len(t.warns.last) > 1024 {
		t.warns.last = map[string]time.Time{}
	}
	last, seen := t.warns.last[key]
	loud := !seen || now.Sub(last) >= warnEvery
	if loud {
		t.warns.last[key] = now
	}
	t.warns.mu.Unlock()
	if loud {
		t.log.Warn(msg, args...)
	} else {
		t.log.Debug(msg, args...)
	}
}
