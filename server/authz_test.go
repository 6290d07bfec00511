package server

import (
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/server/fsm"
)

// grantAs adds g through cl (which must act for an administrator).
func grantAs(t *testing.T, cl *svcClient, g api.Grant) {
	t.Helper()
	var r api.PolicyChangeResponse
	cl.must(api.MsgGrant, &api.GrantRequest{Grant: g}, &r)
	if !r.Changed {
		t.Fatalf("grant %+v: not changed", g)
	}
}

// deniedCount sums lockd_requests_denied_total{method} over the nodes.
func deniedCount(t *testing.T, c *svcCluster, method string) float64 {
	t.Helper()
	total := 0.0
	for _, s := range c.servers {
		if s == nil {
			continue
		}
		var m dto.Metric
		if err := s.metrics.requestsDenied.WithLabelValues(method).Write(&m); err != nil {
			t.Fatal(err)
		}
		total += m.GetCounter().GetValue()
	}
	return total
}

// A client that is not an administrator cannot change the membership,
// transfer leadership or take a backup; root and a granted administrator
// can.
func TestNonAdministratorCannotChangeMembershipTransferOrSnapshot(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader()
	root := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("root"))
	// bob may take every lock, which makes him no administrator.
	grantAs(t, root, api.Grant{Principal: "bob", Permission: api.PermissionLock})
	bob := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("bob"))
	other := c.follower().ID()

	attacks := []struct {
		typ api.MsgType
		req any
	}{
		{api.MsgAddLearner, &api.AddLearnerRequest{ID: "evil", PeerAddr: "127.0.0.1:1", ClientAddr: "127.0.0.1:2"}},
		{api.MsgPromote, &api.PromoteRequest{ID: "evil", Force: true}},
		{api.MsgRemoveMember, &api.RemoveMemberRequest{ID: other, Force: true}},
		{api.MsgTransferLeader, &api.TransferLeaderRequest{ID: other}},
		{api.MsgSnapshotSave, &api.SnapshotSaveRequest{}},
		{api.MsgGrant, &api.GrantRequest{Grant: api.Grant{Principal: "bob", Permission: api.PermissionAdmin}}},
		{api.MsgRevoke, &api.RevokeRequest{Grant: api.Grant{Principal: "bob", Permission: api.PermissionLock}}},
	}
	proposals := func() float64 {
		var m dto.Metric
		if err := lead.metrics.proposals.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	for _, a := range attacks {
		before, proposed := deniedCount(t, c, a.typ.String()), proposals()
		_, err := bob.call2(a.typ, a.req)
		wantCode(t, err, api.CodePermissionDenied)
		if after := deniedCount(t, c, a.typ.String()); after != before+1 {
			t.Fatalf("%v: lockd_requests_denied_total went from %v to %v", a.typ, before, after)
		}
		if n := proposals(); n != proposed {
			t.Fatalf("%v: the refused request was proposed (%v proposals, %v before)", a.typ, n, proposed)
		}
	}
	var ms api.MembersResponse
	root.must(api.MsgMembers, &api.MembersRequest{}, &ms)
	if len(ms.Members) != 3 {
		t.Fatalf("members after the attacks: %+v", ms.Members)
	}
	if c.leader().ID() != lead.ID() {
		t.Fatal("leadership moved")
	}
	var pol api.PolicyResponse
	root.must(api.MsgPolicy, &api.PolicyRequest{}, &pol)
	if len(pol.Grants) != 1 || pol.Grants[0].Permission != api.PermissionLock || pol.Caller != "root" {
		t.Fatalf("policy after the attacks: %+v", pol)
	}

	// The controls: root takes a backup; so does an administrator once
	// granted.
	var snap api.SnapshotSaveResponse
	root.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{}, &snap)
	if snap.Total == 0 {
		t.Fatal("root's backup is empty")
	}
	grantAs(t, root, api.Grant{Principal: "ops", Permission: api.PermissionAdmin})
	ops := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("ops"))
	ops.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{}, &snap)
}

