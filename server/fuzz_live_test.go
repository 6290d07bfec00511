package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// fuzzRequests are the client requests FuzzLiveCluster sends, by type:
// every message type but the three that change membership (adding and
// removing members is the nemesis suite's; here the three replicas must
// stay, so that each is checked after every request).
var fuzzRequests = []struct {
	typ api.MsgType
	req func() any
}{
	{api.MsgOpenSession, func() any { return &api.OpenSessionRequest{} }},
	{api.MsgKeepAlive, func() any { return &api.KeepAliveRequest{} }},
	{api.MsgCloseSession, func() any { return &api.CloseSessionRequest{} }},
	{api.MsgAcquire, func() any { return &api.AcquireRequest{} }},
	{api.MsgRelease, func() any { return &api.ReleaseRequest{} }},
	{api.MsgCancelWait, func() any { return &api.CancelWaitRequest{} }},
	{api.MsgProclaim, func() any { return &api.ProclaimRequest{} }},
	{api.MsgCheckToken, func() any { return &api.CheckTokenRequest{} }},
	{api.MsgGetLock, func() any { return &api.GetLockRequest{} }},
	{api.MsgListLocks, func() any { return &api.ListLocksRequest{} }},
	{api.MsgGetSession, func() any { return &api.GetSessionRequest{} }},
	{api.MsgListSessions, func() any { return &api.ListSessionsRequest{} }},
	{api.MsgStatus, func() any { return &api.StatusRequest{} }},
	{api.MsgMembers, func() any { return &api.MembersRequest{} }},
	{api.MsgTransferLeader, func() any { return &api.TransferLeaderRequest{} }},
	{api.MsgSnapshotSave, func() any { return &api.SnapshotSaveRequest{} }},
	{api.MsgObserve, func() any { return &api.ObserveRequest{} }},
	{api.MsgAttach, func() any { return &api.AttachRequest{} }},
	{api.MsgClusterStatus, func() any { return &api.ClusterStatusRequest{} }},
}

// fuzzSeeds are inputs written by hand (more are in
// testdata/fuzz/FuzzLiveCluster). The first opens a session with the
// shared secret, takes two locks in it and lists locks and sessions; the
// second lets time pass, transfers leadership and asks for status.
var fuzzSeeds = [][]byte{
	{0, 0, 1, 10, 0, 0, // node 0: OpenSession{Key: "a", TTL: 2 (clamped), Secret: shared}
		0, 3, 130, 0, 0, 1, 1, 1, 1, 0, 1, 0, 0, // Acquire{Write{pool[0] (the session), shared, Seq 1, LU 1}, "a", Exclusive, no value, Wait}
		0, 9, 0, 0, // ListLocks{Stale: false, Prefix: ""}
		0, 3, 130, 0, 0, 2, 2, 3, 1, 0, 0, 0, 0, // Acquire{Write{pool[0], shared, Seq 2, LU 2}, "lock/x", Exclusive}
		0, 11, 0}, // ListSessions
	{1, 0, 2, 10, 0, 0, 2, 19, 200, 1, 14, 0, 1, 12, 0, 0, 18, 0},
}

// fuzzMaxOps bounds the requests one input sends.
const fuzzMaxOps = 24

// fuzzInput reads an input's bytes as requests; past the end it reads
// zeros, so every input is a valid (if short) sequence.
type fuzzInput struct {
	b    []byte
	pool []uint64 // numbers seen in answers: session IDs, tokens, indexes
}

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) uint64() uint64 {
	switch k := in.byte(); {
	case k < 96:
		return uint64(k % 8)
	case k < 192 && len(in.pool) > 0:
		return in.pool[int(in.byte())%len(in.pool)]
	case k < 224:
		return uint64(in.byte())
	default:
		var b [8]byte
		for i := range b {
			b[i] = in.byte()
		}
		return binary.BigEndian.Uint64(b[:])
	}
}

var fuzzNames = []string{"", "a", "b", "lock/x", "lock/y", "a/b/c", "/", "x\x00y"}

func (in *fuzzInput) string() string {
	k := in.byte()
	if k < 200 {
		return fuzzNames[int(k)%len(fuzzNames)]
	}
	return string(in.bytes())
}

func (in *fuzzInput) bytes() []byte {
	n := int(in.byte() % 24)
	out := make([]byte, n)
	for i := range out {
		out[i] = in.byte()
	}
	return out
}

// fuzzSecret is the session secret the fuzzer's sessions share, so that
// most requests name a session they may act in.
var fuzzSecret = bytes.Repeat([]byte{0x5e}, api.SessionSecretSize)

