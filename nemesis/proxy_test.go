package nemesis

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
)

// echoServer accepts connections, swallows the 9+len(id)-byte hello and
// echoes every line after it.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, _, err := readHello(c); err != nil {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func hello(id string) []byte {
	return append([]byte{'L', 'O', 'C', 'K', 'D', 0, 1, 1, byte(len(id))}, id...)
}

// dialAs connects to addr as node id and reports whether a line makes the
// round trip.
func dialAs(t *testing.T, addr, id string) (net.Conn, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(append(hello(id), "ping\n"...)); err != nil {
		return c, false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return c, err == nil && line == "ping\n"
}

func TestProxyCutsOneDirectionByHandshakeSender(t *testing.T) {
	n := NewNetwork()
	defer n.Close()
	p, err := n.Listen("n2", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c1, ok := dialAs(t, p.Addr(), "n1")
	if !ok {
		t.Fatal("n1->n2 did not pass before any cut")
	}
	n.Cut("n1", "n2")
	// The open connection from n1 is closed...
	_ = c1.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c1.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("n1's open connection survived the cut: %v", err)
	}
	// ...new ones are refused, and n3's traffic still flows.
	if _, ok := dialAs(t, p.Addr(), "n1"); ok {
		t.Fatal("a new n1->n2 connection passed the cut")
	}
	if _, ok := dialAs(t, p.Addr(), "n3"); !ok {
		t.Fatal("n3->n2 was cut along with n1->n2")
	}
	n.Heal("n1", "n2")
	if _, ok := dialAs(t, p.Addr(), "n1"); !ok {
		t.Fatal("n1->n2 did not pass after the heal")
	}
}

func TestProxyRefusesConnectionsWithoutHandshake(t *testing.T) {
	n := NewNetwork()
	defer n.Close()
	p, err := n.Listen("n2", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(6 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection without lockd's handshake was forwarded")
	}
}

func TestOutcomeOfErrors(t *testing.T) {
	cases := map[error]Outcome{
		nil:                      OutcomeOK,
		client.ErrLockHeld:       OutcomeHeld,
		client.ErrFenced:         OutcomeFenced,
		client.ErrAlreadyHolder:  OutcomeAlready,
		client.ErrInvalidName:    OutcomeFailed,
		client.ErrSessionExpired: OutcomeUnknown, // may follow an applied retry
		client.ErrNoQuorum:       OutcomeUnknown,
		io.ErrUnexpectedEOF:      OutcomeUnknown,
	}
	for err, want := range cases {
		if got := outcomeOf(err); got != want {
			t.Errorf("outcomeOf(%v) = %s, want %s", err, got, want)
		}
	}
}
