package rpc

import (
	"context"
	"io"
	"net"
	"runtime"
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

// An idle server connection costs little heap: its small read buffer,
// its queue and its bookkeeping, well under the 64 KiB a read buffer of
// readChunk alone would take. Each connection here has answered a ping,
// so its reader has allocated its buffer and its writer has given its
// own back.
func TestIdleServerConnectionCostsLittleHeap(t *testing.T) {
	const conns = 200
	cfg := testConfig(nil)
	cfg.MaxConnsPerIP = 0
	s, addr := startServer(t, cfg, KindClient)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // the second empties the buffer pools
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	ncs := make([]net.Conn, 0, conns)
	defer func() {
		for _, nc := range ncs {
			_ = nc.Close()
		}
	}()
	for range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		ncs = append(ncs, nc)
		pipeHandshake(t, nc, KindClient, "")
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(rawFrame(TypePing, 1, nil)); err != nil {
			t.Fatal(err)
		}
		var pong [headerLen]byte
		if _, err := io.ReadFull(nc, pong[:]); err != nil || MsgType(pong[4]) != TypePong {
			t.Fatalf("pong: %x, %v", pong, err)
		}
	}
	if got := len(s.Conns()); got != conns {
		t.Fatalf("%d connections open, want %d", got, conns)
	}
	per := (int64(heap()) - int64(before)) / conns
	t.Logf("%d bytes of heap per idle connection", per)
	if per > 40<<10 {
		t.Fatalf("%d bytes of heap per idle connection, want under 40 KiB", per)
	}
}
