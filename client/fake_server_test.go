package client

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// fakeCluster is an in-memory lock service behind real rpc servers, one
// per fake node. One node leads (or none); the others answer what the
// real followers answer to writes: CodeNotLeader with the leader's
// address. Its state follows the api's rules closely enough for the SDK's
// tests: sessions with idempotency keys, a dedup window per session,
// FIFO lock queues, tokens from a log index, and pushes to attached or
// observing connections. Tests reach into it through hooks and counters.
type fakeCluster struct {
	t     *testing.T
	nodes []*fakeNode

	mu       sync.Mutex
	leader   int // index of the leading node, -1 for none
	index    uint64
	nextSess uint64
	keys     map[string]uint64
	sessions map[uint64]*fakeSession
	locks    map[string]*fakeLock
	attached map[uint64]map[*rpc.Conn]bool
	watchers map[string]map[*rpc.Conn]bool

	// Counters and hooks, guarded by mu.
	writes        []fakeWrite          // every write request received by the leader
	acquires      []api.AcquireRequest // every Acquire received by the leader
	applied       map[api.MsgType]int
	notLeaderSeen int
	keepAliveErr  *api.Error                              // answer every KeepAlive with it
	dropAnswer    func(typ api.MsgType, w api.Write) bool // after applying, cut the conn instead of answering
	beforeCancel  func()                                  // runs (without mu) before a CancelWait applies
	onNotLeader   func(node, count int)                   // runs (without mu) after a NotLeader answer
	keepAlives    int
	openErr       *api.Error                                 // answer every OpenSession with it
	dropOpens     int                                        // cut the connection after applying this many opens
	afterApply    func(ctx context.Context, typ api.MsgType) // runs (without mu) before a write's answer (applied or kept)
	keepAliveHook func()                                     // runs (without mu) before a KeepAlive is answered
	attachHook    func(ctx context.Context, node int)        // runs (without mu) before an Attach is answered
	notify        chan struct{}                              // closed and replaced after every request
}

type fakeWrite struct {
	typ api.MsgType
	w   api.Write
}

type fakeSession struct {
	id        uint64
	ttl       time.Duration
	ended     bool
	mark      uint64
	responses map[uint64]any
	secret    []byte // as sent by the open; every later request must carry it
}

// secretErrLocked is the real server's refusal of a request on session id
// that does not carry its secret (nil for an unknown session: the request
// fails on that instead).
func (fc *fakeCluster) secretErrLocked(id uint64, secret []byte) *api.Error {
	if s := fc.sessions[id]; s != nil && !bytes.Equal(s.secret, secret) {
		return &api.Error{Code: api.CodeBadSessionSecret, Message: fmt.Sprintf("session %d", id)}
	}
	return nil
}

type fakeNode struct {
	c    *fakeCluster
	i    int
	srv  *rpc.Server
	addr string
}

// newFakeCluster starts n fake nodes on loopback with node leader leading.
func newFakeCluster(t *testing.T, n, leader int) *fakeCluster {
	t.Helper()
	return newFakeClusterWith(t, n, leader, nil)
}

// newFakeClusterWith is newFakeCluster with node i's rpc configuration
// given by rpcCfg (nil: rpc's defaults), to serve TLS say.
func newFakeClusterWith(t *testing.T, n, leader int, rpcCfg func(i int) rpc.Config) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{
		t: t, leader: leader, keys: map[string]uint64{}, sessions: map[uint64]*fakeSession{},
		locks: map[string]*fakeLock{}, attached: map[uint64]map[*rpc.Conn]bool{},
		watchers: map[string]map[*rpc.Conn]bool{}, applied: map[api.MsgType]int{},
		notify: make(chan struct{}),
	}
	for i := 0; i < n; i++ {
		cfg := rpc.DefaultConfig()
		if rpcCfg != nil {
			cfg = rpcCfg(i)
		}
		fc.nodes = append(fc.nodes, fc.startNodeWith(i, "127.0.0.1:0", cfg))
	}
	t.Cleanup(func() {
		for _, nd := range fc.nodes {
			_ = nd.srv.Close()
		}
	})
	return fc
}

func (fc *fakeCluster) startNode(i int, addr string) *fakeNode {
	fc.t.Helper()
	return fc.startNodeWith(i, addr, rpc.DefaultConfig())
}

func (fc *fakeCluster) startNodeWith(i int, addr string, cfg rpc.Config) *fakeNode {
	fc.t.Helper()
	srv, err := rpc.NewServer(cfg, rpc.KindClient)
	if err != nil {
		fc.t.Fatal(err)
	}
	nd := &fakeNode{c: fc, i: i, srv: srv}
	nd.register()
	a, err := srv.Listen(addr)
	if err != nil {
		fc.t.Fatal(err)
	}
	nd.addr = a.String()
	return nd
}

