package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/internal/faults"
	"github.com/lockd/lockd/internal/freeport"
	"github.com/lockd/lockd/rpc"
)

// fakeClock is the injected time of the servers under test: leases and
// command stamps move only when a test moves it. Advance lets real time
// pass (every node's wall and monotonic readings move by d); StepWall and
// StepNodeWall step wall clocks alone, as NTP or an operator may. Each
// node gets its own Clock (node) with its own monotonic origin, so a
// server that compared monotonic readings across nodes would show it.
type fakeClock struct {
	mu      sync.Mutex
	wall    time.Time     // the true wall time
	mono    time.Duration // real time elapsed since the start
	skew    map[string]time.Duration
	origins map[string]time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{wall: time.Unix(1_700_000_000, 0), skew: map[string]time.Duration{}, origins: map[string]time.Duration{}}
}

// Now is the true wall time (no node's skew).
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

// Advance lets d of real time pass on every node.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.wall = c.wall.Add(d)
	c.mono += d
	c.mu.Unlock()
}

// StepWall steps every node's wall clock by d; no real time passes.
func (c *fakeClock) StepWall(d time.Duration) {
	c.mu.Lock()
	for id := range c.origins {
		c.skew[id] += d
	}
	c.mu.Unlock()
}

// StepNodeWall steps node id's wall clock by d; no real time passes.
func (c *fakeClock) StepNodeWall(id string, d time.Duration) {
	c.mu.Lock()
	c.skew[id] += d
	c.mu.Unlock()
}

// node returns node id's Clock.
func (c *fakeClock) node(id string) Clock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.origins[id]; !ok {
		c.origins[id] = time.Duration(len(c.origins)+1) * 1000 * time.Hour
	}
	return nodeClock{c: c, id: id}
}

// nodeClock is one node's view of a fakeClock.
type nodeClock struct {
	c  *fakeClock
	id string
}

func (n nodeClock) Now() time.Time {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.c.wall.Add(n.c.skew[n.id])
}

func (n nodeClock) Monotonic() time.Duration {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.c.origins[n.id] + n.c.mono
}

// replicatedNow is the replicated time a command s proposed now would be
// stamped with (what its lock-delays are compared with).
func replicatedNow(s *Server) int64 { return s.stamps.now() }

// svcCluster is an in-process lockd cluster on 127.0.0.1 with real WALs.
type svcCluster struct {
	t       testing.TB
	clock   *fakeClock
	cfgs    map[string]Config
	servers map[string]*Server // nil while stopped
	faults  map[string]*faults.Injector
	tweak   func(*Config)
}

// newSvcCluster starts n nodes n1..nN that bootstrap one cluster.
func newSvcCluster(t testing.TB, n int, tweak func(*Config)) *svcCluster {
	t.Helper()
	c := &svcCluster{t: t, clock: newFakeClock(), cfgs: map[string]Config{}, servers: map[string]*Server{},
		faults: map[string]*faults.Injector{}, tweak: tweak}
	addrs := svcFreeAddrs(t, 2*n)
	initial := map[string]string{}
	for i := 1; i <= n; i++ {
		initial[fmt.Sprintf("n%d", i)] = addrs[2*(i-1)]
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		cfg := c.baseConfig(id, addrs[2*(i-1)], addrs[2*(i-1)+1])
		cfg.InitialCluster = initial
		cfg.Node.Seed = uint64(i) * 7919
		c.cfgs[id] = cfg
	}
	for _, id := range c.ids() {
		c.start(id)
	}
	t.Cleanup(c.closeAll)
	return c
}

