package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// The basic lifecycle on three nodes: a session acquires a lock, another's
// try is refused, its waiting acquire is queued and then granted by a push
// carrying the grant's log index as fencing token when the first releases.
func TestAcquireTryQueueAndGrantOnRelease(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	a, b := dialClient(t, lead.ClientAddr()), dialClient(t, lead.ClientAddr())
	sa, sb := a.open(10*time.Second), b.open(10*time.Second)

	r, err := a.acquire(sa, "jobs/nightly", false)
	if err != nil || !r.Granted || r.Token == 0 {
		t.Fatalf("first acquire: %+v, %v", r, err)
	}
	_, err = b.acquire(sb, "jobs/nightly", false)
	wantCode(t, err, api.CodeLockHeld)

	q, err := b.acquire(sb, "jobs/nightly", true)
	if err != nil || !q.Queued || q.Position != 1 {
		t.Fatalf("waiting acquire: %+v, %v", q, err)
	}
	a.must(api.MsgRelease, &api.ReleaseRequest{Write: a.write(sa), Name: "jobs/nightly", Token: r.Token}, nil)
	var g []api.GrantedEvent
	svcWait(t, "a grant push", 10*time.Second, func() bool {
		g = pushesOf[api.GrantedEvent](b, api.PushGranted)
		return len(g) > 0
	})
	if len(g) != 1 || g[0].Session != sb || g[0].Name != "jobs/nightly" || g[0].Token <= r.Token {
		t.Fatalf("grant pushes %+v, want one for session %d with a token above %d", g, sb, r.Token)
	}
	var ok api.CheckTokenResponse
	a.must(api.MsgCheckToken, &api.CheckTokenRequest{Name: "jobs/nightly", Token: g[0].Token}, &ok)
	if !ok.Current {
		t.Fatal("the pushed token is not current")
	}
	a.must(api.MsgCheckToken, &api.CheckTokenRequest{Name: "jobs/nightly", Token: r.Token}, &ok)
	if ok.Current {
		t.Fatal("the released token is still current")
	}
}

// A follower answers every write with CodeNotLeader and the leader's
// client address, learnt over the peer transport's node-info request.
func TestFollowerAnswersWritesWithLeaderClientAddress(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead, f := c.leader(), c.follower()
	cl := dialClient(t, f.ClientAddr())
	writes := []struct {
		typ api.MsgType
		req any
	}{
		{api.MsgOpenSession, &api.OpenSessionRequest{}},
		{api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{1}}},
		{api.MsgCloseSession, &api.CloseSessionRequest{Session: 1}},
		{api.MsgAcquire, &api.AcquireRequest{Write: api.Write{Session: 1, Seq: 1}, Name: "x", Mode: api.ModeExclusive}},
		{api.MsgRelease, &api.ReleaseRequest{Write: api.Write{Session: 1, Seq: 1}, Name: "x", Token: 1}},
		{api.MsgCancelWait, &api.CancelWaitRequest{Write: api.Write{Session: 1, Seq: 1}, Name: "x"}},
		{api.MsgProclaim, &api.ProclaimRequest{Write: api.Write{Session: 1, Seq: 1}, Name: "x", Token: 1}},
		{api.MsgAddLearner, &api.AddLearnerRequest{ID: "n9", PeerAddr: "127.0.0.1:1"}},
		{api.MsgPromote, &api.PromoteRequest{ID: "n9"}},
		{api.MsgRemoveMember, &api.RemoveMemberRequest{ID: "n9"}},
		{api.MsgTransferLeader, &api.TransferLeaderRequest{}},
		{api.MsgSnapshotSave, &api.SnapshotSaveRequest{}},
	}
	for _, w := range writes {
		re := wantCode(t, cl.callRaw(w.typ, w.req, nil), api.CodeNotLeader)
		if re.Message != lead.ClientAddr() {
			t.Fatalf("request %d: leader hint %q, want %q", w.typ, re.Message, lead.ClientAddr())
		}
	}
}