func (fc *fakeCluster) addrs() []string {
	out := make([]string, len(fc.nodes))
	for i, nd := range fc.nodes {
		out[i] = nd.addr
	}
	return out
}

// stopNode closes node i's server and every connection to it: dials to
// it are refused from now on.
func (fc *fakeCluster) stopNode(i int) {
	_ = fc.nodes[i].srv.Close()
}

// setLeader makes node i the leader (-1: none) and pushes LeaderChanged
// to every client connection of every running node, as the real nodes do.
func (fc *fakeCluster) setLeader(i int) {
	fc.mu.Lock()
	fc.leader = i
	hint := fc.hintLocked()
	fc.mu.Unlock()
	for _, nd := range fc.nodes {
		for _, conn := range nd.srv.Conns() {
			_ = conn.Push(rpc.MsgType(api.PushLeaderChanged), &api.LeaderChangedEvent{LeaderAddr: hint, Term: 2})
		}
	}
}

func (fc *fakeCluster) hintLocked() string {
	if fc.leader < 0 {
		return ""
	}
	return fc.nodes[fc.leader].addr
}

// remote converts an api error the way the real server does: the rpc
// message is the bare api message (for NotLeader, the leader address).
func remote(e *api.Error) error {
	return &rpc.RemoteError{Code: uint32(e.Code), Message: e.Message}
}

// handle registers a typed handler on node nd that only the leader serves.
func handle[Req any](nd *fakeNode, typ api.MsgType, leaderOnly bool, fn func(ctx context.Context, c *rpc.Conn, req *Req) (any, *api.Error)) {
	err := rpc.Register(nd.srv, rpc.MsgType(typ), func(ctx context.Context, c *rpc.Conn, req *Req) (any, error) {
		fc := nd.c
		if leaderOnly {
			fc.mu.Lock()
			leads := fc.leader == nd.i
			hint := fc.hintLocked()
			fc.notLeaderSeen += map[bool]int{true: 0, false: 1}[leads]
			count := fc.notLeaderSeen
			hook := fc.onNotLeader
			fc.mu.Unlock()
			if !leads {
				if hook != nil {
					hook(nd.i, count)
				}
				return nil, remote(&api.Error{Code: api.CodeNotLeader, Message: hint})
			}
		}
		resp, aerr := fn(ctx, c, req)
		fc.mu.Lock()
		close(fc.notify)
		fc.notify = make(chan struct{})
		fc.mu.Unlock()
		if aerr != nil {
			return nil, remote(aerr)
		}
		return resp, nil
	})
	if err != nil {
		nd.c.t.Fatal(err)
	}
}

