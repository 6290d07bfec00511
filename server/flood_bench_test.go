package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// Shape of the connection flood, spread evenly over the three nodes'
// client ports: 5,000 connections in all.
const (
	floodIdle    = 4800 // handshake done, then silent
	floodStuck   = 150  // stop after 4 bytes of the handshake
	floodSlow    = 50   // pipeline 1 MiB ListLocks, never read
	floodPerSlow = 20   // ListLocks each slow reader sends
)

// BenchmarkPairsUnderConnectionFlood runs 16 clients doing acquire+release
// pairs on a three-node in-process cluster, alone (flood=false) and while
// 5,000 other connections are held open against the nodes' client ports
// (flood=true): mostly idle, some stuck in their handshake, some that
// pipeline large reads and never read the answers. It reports the pairs
// per second, the Go heap in use at its peak and the process's peak RSS
// (the three nodes and the flood's own sockets together), and how many
// slow readers were cut and handshakes failed.
//
//	go test ./server/ -run '^$' -bench PairsUnderConnectionFlood -benchtime 10000x -count 3 -timeout 15m
func BenchmarkPairsUnderConnectionFlood(b *testing.B) {
	for _, flood := range []bool{false, true} {
		b.Run(fmt.Sprintf("flood=%v", flood), func(b *testing.B) { benchFlood(b, flood) })
	}
}

func benchFlood(b *testing.B, flood bool) {
	const clients = 16
	var mu sync.Mutex
	var regs []*prometheus.Registry
	c := newSvcCluster(b, 3, func(cfg *Config) {
		r := prometheus.NewRegistry()
		mu.Lock()
		regs = append(regs, r)
		mu.Unlock()
		cfg.Registerer = r
		cfg.RPC.MaxConnsPerIP = 0 // every connection comes from 127.0.0.1
		cfg.FSM.Locks.MaxValueLen = 64 << 10
	})
	lead := c.leader()
	var addrs []string
	for _, id := range c.ids() {
		addrs = append(addrs, c.servers[id].ClientAddr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var closers []io.Closer
	defer func() {
		for _, cl := range closers {
			_ = cl.Close()
		}
	}()
	if flood {
		// A table whose ListLocks answer is about 1 MiB.
		w := dialClient(b, lead.ClientAddr())
		s := w.open(time.Hour)
		value := bytes.Repeat([]byte{'v'}, 64<<10)
		for i := range 16 {
			var r api.AcquireResponse
			w.must(api.MsgAcquire, &api.AcquireRequest{Write: w.write(s), Name: fmt.Sprintf("flood/%d", i), Mode: api.ModeExclusive, Value: value}, &r)
		}
		hello := append([]byte("LOCKD\x00\x01"), byte(rpc.KindClient), 0)
		for i := range floodIdle {
			nc, err := net.Dial("tcp", addrs[i%len(addrs)])
			if err != nil {
				b.Fatalf("idle connection %d: %v", i, err)
			}
			closers = append(closers, nc)
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Write(hello); err != nil {
				b.Fatal(err)
			}
			var reply [9]byte
			if _, err := io.ReadFull(nc, reply[:]); err != nil || reply[7] != 0 {
				b.Fatalf("idle connection %d: handshake %v status %d", i, err, reply[7])
			}
			if _, err := io.CopyN(io.Discard, nc, int64(reply[8])); err != nil {
				b.Fatal(err)
			}
			_ = nc.SetDeadline(time.Time{})
		}
		for i := range floodStuck {
			nc, err := net.Dial("tcp", addrs[i%len(addrs)])
			if err != nil {
				b.Fatalf("stuck connection %d: %v", i, err)
			}
			closers = append(closers, nc)
			_, _ = nc.Write(hello[:4])
		}
		for i := range floodSlow {
			sc, dialer := stopReadingDialer()
			slow, err := rpc.Dial(ctx, addrs[i%len(addrs)], rpc.KindClient, rpc.DefaultConfig(), rpc.WithDialer(dialer))
			if err != nil {
				b.Fatalf("slow reader %d: %v", i, err)
			}
			closers = append(closers, slow)
			close(sc.stopped)
			for range floodPerSlow {
				go func() {
					_ = slow.Call(ctx, rpc.MsgType(api.MsgListLocks), &api.ListLocksRequest{Prefix: "flood/"}, nil)
				}()
			}
		}
	}

	cls := make([]*svcClient, clients)
	ss := make([]uint64, clients)
	for i := range cls {
		cls[i] = dialClient(b, lead.ClientAddr())
		ss[i] = cls[i].open(time.Hour)
	}
	var peakHeap atomic.Uint64
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peakHeap.Load() {
				peakHeap.Store(ms.HeapInuse)
			}
			select {
			case <-t.C:
			case <-stopSampling:
				return
			}
		}
	}()
	per := b.N/clients + 1
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("bench/%d", i)
			for range per {
				r, err := cls[i].acquire(ss[i], name, false)
				if err != nil {
					b.Error(err)
					return
				}
				if err := cls[i].call(api.MsgRelease, &api.ReleaseRequest{Write: cls[i].write(ss[i]), Name: name, Token: r.Token}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stopSampling)
	<-sampled
	b.ReportMetric(float64(per*clients)/elapsed.Seconds(), "pairs/s")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-rss-MiB")
	if flood {
		var cut, failed float64
		for _, r := range regs {
			cut += labeledValue2(b, r, "lockd_rpc_connections_cut_total", "client")
			failed += labeledValue2(b, r, "lockd_rpc_handshakes_failed_total", "client")
		}
		b.ReportMetric(cut, "slow-cut")
		b.ReportMetric(failed, "handshakes-failed")
	}
}

// labeledValue2 sums the counter name over the series of listener.
func labeledValue2(b *testing.B, reg *prometheus.Registry, name, listener string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "listener" && lp.GetValue() == listener && m.Counter != nil {
					sum += m.Counter.GetValue()
				}
			}
		}
	}
	return sum
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