// Reference: Raft thesis §6.4 — a read on a follower goes through
// ReadIndex and sees a write the leader just committed; a stale read
// answers from the local state, even when cut off from the leader.
func TestFollowerReadsAreLinearizableUnlessStale(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead, f := c.leader(), c.follower()
	w, r := dialClient(t, lead.ClientAddr()), dialClient(t, f.ClientAddr())
	s := w.open(10 * time.Second)
	for i := 0; i < 20; i++ {
		name := "read/" + string(rune('a'+i))
		g, err := w.acquire(s, name, false)
		if err != nil || !g.Granted {
			t.Fatalf("acquire %s: %+v %v", name, g, err)
		}
		var in api.LockInfo
		r.must(api.MsgGetLock, &api.GetLockRequest{Name: name}, &in)
		if len(in.Holders) != 1 || in.Holders[0].Token != g.Token {
			t.Fatalf("follower read of %s right after the acquire: %+v, want holder with token %d", name, in, g.Token)
		}
	}
	// Cut the follower off: a linearizable read cannot be confirmed, a
	// stale one answers with what the follower has.
	for _, id := range c.ids() {
		if id != f.ID() {
			c.faults[f.ID()].Block(id)
			c.faults[id].Block(f.ID())
		}
	}
	g, err := w.acquire(s, "read/after-cut", false)
	if err != nil || !g.Granted {
		t.Fatalf("acquire on the majority: %+v %v", g, err)
	}
	var in api.LockInfo
	r.must(api.MsgGetLock, &api.GetLockRequest{ReadOptions: api.ReadOptions{Stale: true}, Name: "read/a"}, &in)
	if len(in.Holders) != 1 {
		t.Fatalf("stale read on the cut-off follower: %+v", in)
	}
	r.must(api.MsgGetLock, &api.GetLockRequest{ReadOptions: api.ReadOptions{Stale: true}, Name: "read/after-cut"}, &in)
	if len(in.Holders) != 0 {
		t.Fatalf("the cut-off follower saw a write it cannot have: %+v", in)
	}
	err = r.callRaw(api.MsgGetLock, &api.GetLockRequest{Name: "read/after-cut"}, &in)
	if code := codeOf(t, err); code != api.CodeNotLeader && code != api.CodeNoQuorum {
		t.Fatalf("linearizable read on the cut-off follower: %v, want NotLeader or NoQuorum", err)
	}
}

// Deduplication: a retried Acquire with the same Seq gets the original
// answer and is not applied again — also after the leader that answered
// is gone and the retry reaches the new leader.
func TestRetriedAcquireIsAnsweredFromDedupAcrossFailover(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(30 * time.Second)
	req := &api.AcquireRequest{Write: api.Write{Session: s, Seq: 1, LowestUnanswered: 1}, Name: "dedup", Mode: api.ModeExclusive}
	var first, again api.AcquireResponse
	cl.must(api.MsgAcquire, req, &first)
	var before api.LockInfo
	cl.must(api.MsgGetLock, &api.GetLockRequest{Name: "dedup"}, &before)
	cl.must(api.MsgAcquire, req, &again)
	if again != first {
		t.Fatalf("retry answered %+v, original %+v", again, first)
	}
	var after api.LockInfo
	cl.must(api.MsgGetLock, &api.GetLockRequest{Name: "dedup"}, &after)
	if after.Revision != before.Revision || len(after.Holders) != 1 {
		t.Fatalf("the retry changed the lock: before %+v after %+v", before, after)
	}
	// A new request (next Seq) for the same lock is a real second acquire.
	_, err := cl.call2(api.MsgAcquire, &api.AcquireRequest{Write: api.Write{Session: s, Seq: 2, LowestUnanswered: 1},
		Name: "dedup", Mode: api.ModeExclusive})
	wantCode(t, err, api.CodeAlreadyHolder)

	c.stop(lead.ID())
	nl := c.leader()
	cl2 := dialClient(t, nl.ClientAddr())
	cl2.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{s}}, nil)
	var onNew api.AcquireResponse
	cl2.must(api.MsgAcquire, req, &onNew)
	if onNew != first {
		t.Fatalf("retry on the new leader answered %+v, original %+v", onNew, first)
	}
	cl2.must(api.MsgGetLock, &api.GetLockRequest{Name: "dedup"}, &after)
	if after.Revision != before.Revision || len(after.Holders) != 1 || after.Holders[0].Token != first.Token {
		t.Fatalf("the retry on the new leader changed the lock: before %+v after %+v", before, after)
	}
	// A retry of an answer the client acknowledged is refused, not replayed.
	_, err = cl2.call2(api.MsgAcquire, &api.AcquireRequest{Write: api.Write{Session: s, Seq: 1, LowestUnanswered: 3},
		Name: "dedup", Mode: api.ModeExclusive})
	wantCode(t, err, api.CodeResponseForgotten)
}