func (nd *fakeNode) register() {
	fc := nd.c
	handle(nd, api.MsgOpenSession, true, func(ctx context.Context, c *rpc.Conn, req *api.OpenSessionRequest) (any, *api.Error) {
		fc.mu.Lock()
		openErr := fc.openErr
		fc.mu.Unlock()
		if openErr != nil {
			return nil, openErr
		}
		resp, aerr := fc.openSession(c, req)
		fc.mu.Lock()
		drop := fc.dropOpens > 0
		fc.dropOpens--
		fc.mu.Unlock()
		if drop {
			_ = c.Close()
			return nil, &api.Error{Code: api.CodeUnavailable, Message: "dropped"}
		}
		return resp, aerr
	})
	handle(nd, api.MsgKeepAlive, true, func(_ context.Context, _ *rpc.Conn, req *api.KeepAliveRequest) (any, *api.Error) {
		fc.mu.Lock()
		hook := fc.keepAliveHook
		fc.mu.Unlock()
		if hook != nil {
			hook()
		}
		return fc.keepAlive(req)
	})
	handle(nd, api.MsgCloseSession, true, func(_ context.Context, _ *rpc.Conn, req *api.CloseSessionRequest) (any, *api.Error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if aerr := fc.secretErrLocked(req.Session, req.Secret); aerr != nil {
			return nil, aerr
		}
		fc.endSessionLocked(req.Session, "closed")
		return &api.Empty{}, nil
	})
	handle(nd, api.MsgAttach, false, func(ctx context.Context, c *rpc.Conn, req *api.AttachRequest) (any, *api.Error) {
		fc.mu.Lock()
		hook := fc.attachHook
		fc.mu.Unlock()
		if hook != nil {
			hook(ctx, nd.i)
		}
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if len(req.Secrets) != len(req.Sessions) {
			return nil, &api.Error{Code: api.CodeInvalidRequest, Message: "sessions without secrets"}
		}
		for i, id := range req.Sessions {
			if aerr := fc.secretErrLocked(id, req.Secrets[i]); aerr != nil {
				return nil, aerr
			}
		}
		for _, id := range req.Sessions {
			fc.attachLocked(c, id)
		}
		return &api.Empty{}, nil
	})
	handle(nd, api.MsgAcquire, true, func(ctx context.Context, c *rpc.Conn, req *api.AcquireRequest) (any, *api.Error) {
		fc.mu.Lock()
		fc.attachLocked(c, req.Session)
		fc.acquires = append(fc.acquires, *req)
		fc.mu.Unlock()
		return fc.write(ctx, c, api.MsgAcquire, req.Write, func() (any, *api.Error) { return fc.acquireLocked(req) })
	})
	handle(nd, api.MsgRelease, true, func(ctx context.Context, c *rpc.Conn, req *api.ReleaseRequest) (any, *api.Error) {
		return fc.write(ctx, c, api.MsgRelease, req.Write, func() (any, *api.Error) {
			return &api.Empty{}, fc.releaseLocked(req.Session, req.Name, req.Token)
		})
	})
	handle(nd, api.MsgCancelWait, true, func(ctx context.Context, c *rpc.Conn, req *api.CancelWaitRequest) (any, *api.Error) {
		fc.mu.Lock()
		hook := fc.beforeCancel
		fc.mu.Unlock()
		if hook != nil {
			hook()
		}
		return fc.write(ctx, c, api.MsgCancelWait, req.Write, func() (any, *api.Error) {
			return &api.Empty{}, fc.cancelWaitLocked(req.Session, req.Name)
		})
	})
	handle(nd, api.MsgProclaim, true, func(ctx context.Context, c *rpc.Conn, req *api.ProclaimRequest) (any, *api.Error) {
		return fc.write(ctx, c, api.MsgProclaim, req.Write, func() (any, *api.Error) {
			return &api.Empty{}, fc.proclaimLocked(req)
		})
	})
	handle(nd, api.MsgGetLock, true, func(_ context.Context, _ *rpc.Conn, req *api.GetLockRequest) (any, *api.Error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		info := fc.lockInfoLocked(req.Name)
		return &info, nil
	})
	handle(nd, api.MsgCheckToken, true, func(_ context.Context, _ *rpc.Conn, req *api.CheckTokenRequest) (any, *api.Error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		ok := false
		for _, h := range fc.lockInfoLocked(req.Name).Holders {
			ok = ok || h.Token == req.Token
		}
		return &api.CheckTokenResponse{Current: ok}, nil
	})
	handle(nd, api.MsgObserve, false, func(ctx context.Context, c *rpc.Conn, req *api.ObserveRequest) (any, *api.Error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if fc.watchers[req.Name] == nil {
			fc.watchers[req.Name] = map[*rpc.Conn]bool{}
		}
		fc.watchers[req.Name][c] = true
		if info := fc.lockInfoLocked(req.Name); info.Revision > req.SinceRevision {
			_ = c.Push(rpc.MsgType(api.PushHolderChanged), &api.HolderChangedEvent{Name: req.Name, Revision: info.Revision, Holders: info.Holders})
		}
		return &api.Empty{}, nil
	})
	handle(nd, api.MsgStatus, false, func(_ context.Context, _ *rpc.Conn, _ *api.StatusRequest) (any, *api.Error) {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		role := "follower"
		if fc.leader == nd.i {
			role = "leader"
		}
		return &api.NodeStatus{ID: nd.addr, Role: role, LeaderAddr: fc.hintLocked(), Commit: fc.index, Applied: fc.index}, nil
	})
}

func (fc *fakeCluster) openSession(c *rpc.Conn, req *api.OpenSessionRequest) (any, *api.Error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if len(req.Secret) != api.SessionSecretSize {
		return nil, &api.Error{Code: api.CodeBadSessionSecret, Message: "secret size"}
	}
	id, ok := fc.keys[req.Key]
	if ok {
		if aerr := fc.secretErrLocked(id, req.Secret); aerr != nil {
			return nil, aerr
		}
	}
	fc.applied[api.MsgOpenSession]++
	if !ok {
		fc.index++
		fc.nextSess++
		id = fc.nextSess
		fc.keys[req.Key] = id
		fc.sessions[id] = &fakeSession{id: id, ttl: time.Duration(req.TTL), responses: map[uint64]any{},
			secret: bytes.Clone(req.Secret)}
	}
	fc.attachLocked(c, id)
	return &api.OpenSessionResponse{Session: id, TTL: int64(fc.sessions[id].ttl)}, nil
}