// A grant on a prefix allows the lock writes under it and nothing else;
// revoking it takes effect for the next request.
func TestPrefixGrantAllowsExactlyItsPrefixAndRevokeTakesEffect(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader()
	root := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("root"))
	alice := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("alice"))
	s := alice.open(time.Minute)
	_, err := alice.acquire(s, "team-a/x", false)
	wantCode(t, err, api.CodePermissionDenied) // default deny
	g := api.Grant{Principal: "alice", Permission: api.PermissionLock, Prefix: "team-a/"}
	grantAs(t, root, g)
	r, err := alice.acquire(s, "team-a/x", false)
	if err != nil || !r.Granted {
		t.Fatalf("inside the prefix: %+v %v", r, err)
	}
	before := deniedCount(t, c, "Acquire")
	for _, name := range []string{"team-b/x", "team-a", "xteam-a/x"} {
		_, err := alice.acquire(s, name, false)
		wantCode(t, err, api.CodePermissionDenied)
	}
	if after := deniedCount(t, c, "Acquire"); after != before+3 {
		t.Fatalf("denied Acquires counted %v, want %v", after, before+3)
	}
	// A lock permission implies read on its prefix, and only there.
	var info api.LockInfo
	alice.must(api.MsgGetLock, &api.GetLockRequest{Name: "team-a/x"}, &info)
	if len(info.Holders) != 1 || info.Holders[0].Token != r.Token {
		t.Fatalf("alice reads %+v", info)
	}
	_, err = alice.call2(api.MsgGetLock, &api.GetLockRequest{Name: "team-b/x"})
	wantCode(t, err, api.CodePermissionDenied)
	// Nor is it a permission to observe.
	_, err = alice.call2(api.MsgObserve, &api.ObserveRequest{Name: "team-a/x"})
	wantCode(t, err, api.CodePermissionDenied)

	var rr api.PolicyChangeResponse
	root.must(api.MsgRevoke, &api.RevokeRequest{Grant: g}, &rr)
	if !rr.Changed {
		t.Fatal("revoke: not changed")
	}
	_, err = alice.acquire(s, "team-a/y", false)
	wantCode(t, err, api.CodePermissionDenied)
	_, err = alice.call2(api.MsgRelease, &api.ReleaseRequest{Write: alice.write(s), Name: "team-a/x", Token: r.Token})
	wantCode(t, err, api.CodePermissionDenied)
}

// List calls show a principal only the locks it may read, and the
// sessions through those locks.
func TestListCallsShowOnlyReadableLocks(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader()
	root := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("root"))
	s := root.open(time.Minute)
	for _, name := range []string{"a/1", "b/1"} {
		if _, err := root.acquire(s, name, false); err != nil {
			t.Fatal(err)
		}
	}
	hidden := root.open(time.Minute)
	if _, err := root.acquire(hidden, "b/2", false); err != nil {
		t.Fatal(err)
	}
	grantAs(t, root, api.Grant{Principal: "alice", Permission: api.PermissionRead, Prefix: "a/"})
	// alice reads from a follower: the policy is replicated there too.
	alice := dialClientWith(t, c.follower().ClientAddr(), ca.clientRPC("alice"))

	var locks api.ListLocksResponse
	alice.must(api.MsgListLocks, &api.ListLocksRequest{}, &locks)
	if len(locks.Locks) != 1 || locks.Locks[0].Name != "a/1" {
		t.Fatalf("alice lists %+v, want a/1 alone", locks.Locks)
	}
	var all api.ListLocksResponse
	root.must(api.MsgListLocks, &api.ListLocksRequest{}, &all)
	if len(all.Locks) != 3 {
		t.Fatalf("root lists %+v, want 3 locks", all.Locks)
	}
	var sessions api.ListSessionsResponse
	alice.must(api.MsgListSessions, &api.ListSessionsRequest{}, &sessions)
	if len(sessions.Sessions) != 1 || sessions.Sessions[0].Session != s || !slices.Equal(sessions.Sessions[0].Held, []string{"a/1"}) {
		t.Fatalf("alice's sessions %+v, want session %d holding a/1 alone", sessions.Sessions, s)
	}
	_, err := alice.call2(api.MsgGetSession, &api.GetSessionRequest{Session: hidden})
	wantCode(t, err, api.CodePermissionDenied)
	var tok api.CheckTokenResponse
	alice.must(api.MsgCheckToken, &api.CheckTokenRequest{Name: "a/1", Token: 1}, &tok)
	_, err = alice.call2(api.MsgCheckToken, &api.CheckTokenRequest{Name: "b/1", Token: 1})
	wantCode(t, err, api.CodePermissionDenied)
	_, err = alice.call2(api.MsgObserve, &api.ObserveRequest{Name: "a/1"})
	wantCode(t, err, api.CodePermissionDenied) // read is not observe
	var pol api.PolicyResponse
	alice.must(api.MsgPolicy, &api.PolicyRequest{}, &pol)
	if pol.Caller != "alice" || len(pol.Grants) != 1 {
		t.Fatalf("alice's policy view %+v", pol)
	}
}

