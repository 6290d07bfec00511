package rpc

import (
	"context"
	"errors"
	"testing"

	"github.com/lockd/lockd/internal/syncbuf"
)

// Each bad frame closes only the connection that sent it, with a logged
// reason; another connection on the same server keeps working.
func TestBadFrameClosesOnlyItsConnection(t *testing.T) {
	cases := []struct {
		name   string
		frame  []byte
		reason string
	}{
		{"oversized", func() []byte {
			var h [headerLen]byte
			putHeader(&h, typEcho, 1, 64<<20)
			return h[:]
		}(), "frame too large"},
		{"unknown reserved type", rawFrame(0xfe, 1, []byte{0x01}), "unknown message type"},
		{"type without handler", rawFrame(0x77, 1, []byte{0x01}), "unknown message type"},
		{"response from the dial side", rawFrame(TypeResponse, 1, []byte{0x01}), "unknown message type"},
		{"array32 header of 4G", rawFrame(typEcho, 1, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}), "undecodable body"},
		{"map32 header of 4G", rawFrame(typEcho, 1, []byte{0xdf, 0xff, 0xff, 0xff, 0xff}), "undecodable body"},
		{"too deep", rawFrame(typEcho, 1, nest(40)), "nesting too deep"},
		{"wrong shape for the handler", rawFrame(typEcho, 1, []byte{0xa3, 'a', 'b', 'c'}), "undecodable body"},
		{"wrong shape one-way", rawFrame(typEcho, 0, []byte{0xa3, 'a', 'b', 'c'}), "undecodable body"},
		{"duplicate request id", append(rawFrame(typBlock, 5, []byte{0x01}), rawFrame(typBlock, 5, []byte{0x01})...), "duplicate request id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			s, addr := startServer(t, testConfig(logs), KindClient)
			registerEcho(t, s)
			release := make(chan struct{})
			defer close(release)
			err := s.Handle(typBlock, func(ctx context.Context, _ *Conn, _ MsgType, _ Body) (any, error) {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			good := dial(t, addr, KindClient, testConfig(nil))
			bad := rawDial(t, addr, KindClient, "")
			if _, err := bad.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			waitClosedByServer(t, bad)
			waitLog(t, logs, tc.reason)
			var resp echoResp
			if err := good.Call(context.Background(), typEcho, echoReq{N: 4}, &resp); err != nil || resp.N != 8 {
				t.Fatalf("other connection after the bad frame: %+v %v", resp, err)
			}
			if n := len(s.Conns()); n != 1 {
				t.Fatalf("server has %d connections, want 1", n)
			}
		})
	}
}

func TestClientClosesOnBadServerFrame(t *testing.T) {
	// A server that answers a request with a malformed body: the dial side
	// closes the connection with the reason, and the pending call fails.
	s, addr := startServer(t, testConfig(nil), KindClient)
	err := s.Handle(typEcho, func(_ context.Context, c *Conn, _ MsgType, _ Body) (any, error) {
		// Push a frame the client has no handler for.
		return nil, c.Push(typEvent, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	err = c.Call(context.Background(), typEcho, echoReq{}, nil)
	<-c.Done()
	if !errors.Is(c.Err(), ErrUnknownType) || !errors.Is(c.Err(), ErrConnLost) {
		t.Fatalf("connection error %v, want ErrConnLost wrapping ErrUnknownType", c.Err())
	}
	if err != nil && !errors.Is(err, ErrConnLost) {
		t.Fatalf("call: %v", err)
	}
}

func TestResponseThatDoesNotDecodeClosesTheConnection(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	err := s.Handle(typEcho, func(context.Context, *Conn, MsgType, Body) (any, error) {
		return "not a struct", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	var resp echoResp
	if err := c.Call(context.Background(), typEcho, echoReq{}, &resp); !errors.Is(err, ErrDecode) {
		t.Fatalf("got %v, want ErrDecode", err)
	}
	<-c.Done()
}
