package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/raftnode"
)

// SnapshotSave returns a consistent backup in chunks whose bytes an FSM
// restores to the cluster's state; a fetch of a replaced backup is refused.
func TestSnapshotSaveReturnsRestorableBackup(t *testing.T) {
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.RPC.MaxFrameSize = 4096 })
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	s := cl.open(time.Minute)
	for i := 0; i < 30; i++ {
		if _, err := cl.call2(api.MsgAcquire, &api.AcquireRequest{Write: cl.write(s), Name: fmt.Sprintf("backup/%02d", i),
			Mode: api.ModeExclusive, Value: bytes.Repeat([]byte{'v'}, 200)}); err != nil {
			t.Fatal(err)
		}
	}
	var first api.SnapshotSaveResponse
	cl.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{}, &first)
	data := append([]byte(nil), first.Data...)
	chunks := 1
	for uint64(len(data)) < first.Total {
		var r api.SnapshotSaveResponse
		cl.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{Index: first.Index, Offset: uint64(len(data))}, &r)
		if r.Index != first.Index || r.Total != first.Total || r.CRC32C != first.CRC32C || len(r.Data) == 0 {
			t.Fatalf("chunk at %d: %+v", len(data), r)
		}
		data = append(data, r.Data...)
		chunks++
	}
	if chunks < 2 {
		t.Fatalf("a %d-byte backup came in %d chunk(s); the test wants several", first.Total, chunks)
	}
	if crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)) != first.CRC32C {
		t.Fatal("backup checksum mismatch")
	}
	restored, err := fsm.New(lead.cfg.FSM)
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Restore(data); err != nil {
		t.Fatalf("restore of the backup: %v", err)
	}
	if restored.AppliedIndex() != first.Index || len(restored.Locks()) != 30 {
		t.Fatalf("restored index %d with %d locks, want %d and 30", restored.AppliedIndex(), len(restored.Locks()), first.Index)
	}
	var live []byte
	lead.app.read(func(f *fsm.Machine) { live, _ = f.Snapshot() })
	if mine, _ := restored.Snapshot(); !bytes.Equal(mine, live) {
		t.Fatal("the restored backup differs from the leader's state")
	}
	wantCode(t, cl.call(api.MsgSnapshotSave, &api.SnapshotSaveRequest{Index: first.Index + 1000, Offset: 10}, nil), api.CodeSnapshotGone)

	// A newer backup replaces it; a kept one is forgotten after the
	// retention time.
	if _, err := cl.acquire(s, "backup/newer", false); err != nil {
		t.Fatal(err)
	}
	var second api.SnapshotSaveResponse
	cl.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{}, &second)
	if second.Index <= first.Index {
		t.Fatalf("second backup at %d, first at %d", second.Index, first.Index)
	}
	wantCode(t, cl.call(api.MsgSnapshotSave, &api.SnapshotSaveRequest{Index: first.Index, Offset: 10}, nil), api.CodeSnapshotGone)
	cl.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{Index: second.Index, Offset: 10}, nil)
	c.clock.Advance(lead.cfg.BackupRetention + time.Second)
	wantCode(t, cl.call(api.MsgSnapshotSave, &api.SnapshotSaveRequest{Index: second.Index, Offset: 10}, nil), api.CodeSnapshotGone)
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// The lockd_ metrics follow the cluster, and no label names a lock or a
// session.
func TestMetricsReportClusterState(t *testing.T) {
	regs := map[string]*prometheus.Registry{}
	c := newSvcCluster(t, 3, func(cfg *Config) {
		r := prometheus.NewRegistry()
		regs[cfg.ID] = r
		cfg.Registerer = r
	})
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	a, b := cl.open(time.Minute), cl.open(time.Minute)
	if _, err := cl.acquire(a, "metric/lock", false); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.acquire(b, "metric/lock", true); err != nil {
		t.Fatal(err)
	}
	reg := regs[c.leader().ID()]
	for name, want := range map[string]float64{"lockd_has_leader": 1, "lockd_is_leader": 1, "lockd_sessions_open": 2,
		"lockd_locks_held": 1, "lockd_lock_waiters": 1, "lockd_acquire_duration_seconds": 2} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"lockd_proposals_total", "lockd_wal_fsync_duration_seconds", "lockd_term",
		"lockd_commit_index", "lockd_applied_index", "lockd_leader_changes_total", "lockd_rpc_connections"} {
		if metricValue(t, reg, name) <= 0 {
			t.Errorf("%s is not positive", name)
		}
	}
	mfs, _ := reg.Gather()
	// The rpc connection counters, by listener and reason.
	series := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := mf.GetName()
			for _, lp := range m.GetLabel() {
				labels += " " + lp.GetName() + "=" + lp.GetValue()
			}
			series[labels] = true
		}
	}
	for _, listener := range []string{"client", "peer"} {
		for _, want := range []string{
			"lockd_rpc_connections listener=" + listener,
			"lockd_rpc_connections_refused_total listener=" + listener + " reason=max_conns",
			"lockd_rpc_connections_refused_total listener=" + listener + " reason=max_conns_per_ip",
			"lockd_rpc_connections_cut_total listener=" + listener + " reason=slow_reader",
			"lockd_rpc_handshakes_failed_total listener=" + listener,
		} {
			if !series[want] {
				t.Errorf("no series %q", want)
			}
		}
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "lockd_") {
			t.Errorf("metric %s lacks the lockd_ prefix", mf.GetName())
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.Contains(lp.GetValue(), "metric/lock") {
					t.Errorf("metric %s names a lock in label %s", mf.GetName(), lp.GetName())
				}
			}
		}
	}
	c.clock.Advance(2 * time.Minute)
	svcWait(t, "both sessions to expire", 10*time.Second, func() bool {
		return metricValue(t, reg, "lockd_sessions_expired_total") == 2 && metricValue(t, reg, "lockd_sessions_open") == 0
	})
}