// An observer sees holder changes while it may observe, and none after
// its permission is revoked.
func TestObserverGetsNoPushesAfterRevoke(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader()
	root := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("root"))
	g := api.Grant{Principal: "watcher", Permission: api.PermissionObserve, Prefix: "w/"}
	grantAs(t, root, g)
	obs := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("watcher"))
	obs.must(api.MsgObserve, &api.ObserveRequest{Name: "w/x"}, nil)
	s := root.open(time.Minute)
	r, err := root.acquire(s, "w/x", false)
	if err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the observer's push", 10*time.Second, func() bool {
		return len(pushesOf[api.HolderChangedEvent](obs, api.PushHolderChanged)) > 0
	})
	root.must(api.MsgRevoke, &api.RevokeRequest{Grant: g}, nil)
	n := len(pushesOf[api.HolderChangedEvent](obs, api.PushHolderChanged))
	root.must(api.MsgRelease, &api.ReleaseRequest{Write: root.write(s), Name: "w/x", Token: r.Token}, nil)
	// A second observer that may watch sees the release: the first would
	// have been pushed it by the same apply.
	grantAs(t, root, api.Grant{Principal: "other", Permission: api.PermissionObserve})
	ctl := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("other"))
	ctl.must(api.MsgObserve, &api.ObserveRequest{Name: "w/x"}, nil)
	if _, err := root.acquire(s, "w/x", false); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the control observer's push", 10*time.Second, func() bool {
		return len(pushesOf[api.HolderChangedEvent](ctl, api.PushHolderChanged)) > 0
	})
	if got := len(pushesOf[api.HolderChangedEvent](obs, api.PushHolderChanged)); got != n {
		t.Fatalf("the revoked observer got %d pushes after the revoke", got-n)
	}
}

// The policy is the same on every replica after a grant, and survives a
// snapshot (the log compacted past the grant) and a restart of every node.
func TestPolicyIsReplicatedAndSurvivesSnapshotAndRestart(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, func(cfg *Config) {
		ca.withTLS(cfg)
		cfg.Node.SnapshotEntries = 20
		cfg.WAL.KeepTail = 2
	})
	lead := c.leader()
	root := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("root"))
	grants := []api.Grant{
		{Principal: "alice", Permission: api.PermissionLock, Prefix: "a/"},
		{Principal: "*", Permission: api.PermissionRead, Prefix: "pub/"},
	}
	for _, g := range grants {
		grantAs(t, root, g)
	}
	want := []fsm.Grant{{Principal: "*", Permission: fsm.PermRead, Prefix: "pub/"}, {Principal: "alice", Permission: fsm.PermLock, Prefix: "a/"}}
	samePolicy := func() bool {
		for _, s := range c.servers {
			var got []fsm.Grant
			s.app.read(func(f *fsm.Machine) { got = f.Grants() })
			if !slices.Equal(got, want) {
				return false
			}
		}
		return true
	}
	svcWait(t, "every replica to hold the policy", 10*time.Second, samePolicy)
	s := root.open(time.Minute)
	for i := 0; i < 45; i++ { // past two snapshots
		if _, err := root.acquire(s, "fill/"+string(rune('a'+i%26))+string(rune('a'+i/26)), false); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range c.ids() {
		c.stop(id)
	}
	for _, id := range c.ids() {
		c.start(id)
	}
	svcWait(t, "every restarted replica to hold the policy", 10*time.Second, samePolicy)
	alice := dialClientWith(t, c.leader().ClientAddr(), ca.clientRPC("alice"))
	as := alice.open(time.Minute)
	if r, err := alice.acquire(as, "a/1", false); err != nil || !r.Granted {
		t.Fatalf("alice after the restart: %+v %v", r, err)
	}
	_, err := alice.acquire(as, "b/1", false)
	wantCode(t, err, api.CodePermissionDenied)
}

// Without TLS there is no principal and authorization is off: everything
// is allowed, and the policy reports an anonymous caller.
func TestWithoutTLSAuthorizationIsOff(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	cl := dialClient(t, c.leader().ClientAddr())
	var pol api.PolicyResponse
	cl.must(api.MsgPolicy, &api.PolicyRequest{}, &pol)
	if pol.Caller != "" {
		t.Fatalf("caller %q without TLS", pol.Caller)
	}
	var snap api.SnapshotSaveResponse
	cl.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{}, &snap)
	var r api.PolicyChangeResponse
	cl.must(api.MsgGrant, &api.GrantRequest{Grant: api.Grant{Principal: "x", Permission: api.PermissionRead}}, &r)
	_, err := cl.call2(api.MsgGrant, &api.GrantRequest{Grant: api.Grant{Principal: "x", Permission: "fly"}})
	wantCode(t, err, api.CodeInvalidRequest)
	_, err = cl.call2(api.MsgGrant, &api.GrantRequest{Grant: api.Grant{Principal: "root", Permission: api.PermissionRead}})
	wantCode(t, err, api.CodeInvalidRequest)
}

// A denial is logged with the request type and the principal.
func TestDenialIsLoggedWithThePrincipal(t *testing.T) {
	ca := newTestCA(t)
	c, logs := loggedCluster(t, 1, ca.withTLS)
	lead := c.leader()
	bob := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("bob"))
	s := bob.open(time.Minute)
	_, err := bob.acquire(s, "secret/x", false)
	wantCode(t, err, api.CodePermissionDenied)
	l := logs[lead.ID()].String()
	if !strings.Contains(l, "request denied") || !strings.Contains(l, "method=Acquire") || !strings.Contains(l, "principal=bob") {
		t.Fatalf("no denial logged with method and principal:\n%s", l)
	}
}