// secret is fuzzSecret, mostly, or bytes of any length.
func (in *fuzzInput) secret() []byte {
	if in.byte() < 224 {
		return fuzzSecret
	}
	return in.bytes()
}

// fill sets every exported field of v from the input, recursively.
func (in *fuzzInput) fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			switch f := v.Type().Field(i); {
			case !f.IsExported():
			case f.Name == "Secret" && f.Type == reflect.TypeOf([]byte(nil)):
				v.Field(i).SetBytes(in.secret())
			case f.Name == "Secrets" && f.Type == reflect.TypeOf([][]byte(nil)):
				n := int(in.byte() % 4)
				secrets := make([][]byte, n)
				for j := range secrets {
					secrets[j] = in.secret()
				}
				v.Field(i).Set(reflect.ValueOf(secrets))
			default:
				in.fill(v.Field(i))
			}
		}
	case reflect.Uint64, reflect.Uint32, reflect.Uint16, reflect.Uint8, reflect.Uint:
		v.SetUint(in.uint64()) // truncated to the field's width
	case reflect.Int64, reflect.Int32, reflect.Int:
		x := int64(in.uint64())
		if in.byte()&1 == 1 {
			x = -x
		}
		v.SetInt(x)
	case reflect.Bool:
		v.SetBool(in.byte()&1 == 1)
	case reflect.String:
		v.SetString(in.string())
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(in.bytes())
			return
		}
		n := int(in.byte() % 4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			in.fill(s.Index(i))
		}
		v.Set(s)
	}
}

// harvest adds the numbers of a decoded answer to the pool, so later
// requests name real sessions and tokens.
func (in *fuzzInput) harvest(v any) {
	switch x := v.(type) {
	case uint64:
		if x != 0 && len(in.pool) < 256 {
			in.pool = append(in.pool, x)
		}
	case int64:
		if x > 0 {
			in.harvest(uint64(x))
		}
	case map[any]any: // in key order, so that an input replays alike
		keys := slices.SortedFunc(maps.Keys(x), func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			in.harvest(x[k])
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			in.harvest(x[k])
		}
	case []any:
		for _, e := range x {
			in.harvest(e)
		}
	}
}

// liveChecker checks the replicas of a live cluster after each request.
type liveChecker struct {
	c *svcCluster
	// tokens[node][lock]: the holders' tokens last seen, and the highest
	// ever: a token that appears later must be above every earlier one.
	tokens map[string]map[string]*tokenSeen
}

type tokenSeen struct {
	current map[uint64]bool
	max     uint64
}

func newLiveChecker(c *svcCluster) *liveChecker {
	return &liveChecker{c: c, tokens: map[string]map[string]*tokenSeen{}}
}

// check waits until every replica has applied what any has committed,
// then checks each replica's invariants, that replicas at the same index
// hold the same state, and that fencing tokens only grow.
func (lc *liveChecker) check() error {
	var target uint64
	for _, id := range lc.c.ids() {
		s := lc.c.servers[id]
		if err := s.node.Err(); err != nil {
			return fmt.Errorf("node %s stopped: %w", id, err)
		}
		target = max(target, s.node.CommitIndex())
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range lc.c.ids() {
		for lc.c.servers[id].node.AppliedIndex() < target {
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s applied %d, the cluster committed %d", id, lc.c.servers[id].node.AppliedIndex(), target)
			}
			time.Sleep(time.Millisecond)
		}
	}
	type state struct {
		index uint64
		snap  []byte
	}
	states := map[string]state{}
	for _, id := range lc.c.ids() {
		var err error
		var st state
		lc.c.servers[id].app.read(func(f *fsm.Machine) {
			if err = f.CheckInvariants(); err != nil {
				return
			}
			if err = lc.checkTokens(id, f); err != nil {
				return
			}
			st.index = f.AppliedIndex()
			st.snap, err = f.Snapshot()
		})
		if err != nil {
			return fmt.Errorf("node %s: %w", id, err)
		}
		states[id] = st
	}
	for _, a := range lc.c.ids() {
		for _, b := range lc.c.ids() {
			if a < b && states[a].index == states[b].index && !bytes.Equal(states[a].snap, states[b].snap) {
				return fmt.Errorf("nodes %s and %s differ at applied index %d", a, b, states[a].index)
			}
		}
	}
	return nil
}

