package server

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lockd/lockd/api"
)

// sampleOf returns the value of the series of name whose labels include
// want (a histogram's sample count), and whether it exists.
func sampleOf(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			return valueOf(m), true
		}
	}
	return 0, false
}

func valueOf(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// Every request is counted by method and outcome code and timed by
// method; each method's success series exists before its first request.
func TestRequestsAreCountedByMethodAndCodeAndTimed(t *testing.T) {
	c := newHTTPCluster(t)
	lead := c.leader()
	reg := c.regs[lead.ID()]
	if v, ok := sampleOf(t, reg, "lockd_requests_total", map[string]string{"method": "Proclaim", "code": "0"}); !ok || v != 0 {
		t.Fatalf("Proclaim's series before any request: %v %v, want 0 present", v, ok)
	}
	a, b := dialClient(t, lead.ClientAddr()), dialClient(t, lead.ClientAddr())
	sa, sb := a.open(time.Minute), b.open(time.Minute)
	if _, err := a.acquire(sa, "m", false); err != nil {
		t.Fatal(err)
	}
	_, err := b.acquire(sb, "m", false)
	wantCode(t, err, api.CodeLockHeld)

	for _, w := range []struct {
		method, code string
		n            float64
	}{{"OpenSession", "0", 2}, {"Acquire", "0", 1}, {"Acquire", "124", 1}} {
		if v, _ := sampleOf(t, reg, "lockd_requests_total", map[string]string{"method": w.method, "code": w.code}); v != w.n {
			t.Errorf("lockd_requests_total{method=%q,code=%q} = %v, want %v", w.method, w.code, v, w.n)
		}
	}
	if v, _ := sampleOf(t, reg, "lockd_request_duration_seconds", map[string]string{"method": "Acquire"}); v != 2 {
		t.Errorf("Acquire latency samples = %v, want 2", v)
	}
	if v, _ := sampleOf(t, reg, "lockd_commit_duration_seconds", nil); v < 3 {
		t.Errorf("commit latency samples = %v, want at least the 3 committed writes", v)
	}
	// A follower answers the write with not-leader, counted under 200.
	f := c.follower()
	fc := dialClient(t, f.ClientAddr())
	_ = fc.callRaw(api.MsgOpenSession, &api.OpenSessionRequest{TTL: int64(time.Minute)}, nil)
	if v, _ := sampleOf(t, c.regs[f.ID()], "lockd_requests_total", map[string]string{"method": "OpenSession", "code": "200"}); v != 1 {
		t.Errorf("follower's not-leader answers = %v, want 1", v)
	}
}

// Locks and sessions are reported by state, and queue lengths as a
// histogram over the locks in use; nothing is labelled with a lock name.
func TestLocksSessionsAndQueuesAreReportedByState(t *testing.T) {
	c := newHTTPCluster(t)
	populateView(t, c.svcCluster)
	reg := c.regs[c.leader().ID()]
	for _, w := range []struct {
		name, state string
		v           float64
	}{
		{"lockd_locks", "exclusive", 2}, {"lockd_locks", "shared", 1}, {"lockd_locks", "delayed", 1},
		{"lockd_sessions", "holding", 3}, {"lockd_sessions", "waiting", 0}, {"lockd_sessions", "idle", 0},
	} {
		if v, ok := sampleOf(t, reg, w.name, map[string]string{"state": w.state}); !ok || v != w.v {
			t.Errorf("%s{state=%q} = %v (present %v), want %v", w.name, w.state, v, ok, w.v)
		}
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "lockd_lock_queue_length" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		// Four locks in use with queues of 0, 1, 2 and 0.
		if h.GetSampleCount() != 4 || h.GetSampleSum() != 3 {
			t.Fatalf("queue lengths: %d locks, %v waiters; want 4 and 3", h.GetSampleCount(), h.GetSampleSum())
		}
		for _, b := range h.GetBucket() {
			want := map[float64]uint64{0: 2, 1: 3, 2: 4}[b.GetUpperBound()]
			if b.GetUpperBound() >= 2 {
				want = 4
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("queue length bucket le=%v = %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
		return
	}
	t.Fatal("lockd_lock_queue_length not exported")
}

// Snapshots taken are measured by size and duration; leader changes are
// counted.
func TestSnapshotsAndLeaderChangesAreMeasured(t *testing.T) {
	var mu sync.Mutex
	regs := map[string]*prometheus.Registry{}
	c := newSvcCluster(t, 3, func(cfg *Config) {
		cfg.Node.SnapshotEntries = 4
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		mu.Lock()
		regs[cfg.ID] = reg
		mu.Unlock()
	})
	lead := c.leader()
	reg := regs[lead.ID()]
	if v := metricValue(t, reg, "lockd_leader_changes_total"); v < 1 {
		t.Fatalf("leader changes = %v, want at least the first election", v)
	}
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(time.Minute)
	for i := range 10 {
		if _, err := cl.acquire(s, strings.Repeat("k", i+1), false); err != nil {
			t.Fatal(err)
		}
	}
	svcWait(t, "a snapshot taken", 10*time.Second, func() bool {
		v, _ := sampleOf(t, reg, "lockd_snapshot_duration_seconds", map[string]string{"kind": "taken"})
		return v > 0
	})
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "lockd_snapshot_size_bytes" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != "taken" {
				continue
			}
			if h := m.GetHistogram(); h.GetSampleCount() == 0 || h.GetSampleSum() <= 0 {
				t.Fatalf("snapshots taken: %d sizes, sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
			return
		}
	}
	t.Fatal("lockd_snapshot_size_bytes not exported")
}
