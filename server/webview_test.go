package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// xssName and xssValue are a lock name and a holder value a hostile
// client chooses: the cluster page must show them as text.
const (
	xssName  = `x<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script>`
	xssValue = `<b id="injected">value</b>`
)

// viewScene is the state populateView builds: a held lock with a value
// and two waiters in order, a shared lock with two holders, a lock in its
// lock-delay after its holder expired, and a hostile lock name.
type viewScene struct {
	holder, w1, w2 uint64 // sessions on "jobs/nightly": holder, then queue order
	token          uint64
	delayUntil     int64
}

func populateView(t *testing.T, c *svcCluster) viewScene {
	t.Helper()
	lead := c.leader()
	a, b := dialClient(t, lead.ClientAddr()), dialClient(t, lead.ClientAddr())
	var sc viewScene
	sc.holder, sc.w1, sc.w2 = a.open(time.Minute), b.open(time.Minute), b.open(time.Minute)
	var r api.AcquireResponse
	a.must(api.MsgAcquire, &api.AcquireRequest{Write: a.write(sc.holder), Name: "jobs/nightly", Mode: api.ModeExclusive,
		Value: []byte("host-a:4242")}, &r)
	sc.token = r.Token
	for _, s := range []uint64{sc.w1, sc.w2} {
		if q, err := b.acquire(s, "jobs/nightly", true); err != nil || !q.Queued {
			t.Fatal(q, err)
		}
	}
	for _, s := range []uint64{sc.w1, sc.w2} {
		b.must(api.MsgAcquire, &api.AcquireRequest{Write: b.write(s), Name: "config", Mode: api.ModeShared}, &r)
	}
	a.must(api.MsgAcquire, &api.AcquireRequest{Write: a.write(sc.holder), Name: xssName, Mode: api.ModeExclusive,
		Value: []byte(xssValue)}, &r)
	sc.delayUntil = delayAfterExpiry(t, c, a, b, sc.w1, "delayed", 30*time.Second)
	return sc
}

// fetchView GETs /cluster from web.
func fetchView(t *testing.T, web *httptest.Server) (int, ClusterView, string) {
	t.Helper()
	code, body := httpGetT(t, web, "/cluster")
	var v ClusterView
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("/cluster body %q: %v", body, err)
		}
	}
	return code, v, body
}

func lockOf(v ClusterView, name string) (LockView, bool) {
	for _, l := range v.Locks {
		if l.Name == name {
			return l, true
		}
	}
	return LockView{}, false
}

