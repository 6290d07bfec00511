package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/server/raftnode"
)

// httpGetT GETs path from srv and returns the status code and body.
func httpGetT(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// probeOf decodes a /livez or /readyz body.
func probeOf(t *testing.T, body string) probe {
	t.Helper()
	var p probe
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("probe body %q: %v", body, err)
	}
	return p
}

// httpCluster is a three-node cluster with a private registry and an HTTP
// front per node.
type httpCluster struct {
	*svcCluster
	mu   sync.Mutex
	regs map[string]*prometheus.Registry
	web  map[string]*httptest.Server
}

func newHTTPCluster(t *testing.T) *httpCluster {
	h := &httpCluster{regs: map[string]*prometheus.Registry{}, web: map[string]*httptest.Server{}}
	h.svcCluster = newSvcCluster(t, 3, func(cfg *Config) {
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		h.mu.Lock()
		h.regs[cfg.ID] = reg
		h.mu.Unlock()
	})
	for id, s := range h.servers {
		web := httptest.NewServer(NewHTTPHandler(s, h.regs[id], nil))
		t.Cleanup(web.Close)
		h.web[id] = web
	}
	return h
}

func TestHTTPLivezAndReadyzAreOKOnEveryNodeOfAClusterWithALeader(t *testing.T) {
	c := newHTTPCluster(t)
	c.leader()
	for id, web := range c.web {
		code, body := httpGetT(t, web, "/livez")
		if p := probeOf(t, body); code != http.StatusOK || p.Live == nil || !*p.Live {
			t.Fatalf("%s /livez = %d %s", id, code, body)
		}
		// A follower may still be applying the leader's first entry.
		svcWait(t, id+" /readyz 200", 20*time.Second, func() bool {
			code, _ := httpGetT(t, web, "/readyz")
			return code == http.StatusOK
		})
		code, body = httpGetT(t, web, "/readyz")
		if p := probeOf(t, body); code != http.StatusOK || p.Ready == nil || !*p.Ready || p.Reason != "" {
			t.Fatalf("%s /readyz = %d %s", id, code, body)
		}
	}
}

// TestHTTPReadyzIsUnavailableWithAReasonWhileNoLeaderIsKnown starts one
// node of a three-node cluster whose peers never come up: it is live but
// never ready.
func TestHTTPReadyzIsUnavailableWithAReasonWhileNoLeaderIsKnown(t *testing.T) {
	addrs := svcFreeAddrs(t, 4)
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir = "n1", t.TempDir()
	cfg.PeerAddr, cfg.ClientAddr = addrs[0], addrs[1]
	cfg.InitialCluster = map[string]string{"n1": addrs[0], "n2": addrs[2], "n3": addrs[3]}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	web := httptest.NewServer(NewHTTPHandler(s, reg, nil))
	t.Cleanup(web.Close)

	code, body := httpGetT(t, web, "/readyz")
	p := probeOf(t, body)
	if code != http.StatusServiceUnavailable || p.Ready == nil || *p.Ready || p.Reason == "" {
		t.Fatalf("/readyz = %d %s, want 503 with ready false and a reason", code, body)
	}
	if code, body := httpGetT(t, web, "/livez"); code != http.StatusOK {
		t.Fatalf("/livez = %d %s: a node without a leader is still live", code, body)
	}
	code, page := httpGetT(t, web, "/node")
	if code != http.StatusOK || !strings.Contains(page, "not ready: "+p.Reason) || !strings.Contains(page, "none known") {
		t.Fatalf("/ = %d:\n%s", code, page)
	}
}

func TestHTTPLivezIsUnavailableAfterTheNodeStops(t *testing.T) {
	c := newHTTPCluster(t)
	f := c.follower()
	web := c.web[f.ID()]
	c.stop(f.ID())
	code, body := httpGetT(t, web, "/livez")
	if p := probeOf(t, body); code != http.StatusServiceUnavailable || p.Live == nil || *p.Live || p.Reason == "" {
		t.Fatalf("/livez of a stopped node = %d %s, want 503 with a reason", code, body)
	}
	if code, body := httpGetT(t, web, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz of a stopped node = %d %s", code, body)
	}
}

// TestHTTPMetricsServeTheNodesLockdMetricsWithoutLockNames acquires a lock
// and checks the leader's /metrics: lockd_ metrics that count it, and the
// lock's name nowhere.
func TestHTTPMetricsServeTheNodesLockdMetricsWithoutLockNames(t *testing.T) {
	c := newHTTPCluster(t)
	lead := c.leader()
	web := c.web[lead.ID()]
	cl := dialClient(t, lead.ClientAddr())
	sess := cl.open(10 * time.Second)
	const name = "jobs/very-secret-lock-name"
	if _, err := cl.acquire(sess, name, false); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "lockd_locks_held 1 on the leader", 20*time.Second, func() bool {
		_, body := httpGetT(t, web, "/metrics")
		return strings.Contains(body, "\nlockd_locks_held 1\n")
	})
	code, body := httpGetT(t, web, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{"lockd_has_leader 1", "lockd_sessions_open 1", "# TYPE lockd_term gauge"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "very-secret-lock-name") {
		t.Error("/metrics names a lock")
	}
}

