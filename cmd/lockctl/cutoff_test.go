package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/server"
)

// blackhole is a TCP proxy on 127.0.0.1 that forwards to one address
// until cut; from then on it forwards nothing in either direction and
// holds every connection, old and new, open without answering: the far
// side is simply unreachable, as behind a partition that drops packets.
type blackhole struct {
	ln    net.Listener
	to    string
	cut   atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newBlackhole(t *testing.T, to string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, to: to}
	t.Cleanup(b.close)
	go b.serve()
	return b
}

func (b *blackhole) addr() string { return b.ln.Addr().String() }

func (b *blackhole) close() {
	_ = b.ln.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
}

func (b *blackhole) track(c net.Conn) {
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
}

func (b *blackhole) serve() {
	for {
		in, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.track(in)
		if b.cut.Load() {
			go func() { _, _ = io.Copy(io.Discard, in) }()
			continue
		}
		out, err := net.Dial("tcp", b.to)
		if err != nil {
			_ = in.Close()
			continue
		}
		b.track(out)
		go b.pipe(in, out)
		go b.pipe(out, in)
	}
}

// pipe copies src to dst until the cut, then drops what src sends.
func (b *blackhole) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestCutOffHolderCommandIsDeadBeforeTheNextHolderStarts: lockctl holds a
// lock (lock-delay 0) for a command that ignores SIGTERM and keeps writing
// to a file; lockctl reaches the cluster only through a proxy, which then
// stops forwarding while lockctl keeps running. A second lockctl waits for
// the same lock and writes to the file once its command runs. Every line
// of the first command comes before the second's: lockctl told its command
// at the start of jeopardy and killed it before the cluster could expire
// the session and grant the lock again. The first lockctl exits 4.
func TestCutOffHolderCommandIsDeadBeforeTheNextHolderStarts(t *testing.T) {
	lockctlBinary(t)
	c, err := startClusterWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	// The holder is given only the leader's address, behind the proxy: it
	// never gets a hint to another address, so the proxy is its only way
	// to the cluster.
	leader := leaderOf(t, c)
	proxy := newBlackhole(t, leader.ClientAddr())

	file := filepath.Join(t.TempDir(), "order")
	holderScript := `trap 'echo A-term >> "$F"' TERM; echo A-start >> "$F"; while :; do echo A-tick >> "$F"; sleep 0.02; done`
	holder := c.startWith(t, proxy.addr(), []string{"F=" + file},
		"lock", "--ttl", "3s", "--lock-delay", "0", "bin/cutoff", "--", "sh", "-c", holderScript)
	waitFor(t, 30*time.Second, "the first command to start", func() bool {
		b, _ := os.ReadFile(file)
		return strings.Contains(string(b), "A-tick")
	})
	waiter := c.startWith(t, c.endpoints(), []string{"F=" + file},
		"lock", "--ttl", "3s", "bin/cutoff", "--", "sh", "-c", `echo B-start >> "$F"`)
	waitFor(t, 30*time.Second, "the second lockctl to wait in the queue", func() bool {
		code, out, _ := c.run(t, "locks", "show", "bin/cutoff")
		return code == 0 && strings.Contains(out, "waiter 1")
	})

	proxy.cut.Store(true)
	if code := holder.wait(60 * time.Second); code != exitLockLost {
		t.Fatalf("holder exit %d, want %d\nstderr %s", code, exitLockLost, holder.stderr)
	}
	if code := waiter.wait(60 * time.Second); code != 0 {
		t.Fatalf("waiter exit %d\nstderr %s", code, waiter.stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	if i := slices.Index(lines, "B-start"); i < 0 || i != len(lines)-1 || strings.Count(string(b), "B-start") != 1 {
		after := lines[max(i, 0):]
		t.Fatalf("the first command ran on after the second started: %d lines from B-start on: %q\nholder stderr:\n%s",
			len(after), after[:min(len(after), 8)], holder.stderr)
	}
	for _, want := range []string{"A-start", "A-term"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("no %s in:\n%s\nholder stderr:\n%s", want, b, holder.stderr)
		}
	}
	if !strings.Contains(holder.stderr.String(), "SIGKILL") {
		t.Errorf("holder did not send SIGKILL to the command that ignores SIGTERM:\n%s", holder.stderr)
	}
}

// leaderOf returns the cluster's current leader.
func leaderOf(t *testing.T, c *testCluster) *server.Server {
	t.Helper()
	for _, s := range c.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := s.Status(ctx)
		cancel()
		if err == nil && st.Leader == st.ID {
			return s
		}
	}
	t.Fatal("no node says it leads")
	return nil
}

