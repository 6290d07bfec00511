package rpc

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
)

// pipeListener hands net.Pipe ends to a Server without touching the
// network, so a fuzz target can run thousands of connections.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// FuzzServerConn feeds arbitrary bytes, after a valid handshake, to a
// real Server connection: whatever arrives, the server must not panic,
// and must close or keep serving that one connection only.
func FuzzServerConn(f *testing.F) {
	for _, b := range fuzzBodies(f) {
		f.Add(rawFrame(typEcho, 1, b))
		f.Add(rawFrame(typEcho, 0, b))
	}
	f.Add(rawFrame(typEcho, 1, mustEncode(f, echoReq{N: 1})))
	f.Add(append(rawFrame(typBlock, 7, []byte{0xc0}), rawFrame(TypeCancel, 7, nil)...))
	f.Add(rawFrame(TypePing, 0, nil))
	f.Add(append(rawFrame(typBlock, 5, []byte{0x01}), rawFrame(typBlock, 5, []byte{0x01})...))

	cfg := testConfig(nil)
	cfg.MaxFrameSize = 1 << 16
	cfg.MaxInFlight = 4
	s, err := NewServer(cfg, KindClient)
	if err != nil {
		f.Fatal(err)
	}
	registerEcho(f, s)
	err = s.Handle(typBlock, func(ctx context.Context, _ *Conn, _ MsgType, b Body) (any, error) {
		var v any
		return v, b.Decode(&v)
	})
	if err != nil {
		f.Fatal(err)
	}
	ln := newPipeListener()
	go func() { _ = s.Serve(ln) }()
	f.Cleanup(func() { _ = s.Close() })

	var hello bytes.Buffer
	if err := writeHello(&hello, helloOf(KindClient)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		ln.conns <- server
		drained := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, client)
			close(drained)
		}()
		_, _ = client.Write(hello.Bytes())
		_, _ = client.Write(in)
		_ = client.Close()
		<-drained
	})
}

func helloOf(k Kind) hello { return hello{version: ProtocolVersion, b: uint8(k)} }
