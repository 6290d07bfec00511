package rpc

import (
	"context"
	"testing"
	"time"
)

// A connection holds its write buffer only while it writes: once 20
// connections have answered a call each and gone idle, neither side of
// any of them holds one, so idle connections cost their read buffers
// only.
func TestIdleConnectionsHoldNoWriteBuffer(t *testing.T) {
	before := writeBuffersHeld.Load()
	s, addr := startServer(t, testConfig(nil), KindClient)
	registerEcho(t, s)
	for i := range 20 {
		c := dial(t, addr, KindClient, testConfig(nil))
		var r echoResp
		if err := c.Call(context.Background(), typEcho, echoReq{N: i}, &r); err != nil || r.N != 2*i {
			t.Fatalf("call %d: %+v, %v", i, r, err)
		}
	}
	if got := len(s.Conns()); got != 20 {
		t.Fatalf("%d connections open, want 20", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for writeBuffersHeld.Load() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d write buffers held by idle connections, want none", writeBuffersHeld.Load()-before)
		}
		time.Sleep(time.Millisecond) // polls a condition; no timing is assumed
	}
}