// Status, ClusterStatus, Ready and Live describe the cluster; a stopped
// member shows up with an error.
func TestStatusReadyAndClusterStatus(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	svcWait(t, "every node ready", 10*time.Second, func() bool {
		for _, s := range c.servers {
			if ok, _ := s.Ready(); !ok || s.Live() != nil {
				return false
			}
		}
		return true
	})
	f := c.follower()
	fc := dialClient(t, f.ClientAddr())
	var st api.NodeStatus
	// The follower learns the leader's client address by asking it over
	// the peer transport after the election, which may end after Ready.
	svcWait(t, "the follower to know the leader's client address", 10*time.Second, func() bool {
		fc.must(api.MsgStatus, &api.StatusRequest{}, &st)
		return st.LeaderAddr != ""
	})
	if st.ID != f.ID() || st.Role != "follower" || st.Leader != lead.ID() || st.LeaderAddr != lead.ClientAddr() {
		t.Fatalf("follower status %+v", st)
	}
	lc := dialClient(t, lead.ClientAddr())
	lc.must(api.MsgStatus, &api.StatusRequest{}, &st)
	if st.Role != "leader" || len(st.Progress) != 3 {
		t.Fatalf("leader status %+v", st)
	}
	var down string
	for _, id := range c.ids() {
		if id != lead.ID() && id != f.ID() {
			down = id
		}
	}
	c.stop(down)
	var cs api.ClusterStatusResponse
	fc.must(api.MsgClusterStatus, &api.ClusterStatusRequest{}, &cs)
	if len(cs.Nodes) != 3 {
		t.Fatalf("cluster status %+v", cs)
	}
	for _, n := range cs.Nodes {
		switch {
		case n.ID == down && (n.Error == "" || n.Status != nil):
			t.Errorf("stopped node %s: %+v", n.ID, n)
		case n.ID != down && (n.Error != "" || n.Status == nil || n.Status.ID != n.ID || n.ClientAddr == ""):
			t.Errorf("running node %s: %+v", n.ID, n)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.ID, good.DataDir, good.PeerAddr, good.ClientAddr = "n1", t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	good.InitialCluster = map[string]string{"n1": "127.0.0.1:1"}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	bad := map[string]func(*Config){
		"empty ID":                   func(c *Config) { c.ID = "" },
		"empty data dir":             func(c *Config) { c.DataDir = "" },
		"empty peer addr":            func(c *Config) { c.PeerAddr = "" },
		"empty client addr":          func(c *Config) { c.ClientAddr = "" },
		"cluster without self":       func(c *Config) { c.InitialCluster = map[string]string{"n2": "x:1"} },
		"cluster entry without addr": func(c *Config) { c.InitialCluster = map[string]string{"n1": ""} },
		"zero request timeout":       func(c *Config) { c.RequestTimeout = 0 },
		"zero scan interval":         func(c *Config) { c.LeaseScanInterval = 0 },
		"bad node timings":           func(c *Config) { c.Node.HeartbeatTick = c.Node.ElectionTick },
		"negative write delay":       func(c *Config) { c.Node.LeaderWriteDelay = -1 },
		"write delay of a heartbeat": func(c *Config) { c.Node.LeaderWriteDelay = c.Node.TickInterval * time.Duration(c.Node.HeartbeatTick) },
		"bad FSM":                    func(c *Config) { c.FSM.Sessions.MinTTL = 0 },
		"bad rpc":                    func(c *Config) { c.RPC.MaxFrameSize = 1 },
		"zero snapshot size":         func(c *Config) { c.MaxSnapshotBytes = 0 },
		"snapshot idle below a call": func(c *Config) { c.SnapshotIdleTimeout = c.RPC.DefaultCallTimeout - 1 },
		"negative connection limit":  func(c *Config) { c.RPC.MaxConnsPerIP = -1 },
	}
	for name, mut := range bad {
		cfg := good
		mut(&cfg)
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
	// An empty data directory needs a cluster to found or Join.
	lone := good
	lone.InitialCluster = nil
	if _, err := New(lone); !errors.Is(err, ErrNoBootstrap) {
		t.Fatalf("New without InitialCluster or Join: %v", err)
	}
}

// A node started with Join serves no data and does not campaign while it
// waits to be added.
func TestJoiningNodeWaitsToBeAdded(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	c.leader()
	c.addJoiner("n2")
	j := c.start("n2")
	jc := dialClient(t, j.ClientAddr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := j.Status(ctx)
	if err != nil || st.Role != "follower" || st.Term != 0 {
		t.Fatalf("joining node status %+v %v", st, err)
	}
	if ok, _ := j.Ready(); ok {
		t.Fatal("a node that has not joined reports ready")
	}
	wantCode(t, jc.callRaw(api.MsgOpenSession, &api.OpenSessionRequest{}, nil), api.CodeNotLeader)
}

// Node and core errors map to the client codes the SDK retries on.
func TestNodeErrorsMapToClientCodes(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	s := c.leader()
	ctx := context.Background()
	cases := []struct {
		err  error
		want api.Code
	}{
		{raftnode.ErrProposalLost, api.CodeNotLeader},
		{fmt.Errorf("wrapped: %w", consensus.ErrNotLeader), api.CodeNotLeader},
		{raftnode.ErrReadDropped, api.CodeNotLeader},
		{consensus.ErrTransferInProgress, api.CodeNotLeader},
		{consensus.ErrProposalDropped, api.CodeNotLeader},
		{raftnode.ErrStopped, api.CodeUnavailable},
		{context.DeadlineExceeded, api.CodeNoQuorum},
		{consensus.ErrConfChangePending, api.CodeChangeInProgress},
		{consensus.ErrUnknownNode, api.CodeUnknownMember},
		{consensus.ErrInvalidConfChange, api.CodeInvalidRequest},
		{api.Errorf(api.CodeLockHeld, "x"), api.CodeLockHeld},
	}
	for _, tc := range cases {
		werr := wireError(s.nodeError(ctx, tc.err))
		if got := codeOf(t, werr); got != tc.want {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.want)
		}
	}
	// The leader's own hint is its client address.
	var re *rpc.RemoteError
	if !errors.As(wireError(s.nodeError(ctx, raftnode.ErrProposalLost)), &re) || re.Message != s.ClientAddr() {
		t.Fatalf("hint %v, want %s", re, s.ClientAddr())
	}
	if errors.Is(wireError(s.nodeError(ctx, context.Canceled)), context.Canceled) == false {
		t.Fatal("a cancelled request should stay cancelled")
	}
}