func TestHTTPStatusPageAndJSONShowRoleTermLeaderAndMemberProgress(t *testing.T) {
	c := newHTTPCluster(t)
	lead := c.leader()
	web := c.web[lead.ID()]

	code, body := httpGetT(t, web, "/status")
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != http.StatusOK {
		t.Fatalf("/status = %d %s (%v)", code, body, err)
	}
	if st.ID != lead.ID() || st.Role != "leader" || st.Leader != lead.ID() || st.Term == 0 || len(st.Progress) != 3 {
		t.Fatalf("/status on the leader = %+v", st)
	}
	if want := ClusterID(c.cfgs[lead.ID()].InitialCluster, ""); st.ClusterID != want || !strings.Contains(body, `"cluster_id":"`+want+`"`) {
		t.Fatalf("/status cluster ID %q (body %s), want %q under cluster_id", st.ClusterID, body, want)
	}

	code, page := httpGetT(t, web, "/node")
	if code != http.StatusOK {
		t.Fatalf("/node = %d", code)
	}
	for _, want := range []string{"<h1>lockd node " + lead.ID() + "</h1>", "<td>leader</td>",
		"<h2>Members</h2>", "<td>" + st.ClusterID + "</td>", "<td>n1</td>", "<td>n2</td>", "<td>n3</td>", `href="/metrics"`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}
	f := c.follower()
	if _, page := httpGetT(t, c.web[f.ID()], "/node"); !strings.Contains(page, "Member progress is shown on the leader ("+lead.ID()+")") {
		t.Errorf("follower page does not point at the leader:\n%s", page)
	}
}

// staticHealth is a NodeHealth with fixed answers, for the paths a real
// node reaches only by failing.
type staticHealth struct {
	live      error
	ready     bool
	reason    string
	statusErr error
}

func (h staticHealth) ID() string            { return "n9" }
func (h staticHealth) Live() error           { return h.live }
func (h staticHealth) Ready() (bool, string) { return h.ready, h.reason }
func (h staticHealth) Status(context.Context) (api.NodeStatus, error) {
	return api.NodeStatus{ID: "n9"}, h.statusErr
}

func TestHTTPStatusUnavailableWhenTheNodeCannotReport(t *testing.T) {
	web := httptest.NewServer(NewHTTPHandler(staticHealth{statusErr: raftnode.ErrStopped, reason: "node stopped"}, prometheus.NewRegistry(), nil))
	defer web.Close()
	if code, body := httpGetT(t, web, "/status"); code != http.StatusServiceUnavailable || !strings.Contains(body, raftnode.ErrStopped.Error()) {
		t.Fatalf("/status = %d %s", code, body)
	}
	if code, page := httpGetT(t, web, "/"); code != http.StatusServiceUnavailable || !strings.Contains(page, "status unavailable: "+raftnode.ErrStopped.Error()) {
		t.Fatalf("/ = %d:\n%s", code, page)
	}
}

func TestHTTPRefusesOtherMethodsAndPaths(t *testing.T) {
	web := httptest.NewServer(NewHTTPHandler(staticHealth{ready: true}, prometheus.NewRegistry(), nil))
	defer web.Close()
	resp, err := web.Client().Post(web.URL+"/readyz", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /readyz = %d, want 405", resp.StatusCode)
	}
	if code, _ := httpGetT(t, web, "/nope"); code != http.StatusNotFound {
		t.Fatalf("GET /nope = %d, want 404", code)
	}
	req, _ := http.NewRequest(http.MethodHead, web.URL+"/readyz", nil)
	resp, err = web.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /readyz = %d, want 200", resp.StatusCode)
	}
}

// progressHealth is a ready leader whose status has every field set.
type progressHealth struct{ staticHealth }

func (progressHealth) Status(context.Context) (api.NodeStatus, error) {
	return api.NodeStatus{ID: "n9", Role: "leader", Term: 4, Leader: "n9", LeaderAddr: "127.0.0.1:7009",
		Commit: 12, Applied: 11, Progress: []api.MemberProgress{{ID: "n8", Match: 10, Next: 11, State: "replicate", Learner: true}}}, nil
}

// TestHTTPStatusJSONKeysAreSnakeCase: /status has the same key style as
// lockctl's JSON.
func TestHTTPStatusJSONKeysAreSnakeCase(t *testing.T) {
	web := httptest.NewServer(NewHTTPHandler(progressHealth{staticHealth{ready: true}}, prometheus.NewRegistry(), nil))
	defer web.Close()
	code, body := httpGetT(t, web, "/status")
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK {
		t.Fatalf("/status = %d %s (%v)", code, body, err)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	if want := []string{"applied", "cluster_id", "commit", "id", "leader", "leader_addr", "progress", "role", "term"}; !reflect.DeepEqual(keys(got), want) {
		t.Errorf("/status keys %v, want %v", keys(got), want)
	}
	if got["leader_addr"] != "127.0.0.1:7009" {
		t.Errorf("leader_addr = %v", got["leader_addr"])
	}
	ps, _ := got["progress"].([]any)
	if len(ps) != 1 {
		t.Fatalf("progress = %v", got["progress"])
	}
	p, _ := ps[0].(map[string]any)
	if want := []string{"id", "learner", "match", "next", "state"}; !reflect.DeepEqual(keys(p), want) {
		t.Errorf("progress keys %v, want %v", keys(p), want)
	}
}
