package rpc

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCallRoundTrip measures the latency of one small Call over
// loopback, one call at a time.
func BenchmarkCallRoundTrip(b *testing.B) {
	s, addr := startServer(b, testConfig(nil), KindClient)
	registerEcho(b, s)
	c := dial(b, addr, KindClient, testConfig(nil))
	ctx := context.Background()
	req := echoReq{N: 1, Text: "jobs/nightly"}
	b.ReportAllocs()
	for b.Loop() {
		var resp echoResp
		if err := c.Call(ctx, typEcho, req, &resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallParallel measures Call throughput with many goroutines
// sharing one connection.
func BenchmarkCallParallel(b *testing.B) {
	s, addr := startServer(b, testConfig(nil), KindClient)
	registerEcho(b, s)
	c := dial(b, addr, KindClient, testConfig(nil))
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var resp echoResp
		for pb.Next() {
			if err := c.Call(context.Background(), typEcho, echoReq{N: 1}, &resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCallConns measures Calls on many connections, one call in
// flight on each, the way many SDK clients load a server. It reports the
// process CPU (user+system, client and server together) per call.
//
//	go test ./rpc -run '^$' -bench CallConns
func BenchmarkCallConns(b *testing.B) {
	s, addr := startServer(b, testConfig(nil), KindClient)
	registerEcho(b, s)
	const conns = 64
	cs := make([]*ClientConn, conns)
	for i := range cs {
		cs[i] = dial(b, addr, KindClient, testConfig(nil))
	}
	var next atomic.Int64
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var resp echoResp
			for next.Add(1) <= int64(b.N) {
				if err := c.Call(context.Background(), typEcho, echoReq{N: 1}, &resp); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSendThroughput measures one-way Send of small Raft-sized
// messages, counted when the receiving handler has seen them.
func BenchmarkSendThroughput(b *testing.B) {
	s, addr := startServer(b, testConfig(nil), KindPeer)
	var received atomic.Int64
	done := make(chan struct{}, 1)
	var want atomic.Int64
	err := s.Handle(typRaft, func(_ context.Context, _ *Conn, _ MsgType, body Body) (any, error) {
		var m fuzzMessage
		if err := body.Decode(&m); err != nil {
			return nil, err
		}
		if received.Add(1) == want.Load() {
			done <- struct{}{}
		}
		return nil, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(nil)
	cfg.SendQueueLen = 1 << 20
	cfg.MaxQueueBytes = 1 << 30 // measure the writer, not the budget
	c := dial(b, addr, KindPeer, cfg)
	msg := fuzzMessage{Type: 3, From: "n1", To: "n2", Term: 7,
		Entries: []fuzzEntry{{Term: 7, Index: 10, Data: make([]byte, 64)}}}
	b.ReportAllocs()
	want.Store(int64(b.N))
	b.ResetTimer()
	for range b.N {
		for {
			err := c.Send(typRaft, msg)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
			// The writer is behind; let it drain rather than drop.
			runtime.Gosched()
		}
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