func (c *svcCluster) baseConfig(id, peer, client string) Config {
	cfg := DefaultConfig()
	cfg.ID = id
	cfg.DataDir = c.t.TempDir()
	cfg.PeerAddr, cfg.ClientAddr = peer, client
	cfg.Clock = c.clock.node(id)
	cfg.WAL.UnsafeNoSync = false
	c.faults[id] = faults.New()
	faults.AttachRPC(&cfg.RPC, c.faults[id])
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

func (c *svcCluster) ids() []string {
	var ids []string
	for id := range c.cfgs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// start (re)starts node id from its data directory.
func (c *svcCluster) start(id string) *Server {
	c.t.Helper()
	s, err := New(c.cfgs[id])
	if err != nil {
		c.t.Fatalf("new %s: %v", id, err)
	}
	if err := s.Start(); err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	c.servers[id] = s
	return s
}

// stop crashes node id (its files are closed, nothing else is written).
func (c *svcCluster) stop(id string) {
	if s := c.servers[id]; s != nil {
		_ = s.Close()
		c.servers[id] = nil
	}
}

func (c *svcCluster) closeAll() {
	for id := range c.servers {
		c.stop(id)
	}
}

// svcWait polls cond until it holds; the bound fails the test, it is not a
// timing expectation.
func svcWait(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until the running nodes agree on a leader whose lease table
// is active (it confirmed its leadership) and returns it.
func (c *svcCluster) leader() *Server {
	c.t.Helper()
	var lead *Server
	svcWait(c.t, "an agreed, confirmed leader", 20*time.Second, func() bool {
		lead = nil
		for _, s := range c.servers {
			if s != nil && s.node.IsLeader() {
				lead = s
			}
		}
		if lead == nil || !lead.leases.isActive() {
			return false
		}
		for _, s := range c.servers {
			if s != nil && s.node.Leader() != consensus.NodeID(lead.ID()) {
				return false
			}
		}
		return true
	})
	return lead
}

// follower returns a running node that is not the leader.
func (c *svcCluster) follower() *Server {
	lead := c.leader()
	for _, id := range c.ids() {
		if s := c.servers[id]; s != nil && s != lead {
			return s
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// svcClient is a raw rpc client connection that records pushes. Like the
// SDK, call follows leader hints and retries the same request (dedup makes
// that safe), so a spurious election on a loaded machine does not fail a
// test; callRaw does not.
type svcClient struct {
	t        testing.TB
	mu       sync.Mutex
	conn     *rpc.ClientConn
	addr     string
	push     []pushed
	seq      map[uint64]uint64 // session -> last seq used
	sessions []uint64          // opened here; re-attached after a reconnect
	opens    int
	cfg      rpc.Config // of every dial
	// secret is filled into every request on a session that carries none
	// (withSecret): harnessSecret unless a test sets another.
	secret []byte
}

// harnessSecret is the session secret of every harness client, so that
// tests may act on a session from several connections as its owner would.
// Tests of strangers give a client another secret, or send an empty one.
var harnessSecret = bytes.Repeat([]byte{0x5e}, api.SessionSecretSize)

// withSecret fills secret into the session secret fields of req that are
// nil (an empty, non-nil secret is sent as it is).
func withSecret(req any, secret []byte) {
	fill := func(p *[]byte) {
		if *p == nil {
			*p = secret
		}
	}
	fillAll := func(ss *[][]byte, n int) {
		if *ss == nil {
			for range n {
				*ss = append(*ss, secret)
			}
		}
	}
	switch r := req.(type) {
	case *api.OpenSessionRequest:
		fill(&r.Secret)
	case *api.CloseSessionRequest:
		fill(&r.Secret)
	case *api.KeepAliveRequest:
		fillAll(&r.Secrets, len(r.Sessions))
	case *api.AttachRequest:
		fillAll(&r.Secrets, len(r.Sessions))
	case *api.AcquireRequest:
		fill(&r.Secret)
	case *api.ReleaseRequest:
		fill(&r.Secret)
	case *api.CancelWaitRequest:
		fill(&r.Secret)
	case *api.ProclaimRequest:
		fill(&r.Secret)
	}
}

type pushed struct {
	typ  api.PushType
	body rpc.Body
}

func dialClient(t testing.TB, addr string) *svcClient {
	t.Helper()
	return dialClientWith(t, addr, rpc.DefaultConfig())
}

// dialClientWith is dialClient with the rpc configuration cfg (TLS, say).
func dialClientWith(t testing.TB, addr string, cfg rpc.Config) *svcClient {
	t.Helper()
	cl := &svcClient{t: t, seq: map[uint64]uint64{}, cfg: cfg, secret: harnessSecret}
	if err := cl.connect(addr); err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() {
		cl.mu.Lock()
		conn := cl.conn
		cl.mu.Unlock()
		_ = conn.Close()
	})
	return cl
}

func (cl *svcClient) connect(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, addr, rpc.KindClient, cl.cfg, rpc.WithPushHandler(func(typ rpc.MsgType, body rpc.Body) {
		cl.mu.Lock()
		cl.push = append(cl.push, pushed{typ: api.PushType(typ), body: body})
		cl.mu.Unlock()
	}))
	if err != nil {
		return err
	}
	cl.mu.Lock()
	old := cl.conn
	cl.conn, cl.addr = conn, addr
	sessions := append([]uint64(nil), cl.sessions...)
	cl.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	if len(sessions) > 0 {
		return cl.callRaw(api.MsgAttach, &api.AttachRequest{Sessions: sessions}, nil)
	}
	return nil
}

// callRaw sends one request with a 10 s deadline on the current
// connection, with the client's secret filled in (withSecret).
func (cl *svcClient) callRaw(typ api.MsgType, req, resp any) error {
	cl.mu.Lock()
	conn, secret := cl.conn, cl.secret
	cl.mu.Unlock()
	withSecret(req, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return conn.Call(ctx, rpc.MsgType(typ), req, resp)
}

// call sends req, following leader hints and retrying on CodeNotLeader
// and CodeNoQuorum with the same request (so the same Seq).
func (cl *svcClient) call(typ api.MsgType, req, resp any) error {
	for attempt := 0; ; attempt++ {
		err := cl.callRaw(typ, req, resp)
		var re *rpc.RemoteError
		if err == nil || !errors.As(err, &re) || attempt >= 200 {
			return err
		}
		switch api.Code(re.Code) {
		case api.CodeNotLeader:
			cl.mu.Lock()
			same := re.Message == "" || re.Message == cl.addr
			cl.mu.Unlock()
			if !same && cl.connect(re.Message) == nil {
				continue
			}
		case api.CodeNoQuorum:
		default:
			return err
		}
		time.Sleep(20 * time.Millisecond) // bounded retry while a leader is elected
	}
}

// must fails the test on error.
func (cl *svcClient) must(typ api.MsgType, req, resp any) {
	cl.t.Helper()
	if err := cl.call(typ, req, resp); err != nil {
		cl.t.Fatalf("request %d %+v: %v", typ, req, err)
	}
}

func (cl *svcClient) open(ttl time.Duration) uint64 {
	cl.t.Helper()
	cl.opens++
	var r api.OpenSessionResponse
	cl.must(api.MsgOpenSession, &api.OpenSessionRequest{Key: fmt.Sprintf("%p/%d", cl, cl.opens), TTL: int64(ttl)}, &r)
	if r.Session == 0 {
		cl.t.Fatal("open session returned session 0")
	}
	cl.mu.Lock()
	cl.sessions = append(cl.sessions, r.Session)
	cl.mu.Unlock()
	return r.Session
}

// write returns the next dedup header of session.
func (cl *svcClient) write(session uint64) api.Write {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.seq[session]++
	return api.Write{Session: session, Seq: cl.seq[session], LowestUnanswered: cl.seq[session]}
}

func (cl *svcClient) acquire(session uint64, name string, wait bool) (api.AcquireResponse, error) {
	var r api.AcquireResponse
	err := cl.call(api.MsgAcquire, &api.AcquireRequest{Write: cl.write(session), Name: name, Mode: api.ModeExclusive, Wait: wait}, &r)
	return r, err
}

// pushes returns the pushes of type typ decoded into new values of T.
func pushesOf[T any](cl *svcClient, typ api.PushType) []T {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var out []T
	for _, p := range cl.push {
		if p.typ != typ {
			continue
		}
		var v T
		if err := p.body.Decode(&v); err != nil {
			cl.t.Fatalf("push %d does not decode: %v", typ, err)
		}
		out = append(out, v)
	}
	return out
}

// codeOf returns the api code of a remote error (CodeOK for nil, and the
// test fails for an error without one).
func codeOf(t testing.TB, err error) api.Code {
	t.Helper()
	if err == nil {
		return api.CodeOK
	}
	var re *rpc.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("error without a code: %v", err)
	}
	return api.Code(re.Code)
}

func wantCode(t testing.TB, err error, want api.Code) *rpc.RemoteError {
	t.Helper()
	if got := codeOf(t, err); got != want {
		t.Fatalf("got code %d (%v), want %d", got, err, want)
	}
	var re *rpc.RemoteError
	errors.As(err, &re)
	return re
}

// call2 is call for requests whose answer the test does not decode.
func (cl *svcClient) call2(typ api.MsgType, req any) (struct{}, error) {
	return struct{}{}, cl.call(typ, req, nil)
}

// svcFreeAddrs returns n distinct loopback addresses that were free a
// moment ago, so a node can restart on the same address. The ports lie
// below the kernel's ephemeral range (internal/freeport), so the many
// outgoing connections the tests make cannot take them in between.
func svcFreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		addr, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	return out
}