// Bad input gets a typed error and changes nothing.
func TestBadInputGetsTypedCodesAndChangesNothing(t *testing.T) {
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.FSM.Locks.MaxNameLen = 64; cfg.FSM.Locks.MaxValueLen = 128 })
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(10 * time.Second)
	other := cl.open(10 * time.Second)
	held, err := cl.acquire(s, "held", false)
	if err != nil || !held.Granted {
		t.Fatal(held, err)
	}
	var before api.ListLocksResponse
	cl.must(api.MsgListLocks, &api.ListLocksRequest{}, &before)
	acq := func(sess uint64, name string, mode api.Mode, value []byte, delay time.Duration) error {
		return cl.call(api.MsgAcquire, &api.AcquireRequest{Write: cl.write(sess), Name: name, Mode: mode, Value: value,
			LockDelay: int64(delay)}, nil)
	}
	long := string(make([]byte, 65))
	cases := []struct {
		name string
		err  error
		want api.Code
	}{
		{"unknown session", acq(999999, "x", api.ModeExclusive, nil, 0), api.CodeUnknownSession},
		{"empty name", acq(s, "", api.ModeExclusive, nil, 0), api.CodeInvalidName},
		{"over-long name", acq(s, long, api.ModeExclusive, nil, 0), api.CodeInvalidName},
		{"over-large value", acq(s, "v", api.ModeExclusive, make([]byte, 129), 0), api.CodeValueTooLarge},
		{"bad mode", acq(s, "m", 9, nil, 0), api.CodeInvalidMode},
		{"lock-delay over 60 s", acq(s, "d", api.ModeExclusive, nil, 61*time.Second), api.CodeInvalidLockDelay},
		{"release by non-holder", cl.call(api.MsgRelease, &api.ReleaseRequest{Write: cl.write(other), Name: "held", Token: held.Token}, nil), api.CodeNotHolder},
		{"release with a wrong token", cl.call(api.MsgRelease, &api.ReleaseRequest{Write: cl.write(s), Name: "held", Token: held.Token + 1}, nil), api.CodeNotHolder},
		{"cancel without waiting", cl.call(api.MsgCancelWait, &api.CancelWaitRequest{Write: cl.write(s), Name: "held"}, nil), api.CodeNotWaiting},
		{"proclaim by non-holder", cl.call(api.MsgProclaim, &api.ProclaimRequest{Write: cl.write(other), Name: "held", Token: held.Token}, nil), api.CodeNotHolder},
		{"get unknown session", cl.call(api.MsgGetSession, &api.GetSessionRequest{Session: 424242}, nil), api.CodeUnknownSession},
		{"close unknown session", cl.call(api.MsgCloseSession, &api.CloseSessionRequest{Session: 424242}, nil), api.CodeUnknownSession},
		{"observe empty name", cl.call(api.MsgObserve, &api.ObserveRequest{}, nil), api.CodeInvalidName},
		{"observe over-long name", cl.call(api.MsgObserve, &api.ObserveRequest{Name: long}, nil), api.CodeInvalidName},
		{"observe name with NUL", cl.call(api.MsgObserve, &api.ObserveRequest{Name: "a\x00b"}, nil), api.CodeInvalidName},
	}
	for _, tc := range cases {
		if got := codeOf(t, tc.err); got != tc.want {
			t.Errorf("%s: code %d (%v), want %d", tc.name, got, tc.err, tc.want)
		}
	}
	var after api.ListLocksResponse
	cl.must(api.MsgListLocks, &api.ListLocksRequest{}, &after)
	if len(after.Locks) != 1 || len(before.Locks) != 1 || after.Locks[0].Revision != before.Locks[0].Revision ||
		after.Locks[0].Holders[0].Token != held.Token {
		t.Fatalf("bad input changed the locks: before %+v after %+v", before, after)
	}
	// TTLs out of range are clamped, not refused.
	for _, tc := range []struct{ ask, want time.Duration }{{time.Nanosecond, time.Second}, {time.Hour, 5 * time.Minute}, {0, 10 * time.Second}} {
		var r api.OpenSessionResponse
		cl.must(api.MsgOpenSession, &api.OpenSessionRequest{TTL: int64(tc.ask)}, &r)
		if time.Duration(r.TTL) != tc.want {
			t.Errorf("TTL %v granted as %v, want %v", tc.ask, time.Duration(r.TTL), tc.want)
		}
	}
}

