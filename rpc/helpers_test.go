package rpc

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/internal/syncbuf"
)

func testConfig(logs io.Writer) Config {
	cfg := DefaultConfig()
	if logs != nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	}
	return cfg
}

// startServer starts a server on a loopback port; it is closed at cleanup.
func startServer(t testing.TB, cfg Config, kind Kind) (*Server, string) {
	t.Helper()
	s, err := NewServer(cfg, kind)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, addr.String()
}

func dial(t testing.TB, addr string, kind Kind, cfg Config, opts ...DialOption) *ClientConn {
	t.Helper()
	if kind == KindPeer && cfg.NodeID == "" {
		cfg.NodeID = "n1"
	}
	c, err := Dial(context.Background(), addr, kind, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// rawDial connects and completes the handshake by hand, for tests that
// write arbitrary frames.
func rawDial(t testing.TB, addr string, kind Kind, id string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
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
	return nc
}

func rawFrame(typ MsgType, id uint64, body []byte) []byte {
	var h [headerLen]byte
	putHeader(&h, typ, id, len(body))
	return append(h[:], body...)
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitClosedByServer reads from nc until the server closes it, failing
// the test if the server sends a frame other than skip types first or
// does not close within a generous bound.
func waitClosedByServer(t testing.TB, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [headerLen]byte
	for {
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("server did not close the connection")
			}
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if _, err := io.CopyN(io.Discard, nc, int64(n)); err != nil {
			return
		}
	}
}

// waitLog waits until the server's log mentions want (the close reason is
// logged just before the socket closes, so it is there once the client
// has seen the close).
func waitLog(t testing.TB, logs *syncbuf.Buffer, want string) {
	t.Helper()
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("log does not mention %q:\n%s", want, logs.String())
	}
}

// Message types used in tests.
const (
	typEcho MsgType = iota + 1
	typBlock
	typFail
	typSubscribe
	typEvent
	typRaft
)

type echoReq struct {
	N    int
	Text string
	Data []byte
}

type echoResp struct {
	N    int
	Text string
}

func registerEcho(t testing.TB, s *Server) {
	t.Helper()
	err := Register(s, typEcho, func(_ context.Context, _ *Conn, r *echoReq) (any, error) {
		return echoResp{N: r.N * 2, Text: r.Text}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
