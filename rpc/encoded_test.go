package rpc

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// A handler's Encoded answer reaches the caller as if the handler had
// returned the value itself; one over MaxFrameSize is refused by Encode.
func TestEncodedAnswersArriveAsTheValue(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindClient)
	if err := Register(s, typEcho, func(_ context.Context, c *Conn, r *echoReq) (any, error) {
		if r.N < 0 {
			return c.Encode(bytes.Repeat([]byte{1}, c.cfg.MaxFrameSize))
		}
		return c.Encode(echoResp{N: 2 * r.N, Text: r.Text})
	}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, KindClient, testConfig(nil))
	var r echoResp
	if err := c.Call(context.Background(), typEcho, echoReq{N: 21, Text: "x"}, &r); err != nil || r.N != 42 || r.Text != "x" {
		t.Fatalf("got %+v, %v", r, err)
	}
	err := c.Call(context.Background(), typEcho, echoReq{N: -1}, &r)
	var re *RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("oversized answer: %v, want a remote error", err)
	}
	codec := codecFor(32)
	want, _ := codec.Encode(echoResp{N: 1})
	if got, _ := codec.Encode(Encoded(want)); !bytes.Equal(got, want) || &got[0] != &want[0] {
		t.Fatalf("Encoded re-encoded: %x, want %x as is", got, want)
	}
}