// killWait leaves half of the time to the earliest grant (the earliest
// expiry plus the lock-delay shortened by the clock bound) to the command,
// never more than --grace, and nothing once that moment is past.
func TestKillWaitIsHalfwayToTheEarliestGrant(t *testing.T) {
	now := time.Unix(1000, 0)
	cases := []struct {
		expiry    time.Duration // after now
		lockDelay time.Duration
		grace     time.Duration
		want      time.Duration
	}{
		{2 * time.Second, 0, 10 * time.Second, time.Second},
		{2 * time.Second, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{2 * time.Second, 1010 * time.Millisecond, 10 * time.Second, 1500 * time.Millisecond},
		{-time.Second, 0, 10 * time.Second, 0},
	}
	for _, tc := range cases {
		if got := killWait(now, now.Add(tc.expiry), tc.lockDelay, tc.grace); got != tc.want {
			t.Errorf("killWait(expiry +%v, lock-delay %v, grace %v) = %v, want %v", tc.expiry, tc.lockDelay, tc.grace, got, tc.want)
		}
	}
	if got := killWait(now, time.Time{}, 0, time.Second); got != 0 {
		t.Errorf("killWait of an ended session = %v, want 0", got)
	}
}

// TestCutOffElectSaysLostBeforeTheNextLeaderIsElected: the leader's
// `lockctl elect` reaches the cluster only through a proxy that then stops
// forwarding; it prints "lost" and exits 4 at the start of jeopardy, while
// the second candidate (default lock-delay: none) is not yet elected; the
// second is elected after.
func TestCutOffElectSaysLostBeforeTheNextLeaderIsElected(t *testing.T) {
	lockctlBinary(t)
	c, err := startClusterWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	proxy := newBlackhole(t, leaderOf(t, c).ClientAddr())
	const name = "bin/cutoff-elect"
	first := c.startWith(t, proxy.addr(), nil, "elect", "--ttl", "3s", name, "first")
	waitFor(t, 30*time.Second, "the first candidate to be elected", func() bool {
		return strings.Contains(first.stdout.String(), "elected:")
	})
	second := c.start(t, nil, "elect", "--ttl", "3s", name, "second")
	waitFor(t, 30*time.Second, "the second candidate to queue", func() bool {
		code, out, _ := c.run(t, "locks", "show", name)
		return code == 0 && strings.Contains(out, "waiter 1")
	})
	proxy.cut.Store(true)
	select {
	case <-first.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("first candidate still running 60s after the cut:\n%s", first.stderr)
	}
	if strings.Contains(second.stdout.String(), "elected") {
		t.Fatalf("second elected before the first said it lost:\nfirst: %s\nsecond: %s", first.stdout, second.stdout)
	}
	if code := first.cmd.ProcessState.ExitCode(); code != exitLockLost || !strings.Contains(first.stdout.String(), "lost:") {
		t.Fatalf("first: exit %d, want %d and a lost line\nstdout %s\nstderr %s", code, exitLockLost, first.stdout, first.stderr)
	}
	waitFor(t, 60*time.Second, "the second candidate to be elected", func() bool {
		return strings.Contains(second.stdout.String(), "elected:")
	})
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.wait(30 * time.Second); code != 0 {
		t.Fatalf("second exit %d\nstderr %s", code, second.stderr)
	}
}
