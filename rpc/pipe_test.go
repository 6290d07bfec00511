package rpc

import (
	"net"
	"testing"
	"time"
)

// fromConn is a net.Conn that claims a remote address.
type fromConn struct {
	net.Conn
	remote net.Addr
}

func (c fromConn) RemoteAddr() net.Addr { return c.remote }

// servePipes starts a server on a pipeListener; both are closed at cleanup.
func servePipes(t testing.TB, cfg Config, kind Kind) (*Server, *pipeListener) {
	t.Helper()
	s, err := NewServer(cfg, kind)
	if err != nil {
		t.Fatal(err)
	}
	ln := newPipeListener()
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		_ = ln.Close()
	})
	return s, ln
}

// dialPipe connects to ln as if from ip (any address if empty) and
// returns the dial side's end, without a handshake.
func dialPipe(t testing.TB, ln *pipeListener, ip string) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	if ip != "" {
		server = fromConn{server, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
	}
	t.Cleanup(func() { _ = client.Close() })
	select {
	case ln.conns <- server:
	case <-time.After(10 * time.Second):
		t.Fatal("the server does not accept")
	}
	return client
}

// pipeHandshake runs the dial side's handshake by hand on nc and fails
// the test unless the server accepts it.
func pipeHandshake(t testing.TB, nc net.Conn, kind Kind, id string) {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer func() { _ = nc.SetDeadline(time.Time{}) }()
	if err := writeHello(nc, hello{version: ProtocolVersion, b: uint8(kind), id: id}); err != nil {
		t.Fatal(err)
	}
	h, err := readHello(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := replyError(h); err != nil {
		t.Fatal(err)
	}
}

// waitDone waits for a server-side connection to close.
func waitDone(t testing.TB, c *Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not close the connection")
	}
}
