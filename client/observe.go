package client

import (
	"context"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// observer feeds one Observe channel with the latest leader of one lock.
type observer struct {
	name string
	ch   chan LeaderInfo // cap 1: holds the latest value not yet read
	// rev is the newest revision delivered. Guarded by Client.mu.
	rev    uint64
	closed bool // guarded by Client.mu
}

// Observe returns a channel that receives the election's leader each time
// it changes (LeaderInfo with Session 0 when it has none), starting with
// the current one if the lock was ever held. The channel holds only the latest value: a newer one
// replaces one not yet read, so a slow reader sees the latest leader and
// never holds the Client up. The channel is closed when ctx ends. After a
// reconnect the Client subscribes again from the last revision it saw, so
// no change is missed; if the lock's revision went back meanwhile (the
// cluster was started again with fresh data, or restored from an older
// backup), it starts over from the current state and delivers it.
func (e *Election) Observe(ctx context.Context) <-chan LeaderInfo {
	return e.s.c.observe(ctx, e.name)
}

func (c *Client) observe(ctx context.Context, name string) <-chan LeaderInfo {
	o := &observer{name: name, ch: make(chan LeaderInfo, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		close(o.ch)
		return o.ch
	}
	c.observers[o] = struct{}{}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer c.stopObserver(o)
		c.runObserver(ctx, o)
	}()
	return o.ch
}

// runObserver subscribes on every new connection until ctx or the Client
// ends.
func (c *Client) runObserver(ctx context.Context, o *observer) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	for failures := 0; ctx.Err() == nil; {
		conn, changed := c.conns.current()
		if conn == nil {
			var err error
			if conn, err = c.conns.get(ctx); err != nil {
				if c.bo.sleep(ctx, failures, c.ctx.Done()) != nil {
					return
				}
				failures++
				continue
			}
			_, changed = c.conns.current()
		}
		since, err := c.resyncObserver(ctx, conn, o)
		if err == nil {
			err = c.callOn(ctx, conn, api.MsgObserve, &api.ObserveRequest{Name: o.name, SinceRevision: since}, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Debug("observe failed", "lock", o.name, "error", err)
			if hint, ok := notLeaderHint(err); !ok || hint == "" {
				if c.bo.sleep(ctx, failures, c.ctx.Done()) != nil {
					return
				}
				failures++
			}
			continue
		}
		failures = 0
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// resyncObserver runs before each subscription on a new connection and
// returns the revision to subscribe from. Revisions only grow within one
// cluster's history; a lock whose revision is now lower than the newest
// one delivered belongs to another history (the cluster was started again
// with fresh data, or restored from an older backup), whose changes would
// all look old. Then the observer starts over from the current state,
// which it delivers, leader or none.
func (c *Client) resyncObserver(ctx context.Context, conn *rpc.ClientConn, o *observer) (uint64, error) {
	c.mu.Lock()
	since := o.rev
	c.mu.Unlock()
	if since == 0 {
		return 0, nil
	}
	var resp api.LockInfo
	// Linearizable: a stale read from a node behind would look like a
	// history gone back. Without a quorum it fails and runObserver tries
	// again; nothing changes meanwhile.
	req := &api.GetLockRequest{Name: o.name}
	if err := c.callOn(ctx, conn, api.MsgGetLock, req, &resp); err != nil {
		return 0, err
	}
	if resp.Revision >= since {
		return since, nil
	}
	c.log.Debug("lock revision went back: a new cluster history", "lock", o.name, "was", since, "now", resp.Revision)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !o.closed && o.rev == since {
		o.rev = resp.Revision
		c.deliverLocked(o, leaderOf(resp.Revision, holdersFrom(resp.Holders)))
	}
	return o.rev, nil
}

func (c *Client) stopObserver(o *observer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.observers, o)
	o.closed = true
	close(o.ch)
}

// onHolderChanged hands a pushed holder change to the observers of its
// lock: each keeps only the newest revision, replacing an unread value.
func (c *Client) onHolderChanged(ev api.HolderChangedEvent) {
	li := leaderOf(ev.Revision, holdersFrom(ev.Holders))
	c.mu.Lock()
	defer c.mu.Unlock()
	for o := range c.observers {
		if o.name != ev.Name || o.closed || ev.Revision <= o.rev {
			continue
		}
		o.rev = ev.Revision
		c.deliverLocked(o, li)
	}
}

// deliverLocked hands li to o, replacing an unread value. The caller holds
// c.mu.
func (c *Client) deliverLocked(o *observer, li LeaderInfo) {
	select {
	case <-o.ch: // drop the unread older value
	default:
	}
	o.ch <- li // never blocks: c.mu excludes other senders
}
