package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// BenchmarkAcquireReleasePairs measures acquire+release pairs through the
// client protocol on a three-node loopback cluster with fsync on, each
// client on its own session and lock. It reports pairs/s and the p50 and
// p99 latency of one pair, and the CPU (user+system) the process used per
// pair: servers and clients together.
//
//	go test ./server/ -run '^$' -bench AcquireReleasePairs -benchtime 3s
func BenchmarkAcquireReleasePairs(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchPairs(b, clients, clients)
		})
	}
	// The goroutines of one service sharing its connection, as with
	// lockctl bench --conns 1.
	b.Run("clients=64,conns=1", func(b *testing.B) { benchPairs(b, 64, 1) })
}

// BenchmarkAcquireReleasePairsTLS is BenchmarkAcquireReleasePairs on a
// cluster whose peer and client ports speak mutual TLS 1.3 (ECDSA P-256
// certificates of one CA). Connections are made before the timer starts,
// so it measures the cost of TLS records, not of handshakes.
//
//	go test ./server/ -run '^$' -bench 'AcquireReleasePairs(TLS)?/clients=(1|64)$' -benchtime 3s
func BenchmarkAcquireReleasePairsTLS(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchPairsTLS(b, clients, clients, newTestCA(b))
		})
	}
	b.Run("clients=64,conns=1", func(b *testing.B) { benchPairsTLS(b, 64, 1, newTestCA(b)) })
}

// benchPairs runs clients workers, each with its own session and lock,
// spread round robin over conns connections.
func benchPairs(b *testing.B, clients, conns int) { benchPairsTLS(b, clients, conns, nil) }

// benchPairsTLS is benchPairs, over mutual TLS with certificates of ca
// unless ca is nil.
func benchPairsTLS(b *testing.B, clients, conns int, ca *testCA) {
	var tweak func(*Config)
	clientCfg := rpc.DefaultConfig()
	if ca != nil {
		tweak, clientCfg = ca.withTLS, ca.clientRPC("root")
	}
	c := newSvcCluster(b, 3, tweak)
	lead := c.leader()
	dial := func() *svcClient { return dialClientWith(b, lead.ClientAddr(), clientCfg) }
	type worker struct {
		cl   *svcClient
		s    uint64
		name string
		lat  []time.Duration
	}
	cls := make([]*svcClient, conns)
	for i := range cls {
		cls[i] = dial()
	}
	ws := make([]*worker, clients)
	for i := range ws {
		cl := cls[i%conns]
		ws[i] = &worker{cl: cl, s: cl.open(time.Minute), name: fmt.Sprintf("bench/%d", i)}
	}
	per := b.N/clients + 1
	term0 := lead.node.Term()
	b.ResetTimer()
	cpu0 := processCPU(b)
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				t0 := time.Now()
				r, err := w.cl.acquire(w.s, w.name, false)
				if err != nil {
					b.Error(err)
					return
				}
				if err := w.cl.call(api.MsgRelease, &api.ReleaseRequest{Write: w.cl.write(w.s), Name: w.name, Token: r.Token}, nil); err != nil {
					b.Error(err)
					return
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	var all []time.Duration
	for _, w := range ws {
		all = append(all, w.lat...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "pairs/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		// Servers and clients together: the whole process.
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/pair")
	}
	// Elections during the run (want 0: the timings must hold under load).
	b.ReportMetric(float64(c.leader().node.Term()-term0), "elections")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHeldSessions opens many sessions on a three-node loopback
// cluster (fsync on, real clock) and keeps them alive for a while, the way
// SDK clients do (one KeepAlive per client for all its sessions every
// TTL/3). It reports the sessions lost (want 0) and the CPU the whole
// process used while holding them, in cores — servers and clients
// together, so an upper bound for the servers.
//
//	LOCKD_BENCH_SESSIONS=50000 LOCKD_BENCH_HOLD=60s \
//	  go test ./server/ -run '^$' -bench HeldSessions -benchtime 1x -timeout 10m
func BenchmarkHeldSessions(b *testing.B) {
	n := envInt(b, "LOCKD_BENCH_SESSIONS", 5000)
	hold := envDuration(b, "LOCKD_BENCH_HOLD", 10*time.Second)
	const ttl = 10 * time.Second
	const clients = 64
	c := newSvcCluster(b, 3, func(cfg *Config) { cfg.Clock = nil })
	lead := c.leader()
	cls := make([]*svcClient, clients)
	ids := make([][]uint64, clients)
	var wg sync.WaitGroup
	openStart := time.Now()
	for i := range cls {
		cls[i] = dialClient(b, lead.ClientAddr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < n; j += clients {
				var r api.OpenSessionResponse
				if err := cls[i].call(api.MsgOpenSession, &api.OpenSessionRequest{Key: fmt.Sprintf("held/%d", j), TTL: int64(ttl)}, &r); err != nil {
					b.Error(err)
					return
				}
				ids[i] = append(ids[i], r.Session)
			}
		}()
	}
	wg.Wait()
	b.Logf("opened %d sessions in %v", n, time.Since(openStart))
	var lost atomic.Int64
	keepAlive := func(i int) {
		const batch = 4096
		for k := 0; k < len(ids[i]); k += batch {
			var r api.KeepAliveResponse
			if err := cls[i].call(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: ids[i][k:min(k+batch, len(ids[i]))]}, &r); err != nil {
				b.Error(err)
				return
			}
			lost.Add(int64(len(r.Expired)))
		}
	}
	b.ResetTimer()
	cpu0, wall0 := processCPU(b), time.Now()
	for end := time.Now().Add(hold); time.Now().Before(end); {
		for i := range cls {
			wg.Add(1)
			go func() { defer wg.Done(); keepAlive(i) }()
		}
		wg.Wait()
		time.Sleep(ttl / 3)
	}
	cpu, wall := processCPU(b)-cpu0, time.Since(wall0)
	b.StopTimer()
	var ls api.ListSessionsResponse
	cls[0].must(api.MsgListSessions, &api.ListSessionsRequest{}, &ls)
	if len(ls.Sessions) != n {
		lost.Add(int64(n - len(ls.Sessions)))
	}
	b.ReportMetric(float64(lost.Load()), "sessions-lost")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
	b.ReportMetric(0, "ns/op")
}

func envInt(b *testing.B, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return n
	}
	return def
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return d
	}
	return def
}

