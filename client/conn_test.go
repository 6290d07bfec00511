package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// blackHole is a TCP dialer under which one address never answers: a dial
// to it returns only when its context ends. Other addresses dial normally.
type blackHole struct {
	addr string
	seen chan dialSeen // cap 1: the last dial to addr
}

// dialSeen is what a dial to the black hole saw: when it began and the
// deadline its context carried.
type dialSeen struct {
	entered, deadline time.Time
	hasDeadline       bool
}

func newBlackHole(addr string) *blackHole {
	return &blackHole{addr: addr, seen: make(chan dialSeen, 1)}
}

func (b *blackHole) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr != b.addr {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	seen := dialSeen{entered: time.Now()}
	seen.deadline, seen.hasDeadline = ctx.Deadline()
	<-ctx.Done()
	select { // keep the latest
	case <-b.seen:
	default:
	}
	b.seen <- seen
	return nil, ctx.Err()
}

// As in ZooKeeper's client, which gives each server the session timeout
// divided by the number of servers. With a 3 s session and 3 endpoints, an
// attempt on an endpoint that never answers gives up after 1 s, not after
// DialTimeout (2 s); without a session it gets DialTimeout. The deadline
// is checked exactly: the attempt's timeout started between the call and
// the dial.
func TestDialGivesUpAfterTheSessionTTLSharedAmongEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration // 0: no session
		want time.Duration
	}{
		{"no session", 0, 2 * time.Second},
		{"3s session, 3 endpoints", 3 * time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fc := newFakeCluster(t, 3, 0)
			hole := newBlackHole(fc.nodes[2].addr)
			cfg := testConfig(fc.addrs()...)
			cfg.DialTimeout = 2 * time.Second
			cfg.clock = newFakeClock() // no keep-alives while the test runs
			cfg.dialer = hole.dial
			c := newTestClient(t, cfg)
			if tc.ttl > 0 {
				newTestSession(t, c, WithTTL(tc.ttl))
			}
			before := time.Now()
			_, err := c.conns.dial(testCtx(t), hole.addr)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("dial to the black hole: %v, want a deadline error", err)
			}
			seen := <-hole.seen
			if !seen.hasDeadline {
				t.Fatal("the attempt had no deadline")
			}
			if start := seen.deadline.Add(-tc.want); start.Before(before) || start.After(seen.entered) {
				t.Fatalf("the attempt's deadline was %v after the call and %v after the dial began; want %v after a moment between them",
					seen.deadline.Sub(before), seen.deadline.Sub(seen.entered), tc.want)
			}
		})
	}
}

// The bound of one attempt: DialTimeout, and while sessions are open the
// shortest TTL divided by the number of endpoints, at least 100 ms but
// never above DialTimeout.
func TestDialTimeoutFollowsTheShortestOpenSession(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	endpoints := []string{fc.nodes[0].addr, "127.0.0.1:1", "127.0.0.1:2"}
	for _, tc := range []struct {
		name string
		dial time.Duration
		ttls []time.Duration
		want time.Duration
	}{
		{"no session", 2 * time.Second, nil, 2 * time.Second},
		{"one session", 2 * time.Second, []time.Duration{3 * time.Second}, time.Second},
		{"the shortest session", 2 * time.Second, []time.Duration{time.Minute, 3 * time.Second, 6 * time.Second}, time.Second},
		{"never above DialTimeout", 2 * time.Second, []time.Duration{time.Minute}, 2 * time.Second},
		{"at least 100ms", 2 * time.Second, []time.Duration{150 * time.Millisecond}, 100 * time.Millisecond},
		{"DialTimeout below the floor", 50 * time.Millisecond, []time.Duration{3 * time.Second}, 50 * time.Millisecond},
	} {
		cfg := testConfig(endpoints...)
		cfg.DialTimeout = tc.dial
		cfg.clock = newFakeClock()
		c := newTestClient(t, cfg)
		for _, ttl := range tc.ttls {
			newTestSession(t, c, WithTTL(ttl))
		}
		if got := c.conns.dialTimeout(); got != tc.want {
			t.Errorf("%s: an attempt gets %v, want %v", tc.name, got, tc.want)
		}
	}
}