// The /cluster view served by a follower shows every member with its
// role and health, the sessions, each lock's holders with tokens and
// values, its waiters in queue order and its lock-delay, and recent
// events, from the follower's applied state.
func TestClusterViewFromAFollowerShowsMembersSessionsLocksQueuesAndEvents(t *testing.T) {
	c := newHTTPCluster(t)
	sc := populateView(t, c.svcCluster)
	lead, f := c.leader(), c.follower()
	web := c.web[f.ID()]

	var v ClusterView
	svcWait(t, "the follower's view of the scene", 20*time.Second, func() bool {
		code, got, _ := fetchView(t, web)
		v = got
		d, ok := lockOf(v, "delayed")
		healthy := len(v.Members) == 3
		for _, m := range v.Members {
			healthy = healthy && m.Health == "ok"
		}
		return code == http.StatusOK && ok && d.Delayed && healthy
	})
	if v.Node != f.ID() || v.Leader != lead.ID() || v.ClusterID == "" || v.Applied == 0 {
		t.Fatalf("view header: node %q leader %q cluster %q applied %d", v.Node, v.Leader, v.ClusterID, v.Applied)
	}
	roles := map[string]string{}
	for _, m := range v.Members {
		roles[m.ID] = m.Role
		if m.Commit == 0 || m.Term == 0 || m.ClientAddr == "" {
			t.Errorf("member %+v lacks its indexes or address", m)
		}
	}
	if roles[lead.ID()] != "leader" || roles[f.ID()] != "follower" {
		t.Fatalf("member roles %v", roles)
	}

	n, ok := lockOf(v, "jobs/nightly")
	if !ok || len(n.Holders) != 1 || n.Holders[0].Session != sc.holder || n.Holders[0].Token != sc.token ||
		n.Holders[0].Value != "host-a:4242" || n.Holders[0].Mode != "exclusive" {
		t.Fatalf("jobs/nightly = %+v, want held by %d with token %d", n, sc.holder, sc.token)
	}
	if len(n.Waiters) != 2 || n.Waiters[0].Session != sc.w1 || n.Waiters[1].Session != sc.w2 {
		t.Fatalf("jobs/nightly waiters %+v, want %d then %d", n.Waiters, sc.w1, sc.w2)
	}
	cfg, _ := lockOf(v, "config")
	if len(cfg.Holders) != 2 || cfg.Holders[0].Mode != "shared" {
		t.Fatalf("config = %+v, want two shared holders", cfg)
	}
	d, _ := lockOf(v, "delayed")
	if d.DelayUntil != sc.delayUntil || len(d.Holders) != 0 || len(d.Waiters) != 1 || d.Waiters[0].Session != sc.w1 {
		t.Fatalf("delayed = %+v, want in its delay until %d with %d waiting", d, sc.delayUntil, sc.w1)
	}
	if x, ok := lockOf(v, xssName); !ok || x.Holders[0].Value != xssValue {
		t.Fatalf("the hostile lock is not shown verbatim: %+v", x)
	}
	if v.LocksTotal != 4 || v.LocksHeld != 3 || v.WaitersTotal != 3 {
		t.Fatalf("lock counts total %d held %d waiters %d, want 4 3 3", v.LocksTotal, v.LocksHeld, v.WaitersTotal)
	}
	// The delayed lock's holder expired; the other three sessions each
	// hold a lock (the waiters hold "config").
	if s := v.Sessions; s.Total != 3 || s.Holding != 3 || len(s.List) != 3 || s.ByOwner != nil {
		t.Fatalf("sessions %+v, want 3 holding and no owners", s)
	}
	kinds := map[string]int{}
	for _, e := range v.Events {
		kinds[e.Kind]++
	}
	for _, k := range []string{"session_opened", "session_expired", "lost", "holders_changed", "leader_changed"} {
		if kinds[k] == 0 {
			t.Errorf("recent events lack %s: %v", k, kinds)
		}
	}
}

// The cluster page is the embedded page with a policy that forbids inline
// and foreign script; the node page moved to /node.
func TestClusterPageIsServedWithAStrictContentSecurityPolicy(t *testing.T) {
	c := newHTTPCluster(t)
	web := c.web[c.leader().ID()]
	resp, err := web.Client().Get(web.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("/ = %d with policy %q", resp.StatusCode, csp)
	}
	for _, p := range []string{"/web/app.js", "/web/style.css", "/node"} {
		if code, body := httpGetT(t, web, p); code != http.StatusOK || body == "" {
			t.Fatalf("%s = %d", p, code)
		}
	}
	if _, js := httpGetT(t, web, "/web/app.js"); strings.Contains(js, "innerHTML") {
		t.Fatal("the page script writes HTML from strings")
	}
}

// Members: lag comes from the leader's progress; a member that does not
// answer is unreachable, one that knows no leader says so, and one far
// behind is lagging.
func TestMembersViewTakesLagFromTheLeadersProgress(t *testing.T) {
	lead := &api.NodeStatus{ID: "n1", Role: "leader", Term: 3, Leader: "n1", Commit: 100, Applied: 100,
		Progress: []api.MemberProgress{{ID: "n1", Match: 100}, {ID: "n2", Match: 90}, {ID: "n3", Match: 10, Learner: true}}}
	nodes := []api.ClusterNode{
		{ID: "n1", Status: lead},
		{ID: "n2", Status: &api.NodeStatus{ID: "n2", Role: "follower", Term: 3, Leader: "n1", Commit: 95, Applied: 95}},
		{ID: "n3", Status: &api.NodeStatus{ID: "n3", Role: "follower", Term: 3, Commit: 10, Applied: 10}},
		{ID: "n4", Error: "dial tcp: connection refused"},
	}
	got := membersView(nodes, 50)
	want := []struct {
		lag     uint64
		health  string
		learner bool
	}{{0, "ok", false}, {10, "ok", false}, {90, "no leader", true}, {0, "unreachable", false}}
	for i, w := range want {
		if got[i].Lag != w.lag || got[i].Health != w.health || got[i].Learner != w.learner {
			t.Errorf("%s = %+v, want lag %d health %q learner %v", got[i].ID, got[i], w.lag, w.health, w.learner)
		}
	}
	nodes[2].Status.Leader = "n1"
	if m := membersView(nodes, 50)[2]; m.Health != "lagging" {
		t.Errorf("n3 90 entries behind with a bound of 50 = %q, want lagging", m.Health)
	}
}

