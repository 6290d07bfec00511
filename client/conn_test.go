package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/lockd/lockd/rpc"
)

// blackHole is a TCP dialer under which one address never answers: a dial
// to it returns only when its context ends. Other addresses dial normally.
type blackHole struct {
	addr string
	seen chan stepSeen // cap 1: the last dial to addr
}

// stepSeen is what one step of a connection attempt (a dial to the black
// hole, an attach) saw: when it began and the deadline its context
// carried.
type stepSeen struct {
	entered, deadline time.Time
	hasDeadline       bool
}

func newBlackHole(addr string) *blackHole {
	return &blackHole{addr: addr, seen: make(chan stepSeen, 1)}
}

func (b *blackHole) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if addr != b.addr {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	seen := stepSeen{entered: time.Now()}
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

// The bounds of one attempt and of its two steps: DialTimeout for the
// dial, AttemptTimeout for the attach, and while sessions are open each,
// and the whole attempt (0: no bound of its own), also at most the
// shortest TTL divided by the number of endpoints, at least 100 ms but
// never above its own timeout (for the attempt, the steps' added up).
func TestDialAndAttachTimeoutsFollowTheShortestOpenSession(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	endpoints := []string{fc.nodes[0].addr, "127.0.0.1:1", "127.0.0.1:2"}
	for _, tc := range []struct {
		name          string
		dial, attempt time.Duration
		ttls          []time.Duration
		wantDial      time.Duration
		wantAttach    time.Duration
		wantAttempt   time.Duration
	}{
		{"no session", 2 * time.Second, 6 * time.Second, nil, 2 * time.Second, 6 * time.Second, 0},
		{"one session", 2 * time.Second, 6 * time.Second, []time.Duration{3 * time.Second}, time.Second, time.Second, time.Second},
		{"the shortest session", 2 * time.Second, 6 * time.Second, []time.Duration{time.Minute, 3 * time.Second, 6 * time.Second}, time.Second, time.Second, time.Second},
		{"never above its own timeout", 2 * time.Second, 6 * time.Second, []time.Duration{time.Minute}, 2 * time.Second, 6 * time.Second, 8 * time.Second},
		{"at least 100ms", 2 * time.Second, 6 * time.Second, []time.Duration{150 * time.Millisecond}, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		{"own timeouts below the floor", 50 * time.Millisecond, 60 * time.Millisecond, []time.Duration{3 * time.Second}, 50 * time.Millisecond, 60 * time.Millisecond, 110 * time.Millisecond},
	} {
		cfg := testConfig(endpoints...)
		cfg.DialTimeout = tc.dial
		cfg.AttemptTimeout = tc.attempt
		cfg.clock = newFakeClock()
		c := newTestClient(t, cfg)
		for _, ttl := range tc.ttls {
			newTestSession(t, c, WithTTL(ttl))
		}
		if got := c.conns.dialTimeout(); got != tc.wantDial {
			t.Errorf("%s: a dial gets %v, want %v", tc.name, got, tc.wantDial)
		}
		if got := c.conns.attachTimeout(); got != tc.wantAttach {
			t.Errorf("%s: an attach gets %v, want %v", tc.name, got, tc.wantAttach)
		}
		if got := c.conns.attemptTimeout(); got != tc.wantAttempt {
			t.Errorf("%s: a whole attempt gets %v, want %v", tc.name, got, tc.wantAttempt)
		}
	}
}

// As for the dial: a node that accepts the connection and the handshake
// but never answers the attach of the open sessions costs a round of
// attempts the session TTL divided by the number of endpoints (1 s with a
// 3 s session and 3 endpoints), not AttemptTimeout (6 s), and the round
// goes on to the next endpoint. The deadline is checked exactly: the
// attach's timeout started between the round's start and the attach.
func TestAttachGivesUpAfterTheSessionTTLSharedAmongEndpoints(t *testing.T) {
	fc := newFakeCluster(t, 3, 0)
	hung := fc.nodes[2]
	asked := make(chan struct{}, 1)
	fc.set(func(fc *fakeCluster) {
		fc.attachHook = func(ctx context.Context, node int) {
			if node != hung.i {
				return
			}
			select {
			case asked <- struct{}{}:
			default:
			}
			<-ctx.Done() // answers only once the client gives up
		}
	})
	cfg := testConfig(fc.addrs()...)
	cfg.AttemptTimeout = 6 * time.Second
	cfg.clock = newFakeClock() // no keep-alives while the test runs
	c := newTestClient(t, cfg)
	seen := watchAttach(c, hung.addr) // before any session exists: until then nothing reads onConnect
	newTestSession(t, c, WithTTL(3*time.Second))

	before := roundFromHungNode(t, c, hung.addr)
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the node was never asked to attach")
	}
	s := <-seen
	if !s.hasDeadline {
		t.Fatal("the attach had no deadline")
	}
	const want = time.Second
	if start := s.deadline.Add(-want); start.Before(before) || start.After(s.entered) {
		t.Fatalf("the attach's deadline was %v after the round began and %v after the attach began; want %v after a moment between them",
			s.deadline.Sub(before), s.deadline.Sub(s.entered), want)
	}
}

// The dial and the attach of one attempt share the session's share of
// time: a node that is slow to connect and then never answers the attach
// costs a round 1 s in all with a 3 s session and 3 endpoints, not 1 s
// plus the dial. The deadline is checked exactly: the attach's deadline is
// 1 s after a moment between the round's start and the dial's start, not
// 1 s after the dial ended.
func TestDialAndAttachShareTheSessionTTLSharedAmongEndpoints(t *testing.T) {
	fc := newFakeCluster(t, 3, 0)
	hung := fc.nodes[2]
	fc.set(func(fc *fakeCluster) {
		fc.attachHook = func(ctx context.Context, node int) {
			if node == hung.i {
				<-ctx.Done() // answers only once the client gives up
			}
		}
	})
	const slowDial = 50 * time.Millisecond
	dialed := make(chan time.Time, 1) // the first dial to the hung node began
	cfg := testConfig(fc.addrs()...)
	cfg.AttemptTimeout = 6 * time.Second
	cfg.clock = newFakeClock() // no keep-alives while the test runs
	cfg.dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == hung.addr {
			select { // keep the first
			case dialed <- time.Now():
			default:
			}
			select {
			case <-time.After(slowDial):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c := newTestClient(t, cfg)
	seen := watchAttach(c, hung.addr) // before any session exists: until then nothing reads onConnect
	newTestSession(t, c, WithTTL(3*time.Second))
	// The session's own connection may have been made to the hung node
	// before the session existed; only the round below counts.
	drain(dialed)
	drain(seen)

	before := roundFromHungNode(t, c, hung.addr)
	var dialStart time.Time
	select {
	case dialStart = <-dialed:
	default:
		t.Fatal("the round never dialed the hung node")
	}
	var s stepSeen
	select {
	case s = <-seen:
	default:
		t.Fatal("the hung node was never asked to attach")
	}
	if !s.hasDeadline {
		t.Fatal("the attach had no deadline")
	}
	const want = time.Second
	if start := s.deadline.Add(-want); start.Before(before) || start.After(dialStart) {
		t.Fatalf("the attach's deadline was %v after the round began, %v after the dial began and %v after the attach began; want %v after a moment between the round's start and the dial's",
			s.deadline.Sub(before), s.deadline.Sub(dialStart), s.deadline.Sub(s.entered), want)
	}
}

// drain empties ch without waiting.
func drain[T any](ch chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// watchAttach reports when and with what deadline the client's attach
// step first runs on a connection to addr. Call it before any session
// exists: until then nothing reads onConnect.
func watchAttach(c *Client, addr string) chan stepSeen {
	seen := make(chan stepSeen, 1)
	onConnect := c.conns.onConnect
	c.conns.onConnect = func(ctx context.Context, conn *rpc.ClientConn) error {
		if conn.Addr() == addr {
			s := stepSeen{entered: time.Now()}
			s.deadline, s.hasDeadline = ctx.Deadline()
			select { // keep the first
			case seen <- s:
			default:
			}
		}
		return onConnect(ctx, conn)
	}
	return seen
}

// roundFromHungNode runs a connection round that tries addr, a node that
// hangs on attach, first (as if it had been named the leader), checks
// that the round connects to another node, and returns when it started.
func roundFromHungNode(t *testing.T, c *Client, addr string) time.Time {
	t.Helper()
	c.conns.mu.Lock()
	c.conns.hint = addr
	c.conns.mu.Unlock()
	before := time.Now()
	conn, err := c.conns.establish(testCtx(t))
	if err != nil || conn.Addr() == addr {
		t.Fatalf("a round starting at the node that hangs on attach: %v, %v; want a connection to another node", conn, err)
	}
	return before
}
