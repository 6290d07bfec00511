package rpc

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/syncbuf"
)

// refusedAtOnce checks that the server closed nc without a handshake
// reply: a refused connection gets no bytes. Tests that use it give the
// server an hour's HandshakeTimeout, so that a close can only be a
// refusal.
func refusedAtOnce(t testing.TB, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	n, err := nc.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server did not close the connection")
	}
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes (%v) from a connection the server should refuse", n, err)
	}
}

func TestServerRefusesConnectionsBeyondMaxConns(t *testing.T) {
	logs := &syncbuf.Buffer{}
	cfg := testConfig(logs)
	cfg.MaxConns = 2
	cfg.HandshakeTimeout = time.Hour
	s, addr := startServer(t, cfg, KindClient)
	conns := make(chan *Conn, 2)
	s.OnConnect(func(c *Conn) { conns <- c })
	clients := map[string]net.Conn{}
	for range 2 {
		nc := rawDial(t, addr, KindClient, "")
		clients[nc.LocalAddr().String()] = nc
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	refusedAtOnce(t, third)
	st := s.Stats()
	if st.RefusedMaxConns != 1 || st.Conns != 2 {
		t.Fatalf("stats %+v, want 1 refused and 2 held", st)
	}
	waitLog(t, logs, "reason=max_conns")

	// A place freed by a close is free by the time the remote sees it.
	sc := <-conns
	sc.Close()
	waitClosedByServer(t, clients[sc.RemoteAddr().String()])
	rawDial(t, addr, KindClient, "")
}

func TestServerRefusesConnectionsBeyondMaxConnsPerIP(t *testing.T) {
	cfg := testConfig(nil)
	cfg.MaxConnsPerIP = 2
	cfg.HandshakeTimeout = time.Hour
	s, ln := servePipes(t, cfg, KindClient)
	for range 2 {
		pipeHandshake(t, dialPipe(t, ln, "10.0.0.1"), KindClient, "")
	}
	refusedAtOnce(t, dialPipe(t, ln, "10.0.0.1"))
	refusedAtOnce(t, dialPipe(t, ln, "::ffff:10.0.0.1")) // the same address, IPv4-mapped
	pipeHandshake(t, dialPipe(t, ln, "10.0.0.2"), KindClient, "")
	st := s.Stats()
	if st.RefusedMaxConnsPerIP != 2 || st.RefusedMaxConns != 0 || st.Conns != 3 {
		t.Fatalf("stats %+v, want 2 refused per IP and 3 held", st)
	}
}

// A connection in its handshake holds a place too, so a flood of silent
// sockets cannot get past MaxConns; each is closed after HandshakeTimeout
// and gives its place back.
func TestSilentHandshakesHoldAPlaceUntilTheirDeadline(t *testing.T) {
	cfg := testConfig(nil)
	cfg.MaxConns = 1
	cfg.HandshakeTimeout = 50 * time.Millisecond
	s, addr := startServer(t, cfg, KindClient)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	other, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	refusedAtOnce(t, other)
	waitClosedByServer(t, silent) // the handshake deadline
	st := s.Stats()
	if st.HandshakesFailed != 1 || st.Conns != 0 || st.RefusedMaxConns != 1 {
		t.Fatalf("stats %+v, want 1 failed handshake, 1 refused, none held", st)
	}
	rawDial(t, addr, KindClient, "")
}

// A flood of refusals logs one warning a second, with the number held
// back; the rest go to debug.
func TestRefusalsAreLoggedAtMostOnceASecond(t *testing.T) {
	logs := &syncbuf.Buffer{}
	cfg := testConfig(logs)
	cfg.MaxConns = 1
	cfg.HandshakeTimeout = time.Hour
	s, ln := servePipes(t, cfg, KindClient)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.refusedLog.now = func() time.Time { return now } // read by the accept loop after each refusal below
	pipeHandshake(t, dialPipe(t, ln, "10.0.0.1"), KindClient, "")
	for range 5 {
		refusedAtOnce(t, dialPipe(t, ln, "10.0.0.1"))
	}
	if n := strings.Count(logs.String(), "refusing connections"); n != 1 {
		t.Fatalf("%d warnings for 5 refusals in one second, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "refused connection"); n != 4 {
		t.Fatalf("%d debug lines, want 4:\n%s", n, logs.String())
	}
	now = now.Add(time.Second)
	refusedAtOnce(t, dialPipe(t, ln, "10.0.0.1"))
	if !strings.Contains(logs.String(), "suppressed=4") {
		t.Fatalf("the second warning does not count the 4 held back:\n%s", logs.String())
	}
}

func TestDialToAFullServerFails(t *testing.T) {
	cfg := testConfig(nil)
	cfg.MaxConns = 1
	cfg.HandshakeTimeout = time.Hour
	_, addr := startServer(t, cfg, KindClient)
	cfg = testConfig(nil)
	dial(t, addr, KindClient, cfg)
	// The server closes without a word: the dial side sees EOF or a reset.
	if _, err := Dial(context.Background(), addr, KindClient, cfg); err == nil {
		t.Fatal("dial to a full server succeeded")
	}
}
