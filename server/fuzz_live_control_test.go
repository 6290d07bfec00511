package server

import (
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// newFuzzRig starts the cluster, connections and checker FuzzLiveCluster
// uses.
func newFuzzRig(t testing.TB) (*svcCluster, *fuzzConns, *liveChecker) {
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.WAL.UnsafeNoSync = true })
	c.leader()
	fc := &fuzzConns{conns: make([]*rpc.ClientConn, len(c.ids()))}
	for _, id := range c.ids() {
		fc.addrs = append(fc.addrs, c.servers[id].ClientAddr())
	}
	t.Cleanup(fc.close)
	return c, fc, newLiveChecker(c)
}

// The fuzz inputs reach the cluster: the first seed opens a session and
// takes a lock on every replica (else the fuzzer would test nothing).
func TestFuzzInputsReachTheCluster(t *testing.T) {
	c, fc, lc := newFuzzRig(t)
	if err := runFuzzInput(c, fc, lc, fuzzSeeds[0]); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids() {
		c.servers[id].app.read(func(f *fsm.Machine) {
			if len(f.Sessions()) == 0 || len(f.Locks()) == 0 {
				t.Errorf("node %s: %d sessions, %d locks after the seed; want some of each", id, len(f.Sessions()), len(f.Locks()))
			}
		})
	}
}

// Negative control: a replica whose state machine applied one command
// outside the log (a planted divergence, as a non-deterministic apply
// would cause) is caught at the next request, at the same applied index
// as the others.
func TestLiveCheckerCatchesADivergentReplica(t *testing.T) {
	c, fc, lc := newFuzzRig(t)
	if err := runFuzzInput(c, fc, lc, fuzzSeeds[0]); err != nil {
		t.Fatal(err)
	}
	lead := c.leader()
	var victim *Server
	for _, id := range c.ids() {
		if s := c.servers[id]; s != lead {
			victim = s
			break
		}
	}
	codec := fsm.NewCodec()
	victim.app.mu.Lock()
	data, err := codec.Encode(fsm.Command{Type: fsm.CmdOpenSession, Time: victim.app.fsm.Time()}, &fsm.OpenSessionBody{Key: "planted", TTL: int64(time.Minute)})
	if err == nil {
		victim.app.fsm.Apply(victim.app.fsm.AppliedIndex()+1, data)
	}
	victim.app.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// One more real request: the victim ignores its entry (already
	// "applied") and now holds different state at the same index.
	cl := dialClient(t, lead.ClientAddr())
	cl.open(time.Minute)
	err = lc.check()
	if err == nil || !strings.Contains(err.Error(), "differ at applied index") {
		t.Fatalf("the checker missed the planted divergence: %v", err)
	}
}
