package server

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/wal"
)

// diskGate stalls the WAL syncs of the nodes it is shut for (through
// wal.Options.BeforeSync) until it is opened.
type diskGate struct {
	mu      sync.Mutex
	stalled map[string]bool
	open    chan struct{}
	once    sync.Once
}

func newDiskGate() *diskGate {
	return &diskGate{stalled: map[string]bool{}, open: make(chan struct{})}
}

// hook is node id's BeforeSync.
func (g *diskGate) hook(id string) func() error {
	return func() error {
		g.mu.Lock()
		stall := g.stalled[id]
		g.mu.Unlock()
		if stall {
			<-g.open
		}
		return nil
	}
}

func (g *diskGate) stall(id string) {
	g.mu.Lock()
	g.stalled[id] = true
	g.mu.Unlock()
}

func (g *diskGate) release() { g.once.Do(func() { close(g.open) }) }

// gaugeValue reads a gauge without labels from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A leader whose disk stops answering keeps leading while its followers
// commit without it. The WAL watch reports the stall on /livez and in
// the metrics from half of WALStallTimeout, then fail-stops the node at
// the bound: it stops leading at once, with its write still hanging, and
// the other two elect a leader and go on serving. Time is the injected
// clock's: no real wait of the bound.
func TestStalledLeaderDiskFailStopsAndTheOthersElectANewLeader(t *testing.T) {
	gate := newDiskGate()
	regs := map[string]*prometheus.Registry{}
	c := newSvcCluster(t, 3, func(cfg *Config) {
		cfg.WALStallTimeout = 10 * time.Second
		cfg.WAL.BeforeSync = gate.hook(cfg.ID)
		regs[cfg.ID] = prometheus.NewRegistry()
		cfg.Registerer = regs[cfg.ID]
	})
	t.Cleanup(gate.release) // runs before the cluster closes: the hung write returns
	old := c.leader()
	id := old.ID()
	web := httptest.NewServer(NewHTTPHandler(old, regs[id], nil))
	t.Cleanup(web.Close)

	gate.stall(id)
	cl := dialClient(t, old.ClientAddr())
	go func() { // its write hangs on the leader; its answer does not matter
		var r api.OpenSessionResponse
		_ = cl.callRaw(api.MsgOpenSession, &api.OpenSessionRequest{Key: "stall", TTL: int64(time.Minute)}, &r)
	}()
	svcWait(t, "the watch to see the leader's write in flight", 10*time.Second, func() bool {
		old.walWatch.mu.Lock()
		defer old.walWatch.mu.Unlock()
		return old.walWatch.seen != 0
	})
	if err := old.Live(); err != nil {
		t.Fatalf("Live with a write just started = %v", err)
	}

	c.clock.Advance(6 * time.Second) // over half the bound
	svcWait(t, "/livez to report the stall", 10*time.Second, func() bool {
		return errors.Is(old.Live(), ErrWALStalled)
	})
	code, body := httpGetT(t, web, "/livez")
	if p := probeOf(t, body); code != http.StatusServiceUnavailable || p.Live == nil || *p.Live || !strings.Contains(p.Reason, "stalled") {
		t.Fatalf("/livez during the stall = %d %s, want 503 with the reason", code, body)
	}
	if ok, why := old.Ready(); ok || !strings.Contains(why, "stalled") || strings.Contains(why, "node stopped") {
		t.Fatalf("Ready during the stall = %v %q, want not ready for the stall (not stopped)", ok, why)
	}
	if got := gaugeValue(t, regs[id], "lockd_wal_stalled"); got != 1 {
		t.Fatalf("lockd_wal_stalled = %v during the stall", got)
	}
	if got := gaugeValue(t, regs[id], "lockd_wal_pending_seconds"); got < 5 {
		t.Fatalf("lockd_wal_pending_seconds = %v, want at least 5", got)
	}
	select {
	case <-old.FailStopped():
		t.Fatal("fail-stopped before the bound")
	default:
	}

	c.clock.Advance(5 * time.Second) // past the bound
	select {
	case <-old.FailStopped():
	case <-time.After(10 * time.Second):
		t.Fatal("no fail-stop after the bound")
	}
	if err := old.Live(); !errors.Is(err, ErrFailStop) || !errors.Is(err, ErrWALStalled) {
		t.Fatalf("Live after the fail-stop = %v, want ErrFailStop wrapping ErrWALStalled", err)
	}
	select {
	case <-old.node.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the fail-stopped node's loop still runs, its write hanging")
	}
	if old.node.IsLeader() {
		t.Fatal("the fail-stopped node still reports itself leader")
	}

	// Out of the cluster's view (it is closed at cleanup, after the gate
	// opens); the other two elect a leader and serve.
	c.servers[id] = nil
	t.Cleanup(func() {
		gate.release()
		if err := old.Close(); err != nil {
			t.Errorf("closing the fail-stopped node after its disk came back: %v", err)
		}
	})
	lead := c.leader()
	if lead.ID() == id {
		t.Fatalf("leader is still %s", id)
	}
	nc := dialClient(t, lead.ClientAddr())
	sess := nc.open(time.Minute)
	if r, err := nc.acquire(sess, "after-stall", false); err != nil || !r.Granted {
		t.Fatalf("acquire on the new leader = %+v, %v", r, err)
	}
}

// A sync that fails (EIO) fail-stops the node, whether the watch or the
// ended loop sees it first, with the WAL's failure as the reason; the
// others go on.
func TestFailedSyncFailStopsTheNode(t *testing.T) {
	var mu sync.Mutex
	failing := ""
	c := newSvcCluster(t, 3, func(cfg *Config) {
		id := cfg.ID
		cfg.WAL.BeforeSync = func() error {
			mu.Lock()
			defer mu.Unlock()
			if failing == id {
				return syscall.EIO
			}
			return nil
		}
	})
	f := c.follower()
	mu.Lock()
	failing = f.ID()
	mu.Unlock()
	cl := dialClient(t, c.leader().ClientAddr())
	cl.open(time.Minute) // the follower's write of it fails
	select {
	case <-f.FailStopped():
	case <-time.After(10 * time.Second):
		t.Fatal("no fail-stop after a failed sync")
	}
	if err := f.Live(); !errors.Is(err, ErrFailStop) || !errors.Is(err, wal.ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Live = %v, want ErrFailStop wrapping the WAL's EIO", err)
	}
	c.servers[f.ID()] = nil
	t.Cleanup(func() { _ = f.Close() })
	cl.open(time.Minute) // the other two still commit
}