// Observe pushes the current holders if they are newer than the
// observer's revision, then every change; a reconnecting observer that
// is up to date gets nothing until the next change.
func TestObservePushesCurrentHoldersThenChanges(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	w := dialClient(t, lead.ClientAddr())
	s := w.open(10 * time.Second)
	g, err := w.acquire(s, "election/billing", false)
	if err != nil || !g.Granted {
		t.Fatal(g, err)
	}
	obs := dialClient(t, c.follower().ClientAddr())
	obs.must(api.MsgObserve, &api.ObserveRequest{Name: "election/billing"}, nil)
	var evs []api.HolderChangedEvent
	svcWait(t, "the current holders", 10*time.Second, func() bool {
		evs = pushesOf[api.HolderChangedEvent](obs, api.PushHolderChanged)
		return len(evs) == 1
	})
	if evs[0].Revision != g.Token || len(evs[0].Holders) != 1 || evs[0].Holders[0].Session != s {
		t.Fatalf("first push %+v, want holder %d at revision %d", evs[0], s, g.Token)
	}
	up := dialClient(t, lead.ClientAddr())
	up.must(api.MsgObserve, &api.ObserveRequest{Name: "election/billing", SinceRevision: evs[0].Revision}, nil)
	w.must(api.MsgProclaim, &api.ProclaimRequest{Write: w.write(s), Name: "election/billing", Token: g.Token, Value: []byte("10.0.0.7")}, nil)
	w.must(api.MsgRelease, &api.ReleaseRequest{Write: w.write(s), Name: "election/billing", Token: g.Token}, nil)
	for _, cl := range []*svcClient{obs, up} {
		want := 2
		if cl == obs {
			want = 3
		}
		svcWait(t, "the proclaim and the release", 10*time.Second, func() bool {
			evs = pushesOf[api.HolderChangedEvent](cl, api.PushHolderChanged)
			return len(evs) >= want
		})
		if len(evs) != want {
			t.Fatalf("observer got %d pushes, want %d: %+v", len(evs), want, evs)
		}
		evs = evs[len(evs)-2:]
		if string(evs[0].Holders[0].Value) != "10.0.0.7" || len(evs[1].Holders) != 0 || evs[1].Revision <= evs[0].Revision {
			t.Fatalf("changes pushed %+v", evs)
		}
	}
}