// processCPU is the user+system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLeaderFailover crashes the leader (Close: sockets and files shut
// at once, like kill -9 as far as the peers can tell) while a client loops
// on acquire+release, and measures the time from the crash to the next
// pair that succeeds on the new leader. The crashed node is restarted
// between rounds. It reports the median and the worst round.
//
//	go test ./server/ -run '^$' -bench LeaderFailover -benchtime 20x
func BenchmarkLeaderFailover(b *testing.B) { benchFailover(b, nil) }

// BenchmarkLeaderFailoverTLS is BenchmarkLeaderFailover over mutual TLS:
// the client's new connection to the new leader pays a TLS handshake.
func BenchmarkLeaderFailoverTLS(b *testing.B) { benchFailover(b, newTestCA(b)) }

// benchFailover runs BenchmarkLeaderFailover, over TLS with certificates
// of ca unless ca is nil.
func benchFailover(b *testing.B, ca *testCA) {
	c := newSvcCluster(b, 3, func(cfg *Config) {
		cfg.Clock = nil
		if ca != nil {
			ca.withTLS(cfg)
		}
	})
	var cl *svcClient
	if ca != nil {
		cl = dialClientWith(b, c.leader().ClientAddr(), ca.clientRPC("root"))
	} else {
		cl = dialClient(b, c.leader().ClientAddr())
	}
	s := cl.open(10 * time.Second)
	// pair is one acquire+release; a failed step is retried with the same
	// Seq on the next call (dedup answers it if it was applied).
	var held uint64
	var acqW, relW *api.Write
	call := func(typ api.MsgType, req, resp any) error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		cl.mu.Lock()
		conn := cl.conn
		cl.mu.Unlock()
		withSecret(req, harnessSecret)
		return conn.Call(ctx, rpc.MsgType(typ), req, resp)
	}
	pair := func() error {
		if held == 0 {
			if acqW == nil {
				w := cl.write(s)
				acqW = &w
			}
			var r api.AcquireResponse
			if err := call(api.MsgAcquire, &api.AcquireRequest{Write: *acqW, Name: "failover", Mode: api.ModeExclusive}, &r); err != nil {
				return err
			}
			w := cl.write(s)
			held, acqW, relW = r.Token, nil, &w
		}
		if err := call(api.MsgRelease, &api.ReleaseRequest{Write: *relW, Name: "failover", Token: held}, nil); err != nil {
			return err
		}
		held, relW = 0, nil
		return nil
	}
	var rounds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lead := c.leader()
		if err := pair(); err != nil {
			b.Fatal(err)
		}
		crashed := time.Now()
		c.stop(lead.ID())
		ids := c.ids()
		for k := 0; ; k++ {
			err := pair()
			if err == nil {
				break
			}
			// Like the SDK: follow a leader hint, else try the next endpoint.
			var re *rpc.RemoteError
			next := c.cfgs[ids[k%len(ids)]].ClientAddr
			if errors.As(err, &re) && api.Code(re.Code) == api.CodeNotLeader && re.Message != "" {
				next = re.Message
			}
			if cl.connect(next) != nil {
				time.Sleep(5 * time.Millisecond)
			}
		}
		rounds = append(rounds, time.Since(crashed))
		b.StopTimer()
		c.start(lead.ID())
		c.leader()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(rounds)
	b.ReportMetric(float64(rounds[len(rounds)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(rounds[len(rounds)-1].Milliseconds()), "max-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHandoffs measures lock hand-offs per second with clients
// queued on one lock: each waits in the FIFO queue, is woken by its
// PushGranted, and releases at once (one hand-off per grant, no thundering
// herd). Three nodes, loopback, fsync on.
//
//	go test ./server/ -run '^$' -bench Handoffs -benchtime 3000x
func BenchmarkHandoffs(b *testing.B) {
	const clients = 16
	c := newSvcCluster(b, 3, func(cfg *Config) { cfg.Clock = nil })
	lead := c.leader()
	type waiter struct {
		conn   *rpc.ClientConn
		s      uint64
		seq    uint64
		grants chan uint64
	}
	ws := make([]*waiter, clients)
	for i := range ws {
		w := &waiter{grants: make(chan uint64, 4)}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := rpc.Dial(ctx, lead.ClientAddr(), rpc.KindClient, rpc.DefaultConfig(), rpc.WithPushHandler(func(typ rpc.MsgType, body rpc.Body) {
			var g api.GrantedEvent
			if api.PushType(typ) == api.PushGranted && body.Decode(&g) == nil {
				w.grants <- g.Token
			}
		}))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		var r api.OpenSessionResponse
		if err := conn.Call(context.Background(), rpc.MsgType(api.MsgOpenSession), &api.OpenSessionRequest{TTL: int64(time.Minute), Secret: harnessSecret}, &r); err != nil {
			b.Fatal(err)
		}
		w.conn, w.s = conn, r.Session
		ws[i] = w
	}
	next := func(w *waiter) api.Write {
		w.seq++
		return api.Write{Session: w.s, Secret: harnessSecret, Seq: w.seq, LowestUnanswered: w.seq}
	}
	var handoffs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var r api.AcquireResponse
				if err := w.conn.Call(context.Background(), rpc.MsgType(api.MsgAcquire), &api.AcquireRequest{Write: next(w),
					Name: "handoff", Mode: api.ModeExclusive, Wait: true}, &r); err != nil {
					b.Error(err)
					return
				}
				token := r.Token
				if !r.Granted {
					select {
					case token = <-w.grants:
					case <-stop:
						return
					}
				}
				if handoffs.Add(1) > int64(b.N) {
					select {
					case <-stop:
					default:
						close(stop)
					}
				}
				if err := w.conn.Call(context.Background(), rpc.MsgType(api.MsgRelease), &api.ReleaseRequest{Write: next(w),
					Name: "handoff", Token: token}, nil); err != nil {
					b.Error(err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(handoffs.Load())/elapsed.Seconds(), "handoffs/s")
	b.ReportMetric(0, "ns/op")
}