func (lc *liveChecker) checkTokens(id string, f *fsm.Machine) error {
	byLock := lc.tokens[id]
	if byLock == nil {
		byLock = map[string]*tokenSeen{}
		lc.tokens[id] = byLock
	}
	for _, l := range f.Locks() {
		seen := byLock[l.Name]
		if seen == nil {
			seen = &tokenSeen{}
			byLock[l.Name] = seen
		}
		now := map[uint64]bool{}
		newMax := seen.max
		for _, h := range l.Holders {
			now[h.Token] = true
			if !seen.current[h.Token] && h.Token <= seen.max {
				return fmt.Errorf("%w: lock %q granted token %d after token %d", fsm.ErrBrokenInvariant, l.Name, h.Token, seen.max)
			}
			newMax = max(newMax, h.Token)
		}
		seen.current, seen.max = now, newMax
	}
	for name, seen := range byLock {
		if len(f.Lock(name).Holders) == 0 {
			seen.current = nil
		}
	}
	return nil
}

// fuzzConns are raw client connections, one per node, redialled when a
// request makes the server close one.
type fuzzConns struct {
	addrs []string
	conns []*rpc.ClientConn
}

func (fc *fuzzConns) call(i int, typ api.MsgType, req any) (any, error) {
	if fc.conns[i] == nil || fc.conns[i].Err() != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// Pushes (leader changes, grants, holder changes) are read and
		// dropped: a client without a handler would close on the first.
		c, err := rpc.Dial(ctx, fc.addrs[i], rpc.KindClient, rpc.DefaultConfig(),
			rpc.WithPushHandler(func(rpc.MsgType, rpc.Body) {}))
		cancel()
		if err != nil {
			return nil, err
		}
		fc.conns[i] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var resp any
	err := fc.conns[i].Call(ctx, rpc.MsgType(typ), req, &resp)
	return resp, err
}

func (fc *fuzzConns) close() {
	for _, c := range fc.conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// runFuzzInput sends the requests data decodes to, checking after each.
// A request the cluster refuses is fine; a broken invariant, replicas
// that differ, a node that stopped or a panic (which ends the process)
// is not.
func runFuzzInput(c *svcCluster, fc *fuzzConns, lc *liveChecker, data []byte) error {
	in := &fuzzInput{b: data}
	ids := c.ids()
	for op := 0; op < fuzzMaxOps && len(in.b) > 0; op++ {
		node := int(in.byte()) % len(ids)
		k := int(in.byte()) % (len(fuzzRequests) + 1)
		if k == len(fuzzRequests) {
			// Time passes: sessions may expire, lock-delays end.
			c.clock.Advance(time.Duration(in.byte()) * 100 * time.Millisecond)
		} else {
			r := fuzzRequests[k]
			req := r.req()
			in.fill(reflect.ValueOf(req).Elem())
			resp, err := fc.call(node, r.typ, req)
			var re *rpc.RemoteError
			if errors.As(err, &re) && api.Code(re.Code) == api.CodeNotLeader {
				// Follow the hint once, as the SDK does.
				if i := slices.Index(fc.addrs, re.Message); i >= 0 {
					resp, err = fc.call(i, r.typ, req)
				}
			}
			// A refusal is an answer; a connection the server closed (a
			// request it would not take) is redialled at the next one.
			lost := err != nil && fc.conns[node].Err() != nil
			if err != nil && !lost && !errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("request %d (type %d) %+v: %w", op, r.typ, req, err)
			}
			in.harvest(resp)
		}
		if err := lc.check(); err != nil {
			return fmt.Errorf("after request %d: %w", op, err)
		}
	}
	return nil
}

// FuzzLiveCluster feeds decoded random client requests (any message type
// but membership changes, any field values, any order, to any node, with
// time passing) to a live three-node cluster and checks, after each, every
// replica's invariants, that replicas agree, that fencing tokens only grow
// and that no node stopped or panicked. One cluster serves every input of
// a fuzzing process, so state builds up across inputs.
//
//	go test ./server/ -run '^$' -fuzz FuzzLiveCluster -fuzztime 30s -fuzzminimizetime 1x
//
// The cluster's own goroutines (ticks, heartbeats) add coverage that does
// not depend on the input, so nearly every input looks new to the fuzzer;
// -fuzzminimizetime 1x keeps it from spending its time minimizing them.
func FuzzLiveCluster(f *testing.F) {
	c, fc, lc := newFuzzRig(f)
	for _, seed := range fuzzSeeds {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := runFuzzInput(c, fc, lc, data); err != nil {
			t.Fatal(err)
		}
	})
}
