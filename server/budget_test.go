package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// stopReadingConn is a client socket that reads until stop, then never
// again (until Close): the server's answers pile up in the kernel's
// buffers and then in the server's queue.
type stopReadingConn struct {
	net.Conn
	stopped chan struct{}
	closed  chan struct{}
	once    sync.Once
}

func (c *stopReadingConn) Read(p []byte) (int, error) {
	select {
	case <-c.stopped:
		<-c.closed
		return 0, net.ErrClosed
	default:
		return c.Conn.Read(p)
	}
}

func (c *stopReadingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// stopReadingDialer returns a stopReadingConn and the rpc dialer that
// fills it in. The socket gets a small receive window, so that the kernel
// holds little of what the server sends (its send buffer is bounded by
// tcp_wmem).
func stopReadingDialer() (*stopReadingConn, func(ctx context.Context, network, addr string) (net.Conn, error)) {
	sc := &stopReadingConn{stopped: make(chan struct{}), closed: make(chan struct{})}
	return sc, func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		_ = nc.(*net.TCPConn).SetReadBuffer(16 << 10)
		sc.Conn = nc
		return sc, nil
	}
}

// labeledValue is the value of the series of name whose labels include
// every pair of want; 0 if there is none.
func labeledValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := 0
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
					match++
				}
			}
			if match == len(want) && m.Counter != nil {
				return m.Counter.GetValue()
			}
		}
	}
	return 0
}

// A client that pipelines large ListLocks and stops reading the answers is
// cut off as a slow reader, counted in
// lockd_rpc_connections_cut_total{listener="client",reason="slow_reader"};
// another client on the same node keeps being answered.
func TestClientThatStopsReadingLargeListsIsCut(t *testing.T) {
	var reg *prometheus.Registry
	c := newSvcCluster(t, 1, func(cfg *Config) {
		reg = prometheus.NewRegistry()
		cfg.Registerer = reg
		cfg.FSM.Locks.MaxValueLen = 256 << 10
	})
	lead := c.leader()
	w := dialClient(t, lead.ClientAddr())
	s := w.open(time.Minute)
	// Four locks of 256 KiB values: each ListLocks answer is about 1 MiB.
	value := bytes.Repeat([]byte{'v'}, 256<<10)
	for i := range 4 {
		var r api.AcquireResponse
		w.must(api.MsgAcquire, &api.AcquireRequest{Write: w.write(s), Name: fmt.Sprintf("big/%d", i), Mode: api.ModeExclusive, Value: value}, &r)
	}

	sc, dialer := stopReadingDialer()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slow, err := rpc.Dial(ctx, lead.ClientAddr(), rpc.KindClient, rpc.DefaultConfig(), rpc.WithDialer(dialer))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	close(sc.stopped)
	// 32 answers of 1 MiB: far more than the kernel's buffers (a few MiB)
	// and the 8 MiB budget hold.
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = slow.Call(ctx, rpc.MsgType(api.MsgListLocks), &api.ListLocksRequest{Prefix: "big/"}, nil)
		}()
	}
	cut := map[string]string{"listener": "client", "reason": "slow_reader"}
	svcWait(t, "the slow reader to be cut", 20*time.Second, func() bool {
		return labeledValue(t, reg, "lockd_rpc_connections_cut_total", cut) == 1
	})
	_ = slow.Close()
	wg.Wait()
	if !errors.Is(slow.Err(), rpc.ErrClosed) && !errors.Is(slow.Err(), rpc.ErrConnLost) {
		t.Fatalf("slow client's connection: %v", slow.Err())
	}

	// The client that reads is unaffected: same node, same answers.
	var list api.ListLocksResponse
	w.must(api.MsgListLocks, &api.ListLocksRequest{Prefix: "big/"}, &list)
	if len(list.Locks) != 4 || len(list.Locks[0].Holders) != 1 || !bytes.Equal(list.Locks[0].Holders[0].Value, value) {
		t.Fatalf("the reading client got %d locks", len(list.Locks))
	}
	if got := labeledValue(t, reg, "lockd_rpc_connections_cut_total", cut); got != 1 {
		t.Fatalf("%v connections cut, want only the slow reader's", got)
	}
}

// Listings are built a few at a time on a node: while maxListingsAtOnce
// are being built, another waits for its turn (here until its deadline),
// and goes through once one ends.
func TestListingsAreBuiltAFewAtATime(t *testing.T) {
	c := newSvcCluster(t, 1, func(cfg *Config) { cfg.RequestTimeout = 300 * time.Millisecond })
	lead := c.leader()
	w := dialClient(t, lead.ClientAddr())
	s := w.open(time.Minute)
	if _, err := w.acquire(s, "listed", false); err != nil {
		t.Fatal(err)
	}
	for range cap(lead.listings) {
		lead.listings <- struct{}{} // as many listings as allowed, being built
	}
	var locks api.ListLocksResponse
	err := w.callRaw(api.MsgListLocks, &api.ListLocksRequest{}, &locks)
	var re *rpc.RemoteError
	if !errors.As(err, &re) || api.Code(re.Code) != api.CodeNoQuorum {
		t.Fatalf("ListLocks with every turn taken: %v, want the request's deadline", err)
	}
	var sessions api.ListSessionsResponse
	if err := w.callRaw(api.MsgListSessions, &api.ListSessionsRequest{}, &sessions); !errors.As(err, &re) {
		t.Fatalf("ListSessions with every turn taken: %v, want the request's deadline", err)
	}
	<-lead.listings // one ends
	if err := w.callRaw(api.MsgListLocks, &api.ListLocksRequest{}, &locks); err != nil || len(locks.Locks) != 1 {
		t.Fatalf("ListLocks with a turn free: %+v, %v", locks, err)
	}
	if err := w.callRaw(api.MsgListSessions, &api.ListSessionsRequest{}, &sessions); err != nil || len(sessions.Sessions) != 1 {
		t.Fatalf("ListSessions with a turn free: %+v, %v", sessions, err)
	}
}