func (fc *fakeCluster) keepAlive(req *api.KeepAliveRequest) (any, *api.Error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.keepAlives++
	if fc.keepAliveErr != nil {
		return nil, fc.keepAliveErr
	}
	if len(req.Secrets) != len(req.Sessions) {
		return nil, &api.Error{Code: api.CodeInvalidRequest, Message: "sessions without secrets"}
	}
	for i, id := range req.Sessions {
		if aerr := fc.secretErrLocked(id, req.Secrets[i]); aerr != nil {
			return nil, aerr
		}
	}
	resp := &api.KeepAliveResponse{TTLs: make([]int64, len(req.Sessions))}
	for i, id := range req.Sessions {
		if s := fc.sessions[id]; s != nil && !s.ended {
			resp.TTLs[i] = int64(s.ttl)
		} else {
			resp.Expired = append(resp.Expired, id)
		}
	}
	return resp, nil
}

// write deduplicates a session write like sessions.Table: a kept answer
// is returned again; a refused write is not kept.
func (fc *fakeCluster) write(ctx context.Context, c *rpc.Conn, typ api.MsgType, w api.Write, apply func() (any, *api.Error)) (any, *api.Error) {
	fc.mu.Lock()
	fc.writes = append(fc.writes, fakeWrite{typ: typ, w: w})
	s := fc.sessions[w.Session]
	if s == nil {
		fc.mu.Unlock()
		return nil, &api.Error{Code: api.CodeUnknownSession}
	}
	if s.ended {
		fc.mu.Unlock()
		return nil, &api.Error{Code: api.CodeSessionExpired}
	}
	if aerr := fc.secretErrLocked(w.Session, w.Secret); aerr != nil {
		fc.mu.Unlock()
		return nil, aerr
	}
	mark := max(s.mark, w.LowestUnanswered)
	if w.Seq < mark {
		fc.mu.Unlock()
		return nil, &api.Error{Code: api.CodeResponseForgotten}
	}
	if r, ok := s.responses[w.Seq]; ok {
		after := fc.afterApply
		fc.mu.Unlock()
		if after != nil {
			after(ctx, typ) // a retry's answer is held like the original's
		}
		return r, nil
	}
	fc.index++
	resp, aerr := apply()
	if aerr == nil {
		fc.applied[typ]++
		s.mark = mark
		for q := range s.responses {
			if q < mark {
				delete(s.responses, q)
			}
		}
		s.responses[w.Seq] = resp
	}
	drop, after := fc.dropAnswer, fc.afterApply
	fc.mu.Unlock()
	if after != nil && aerr == nil {
		after(ctx, typ)
	}
	if drop != nil && aerr == nil && drop(typ, w) {
		_ = c.Close() // the answer is lost with the connection
		return nil, &api.Error{Code: api.CodeUnavailable, Message: "dropped"}
	}
	return resp, aerr
}

func (fc *fakeCluster) attachLocked(c *rpc.Conn, id uint64) {
	if fc.attached[id] == nil {
		fc.attached[id] = map[*rpc.Conn]bool{}
	}
	fc.attached[id][c] = true
}

// pushSessionLocked pushes an event to the session's open attached
// connections.
func (fc *fakeCluster) pushSessionLocked(id uint64, typ api.PushType, v any) {
	for c := range fc.attached[id] {
		if c.Err() != nil {
			delete(fc.attached[id], c)
			continue
		}
		_ = c.Push(rpc.MsgType(typ), v)
	}
}

// endSessionLocked closes or expires a session: its locks go, waits drop.
func (fc *fakeCluster) endSessionLocked(id uint64, reason string) {
	s := fc.sessions[id]
	if s == nil || s.ended {
		return
	}
	fc.index++
	s.ended = true
	if reason == "expired" {
		fc.pushSessionLocked(id, api.PushSessionExpired, &api.SessionExpiredEvent{Session: id})
	}
	for name, l := range fc.locks {
		for _, h := range l.holders {
			if h.Session == id {
				fc.pushSessionLocked(id, api.PushLost, &api.LostEvent{Session: id, Name: name, Token: h.Token, Reason: reason})
				_ = fc.releaseLocked(id, name, h.Token)
			}
		}
		_ = fc.cancelWaitLocked(id, name)
	}
}

// expire ends session id by expiry, as the leader does when its deadline
// passes.
func (fc *fakeCluster) expire(id uint64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.endSessionLocked(id, "expired")
}

// writesOf returns the write headers of type typ the leader received.
func (fc *fakeCluster) writesOf(typ api.MsgType) []api.Write {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []api.Write
	for _, w := range fc.writes {
		if w.typ == typ {
			out = append(out, w.w)
		}
	}
	return out
}

func (fc *fakeCluster) appliedOf(typ api.MsgType) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.applied[typ]
}

func (fc *fakeCluster) set(fn func(fc *fakeCluster)) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fn(fc)
}

// waitUntil waits until cond (run under the fake's lock) holds; the fake
// re-checks after every request it answers.
func (fc *fakeCluster) waitUntil(t *testing.T, what string, cond func(fc *fakeCluster) bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		fc.mu.Lock()
		ok, ch := cond(fc), fc.notify
		fc.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("fake: timed out waiting until %s", what)
		}
	}
}
