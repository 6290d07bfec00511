package client

import (
	"context"
	"time"

	"github.com/lockd/lockd/api"
)

// keepAliveLoop is the Client's one lease loop. Every interval (a third of
// the shortest session TTL) it renews all live sessions with one
// KeepAlive; each confirmed session's lease then runs until the send time
// plus its TTL. When JeopardyAfter of the lease has passed without a newer
// confirmation the session goes into jeopardy; when its grace after the
// lease's end runs out too it expires. A failed keep-alive is retried with
// backoff, never later than the next interval. All timing is on c.clk.
func (c *Client) keepAliveLoop() {
	var due time.Time // next keep-alive; zero: send at once
	failures := 0
	for {
		now := c.clk.Now()
		live := c.liveSessions()
		for _, s := range live {
			s.checkLease(now)
		}
		live = c.liveSessions()
		if len(live) == 0 {
			due = time.Time{}
			select {
			case <-c.kick:
				continue
			case <-c.ctx.Done():
				return
			}
		}
		interval := keepAliveInterval(live)
		if due.IsZero() || due.After(now.Add(interval)) {
			due = now.Add(interval) // first session, or one with a shorter TTL
		}
		if !now.Before(due) {
			if c.sendKeepAlive(live) {
				failures = 0
				due = now.Add(interval)
			} else {
				due = now.Add(min(interval, c.bo.delay(failures)))
				failures++
			}
			continue
		}
		wake := due
		for _, s := range live {
			if d := s.nextDeadline(); !d.IsZero() && d.Before(wake) {
				wake = d
			}
		}
		t := c.clk.NewTimer(wake.Sub(now))
		select {
		case <-t.C():
		case <-c.kick:
			t.Stop()
		case <-c.ctx.Done():
			t.Stop()
			return
		}
	}
}

// keepAliveInterval is a third of the shortest TTL among live sessions.
func keepAliveInterval(live []*Session) time.Duration {
	ttl := live[0].ttl
	for _, s := range live[1:] {
		ttl = min(ttl, s.ttl)
	}
	return max(ttl/3, time.Millisecond)
}

// sendKeepAlive makes one attempt to renew live (following at most a few
// leader hints) and applies the answer. It reports whether the leader
// answered.
func (c *Client) sendKeepAlive(live []*Session) bool {
	ids := make([]uint64, len(live))
	secrets := make([][]byte, len(live))
	for i, s := range live {
		ids[i], secrets[i] = s.id, s.secret
	}
	sentAt := c.clk.Now()
	// A keep-alive that hangs must not hold back the session's state
	// change: the attempt ends by the first lease or grace end.
	limit := c.cfg.AttemptTimeout
	for _, s := range live {
		if d := s.nextDeadline(); !d.IsZero() {
			limit = min(limit, d.Sub(sentAt))
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, max(limit, time.Millisecond))
	defer cancel()
	var resp api.KeepAliveResponse
	var err error
	for hop := 0; hop < 3; hop++ {
		if err = c.attempt(ctx, api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: ids, Secrets: secrets}, &resp); err == nil {
			break
		}
		if hint, ok := notLeaderHint(err); !ok || hint == "" {
			break
		}
	}
	if err != nil {
		c.log.Debug("keep-alive failed", "sessions", len(ids), "error", err)
		return false
	}
	expired := make(map[uint64]bool, len(resp.Expired))
	for _, id := range resp.Expired {
		expired[id] = true
	}
	renewed := live
	if len(resp.TTLs) != len(live) {
		// TTLs lists only the renewed sessions, in request order.
		renewed = renewed[:0:0]
		for _, s := range live {
			if !expired[s.id] {
				renewed = append(renewed, s)
			}
		}
	}
	for i, s := range renewed {
		switch {
		case expired[s.id]:
		case i < len(resp.TTLs) && resp.TTLs[i] > 0:
			s.renewed(sentAt.Add(time.Duration(resp.TTLs[i])))
		}
	}
	for _, s := range live {
		if expired[s.id] {
			s.end(SessionExpired, ErrSessionExpired)
		}
	}
	return true
}

// renewed records a lease confirmed until leaseEnd; a session in jeopardy
// is safe again.
func (s *Session) renewed(leaseEnd time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if leaseEnd.After(s.leaseEnd) {
		s.leaseEnd = leaseEnd
	}
	s.graceEnd = time.Time{}
	s.setState(SessionSafe)
}

// checkLease moves a safe session whose lease is JeopardyAfter through
// into jeopardy, and expires one whose grace ran out too.
func (s *Session) checkLease(now time.Time) {
	s.mu.Lock()
	var expire bool
	switch s.state {
	case SessionSafe:
		if !now.Before(jeopardyAt(s.leaseEnd, s.ttl)) {
			s.graceEnd = s.leaseEnd.Add(s.grace)
			s.setState(SessionJeopardy)
			s.c.log.Warn("session in jeopardy", "session", s.id)
		}
	case SessionJeopardy:
		expire = !now.Before(s.graceEnd)
	}
	s.mu.Unlock()
	if expire {
		s.c.log.Warn("session expired: grace ran out", "session", s.id)
		s.end(SessionExpired, ErrSessionExpired)
	}
}

// nextDeadline is when the session's state changes by itself: the start
// of jeopardy, or the end of its grace.
func (s *Session) nextDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case SessionSafe:
		return jeopardyAt(s.leaseEnd, s.ttl)
	case SessionJeopardy:
		return s.graceEnd
	}
	return time.Time{}
}