// Closing a session releases its locks at once (no lock-delay: the
// holder let go cleanly); the connections the session is attached to hear
// Lost with reason "closed", and the next waiter is granted.
func TestCloseSessionReleasesLocksAtOnce(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	a, b := dialClient(t, lead.ClientAddr()), dialClient(t, lead.ClientAddr())
	sa, sb := a.open(time.Minute), b.open(time.Minute)
	if _, err := a.call2(api.MsgAcquire, &api.AcquireRequest{Write: a.write(sa), Name: "closing", Mode: api.ModeExclusive,
		LockDelay: int64(30 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if q, err := b.acquire(sb, "closing", true); err != nil || !q.Queued {
		t.Fatal(q, err)
	}
	// A second connection attaches a's session and hears its events too.
	watcher := dialClient(t, lead.ClientAddr())
	watcher.must(api.MsgAttach, &api.AttachRequest{Sessions: []uint64{sa}}, nil)
	a.must(api.MsgCloseSession, &api.CloseSessionRequest{Session: sa}, nil)
	svcWait(t, "the grant to the waiter", 10*time.Second, func() bool {
		return len(pushesOf[api.GrantedEvent](b, api.PushGranted)) == 1
	})
	for _, cl := range []*svcClient{a, watcher} {
		svcWait(t, "the lost push", 10*time.Second, func() bool {
			l := pushesOf[api.LostEvent](cl, api.PushLost)
			return len(l) == 1 && l[0].Reason == "closed" && l[0].Session == sa
		})
	}
	if len(pushesOf[api.SessionExpiredEvent](a, api.PushSessionExpired)) != 0 {
		t.Fatal("a closed session was reported expired")
	}
	// Closing again is a success; using the session is not.
	a.must(api.MsgCloseSession, &api.CloseSessionRequest{Session: sa}, nil)
	_, err := a.acquire(sa, "other", false)
	wantCode(t, err, api.CodeSessionClosed)
}

// A cluster restarted from its data directories keeps its sessions, locks
// and tokens.
func TestWholeClusterRestartKeepsState(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	cl := dialClient(t, c.leader().ClientAddr())
	s := cl.open(time.Minute)
	g, err := cl.acquire(s, "durable", false)
	if err != nil || !g.Granted {
		t.Fatal(g, err)
	}
	for _, id := range c.ids() {
		c.stop(id)
	}
	for _, id := range c.ids() {
		c.start(id)
	}
	cl2 := dialClient(t, c.leader().ClientAddr())
	var r api.KeepAliveResponse
	cl2.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{s}}, &r)
	if len(r.Expired) != 0 {
		t.Fatalf("session lost in the restart: %+v", r)
	}
	var ok api.CheckTokenResponse
	cl2.must(api.MsgCheckToken, &api.CheckTokenRequest{Name: "durable", Token: g.Token}, &ok)
	if !ok.Current {
		t.Fatal("lock lost in the restart")
	}
	g2, err := cl2.acquire(cl2.open(time.Minute), "durable2", false)
	if err != nil || g2.Token <= g.Token {
		t.Fatalf("token after restart %+v %v, want above %d", g2, err, g.Token)
	}
}

// An observer on a follower that falls behind the leader's compacted log
// and catches up by snapshot is told the lock's current holders.
func TestObserverOnFollowerCaughtUpBySnapshotSeesCurrentHolders(t *testing.T) {
	c := newSvcCluster(t, 3, func(cfg *Config) {
		cfg.Node.SnapshotEntries = 20
		cfg.WAL.KeepTail = 2
	})
	lead := c.leader()
	f := c.follower()
	obs := dialClient(t, f.ClientAddr())
	obs.must(api.MsgObserve, &api.ObserveRequest{Name: "snap/x"}, nil)
	for _, id := range c.ids() {
		if id != f.ID() {
			c.faults[f.ID()].Block(id)
			c.faults[id].Block(f.ID())
		}
	}
	w := dialClient(t, lead.ClientAddr())
	s := w.open(time.Minute)
	var last api.AcquireResponse
	for i := 0; i < 30; i++ {
		r, err := w.acquire(s, "snap/x", false)
		if err != nil {
			t.Fatal(err)
		}
		w.must(api.MsgRelease, &api.ReleaseRequest{Write: w.write(s), Name: "snap/x", Token: r.Token}, nil)
		last = r
	}
	if _, err := w.acquire(s, "snap/x", false); err != nil {
		t.Fatal(err)
	}
	// More entries that do not touch the lock, so that the leader's
	// snapshot covers its last change.
	for i := 0; i < 45; i++ {
		if _, err := w.acquire(s, fmt.Sprintf("snap/other-%d", i), false); err != nil {
			t.Fatal(err)
		}
	}
	var want api.LockInfo
	w.must(api.MsgGetLock, &api.GetLockRequest{Name: "snap/x"}, &want)
	if want.Revision <= last.Token {
		t.Fatalf("lock info %+v", want)
	}
	for _, id := range c.ids() {
		c.faults[f.ID()].Unblock(id)
		c.faults[id].Unblock(f.ID())
	}
	svcWait(t, "the observer to see the current holders", 20*time.Second, func() bool {
		evs := pushesOf[api.HolderChangedEvent](obs, api.PushHolderChanged)
		return len(evs) > 0 && evs[len(evs)-1].Revision == want.Revision && len(evs[len(evs)-1].Holders) == 1
	})
	// 61 changes happened while it was cut off; replaying them would have
	// pushed each one. The snapshot install pushes the state once.
	if evs := pushesOf[api.HolderChangedEvent](obs, api.PushHolderChanged); len(evs) > 10 {
		t.Fatalf("the follower replayed the log (%d pushes) instead of installing a snapshot", len(evs))
	}
}

// A client that does not take its pushes never slows the cluster: writes
// keep committing while its queue overflows, and its connection is the
// one that goes.
func TestSlowPushConsumerDoesNotBlockApply(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	release := make(chan struct{})
	defer close(release)
	cfg := rpc.DefaultConfig()
	cfg.PushQueueLen = 4
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slow, err := rpc.Dial(ctx, lead.ClientAddr(), rpc.KindClient, cfg, rpc.WithPushHandler(func(rpc.MsgType, rpc.Body) { <-release }))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.Call(ctx, rpc.MsgType(api.MsgObserve), &api.ObserveRequest{Name: "busy"}, nil); err != nil {
		t.Fatal(err)
	}
	w := dialClient(t, lead.ClientAddr())
	s := w.open(time.Minute)
	g, err := w.acquire(s, "busy", false)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		w.must(api.MsgProclaim, &api.ProclaimRequest{Write: w.write(s), Name: "busy", Token: g.Token, Value: []byte{byte(i)}}, nil)
	}
	select {
	case <-slow.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the slow consumer's connection stayed open")
	}
}