// Sessions with an owner are counted per owner; without owners the count
// is absent, and a list past its bound is cut but counted whole.
func TestSessionsViewCountsPerOwnerAndBoundsTheList(t *testing.T) {
	var v SessionsView
	v.add(SessionView{ID: 1, Owner: "alice", Held: []string{"a"}})
	v.add(SessionView{ID: 2, Owner: "alice", Waiting: []string{"a"}})
	v.add(SessionView{ID: 3, Owner: "bob"})
	if v.ByOwner["alice"] != 2 || v.ByOwner["bob"] != 1 || v.Holding != 1 || v.Waiting != 1 || v.Idle != 1 {
		t.Fatalf("%+v", v)
	}
	var none SessionsView
	for i := range maxViewSessions + 5 {
		none.add(SessionView{ID: uint64(i)})
	}
	if none.ByOwner != nil || none.Total != maxViewSessions+5 || len(none.List) != maxViewSessions || !none.Truncated {
		t.Fatalf("total %d listed %d truncated %v owners %v", none.Total, len(none.List), none.Truncated, none.ByOwner)
	}
}

// A value is shown as text when it is UTF-8 (cut on a character
// boundary), else as hex.
func TestHolderValueShownAsTextOrHex(t *testing.T) {
	if s, h, cut := valueText([]byte("abc")); s != "abc" || h || cut {
		t.Fatal(s, h, cut)
	}
	if s, h, _ := valueText([]byte{0xff, 0x00}); s != "ff00" || !h {
		t.Fatal(s, h)
	}
	long := strings.Repeat("é", maxViewValue) // 2 bytes each
	if s, h, cut := valueText([]byte(long)); h || !cut || len(s) > maxViewValue || !strings.HasPrefix(long, s) {
		t.Fatalf("len %d hex %v cut %v", len(s), h, cut)
	}
}

// The view needs no quorum: a follower left alone still shows the locks
// it applied, with the members it cannot reach marked unreachable.
func TestClusterViewWorksOnAFollowerWithoutAQuorum(t *testing.T) {
	c := newHTTPCluster(t)
	sc := populateView(t, c.svcCluster)
	f := c.follower()
	web := c.web[f.ID()]
	svcWait(t, "the follower to apply the scene", 20*time.Second, func() bool {
		_, v, _ := fetchView(t, web)
		d, ok := lockOf(v, "delayed")
		return ok && d.Delayed
	})
	for _, id := range c.ids() {
		if id != f.ID() {
			c.stop(id)
		}
	}
	code, v, body := fetchView(t, web)
	if code != http.StatusOK {
		t.Fatalf("/cluster alone = %d %s", code, body)
	}
	n, ok := lockOf(v, "jobs/nightly")
	if !ok || len(n.Holders) != 1 || n.Holders[0].Token != sc.token || len(n.Waiters) != 2 {
		t.Fatalf("jobs/nightly on the lone follower = %+v", n)
	}
	unreachable := 0
	for _, m := range v.Members {
		if m.Health == "unreachable" && m.Error != "" {
			unreachable++
		}
	}
	if len(v.Members) != 3 || unreachable != 2 {
		t.Fatalf("members %+v, want the two stopped ones unreachable", v.Members)
	}
}
