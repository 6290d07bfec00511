package raftnode

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/wal"
)

// Reference: Raft §5.2, §5.3 — a leader is elected and replicates to all.
func TestClusterElectsLeaderAndReplicates(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.propose("a", 50)
	c.converged(50)
}

// Reference: Raft §5.4.1, §5.6 — a node that crashed loses nothing it
// synced and catches up from the leader's log after restart.
func TestRestartedFollowerCatchesUpByLog(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.propose("a", 20)
	c.converged(20)
	victim := c.follower()
	c.crash(victim)
	c.propose("b", 100)
	c.startNode(c.nodes[victim], nil)
	c.converged(120)
}

// Reference: Raft §7 — a follower behind the compacted log catches up by
// InstallSnapshot, streamed in chunks.
func TestFollowerBehindCompactionCatchesUpBySnapshot(t *testing.T) {
	tweak := func(nc *Config, wo *wal.Options) {
		nc.SnapshotEntries = 40
		wo.KeepTail = 5
	}
	c := newTestCluster(t, 3, tweak)
	c.propose("a", 10)
	c.converged(10)
	victim := c.follower()
	c.crash(victim)
	c.propose("b", 200)
	first, err := c.leader().wal.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	if first <= 20 {
		t.Fatalf("leader's log was not compacted: first index %d", first)
	}
	c.startNode(c.nodes[victim], tweak)
	c.converged(210)
	snap, err := c.nodes[victim].wal.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Meta.Index <= 20 {
		t.Fatalf("restarted follower did not install a snapshot: snapshot index %d", snap.Meta.Index)
	}
}

// Reference: Raft §5.2, §9.6 — a leader cut off from the others loses
// leadership, the majority elects a new one, and after healing the old
// leader rejoins and converges.
func TestPartitionedLeaderIsReplacedAndRejoins(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.propose("a", 10)
	old := c.leader()
	c.partition(old.id)
	c.waitFor("a new leader in the majority", 20*time.Second, func() bool {
		for id, tn := range c.nodes {
			if id != old.id && tn.node.IsLeader() {
				return true
			}
		}
		return false
	})
	c.waitFor("the isolated leader to step down", 20*time.Second, func() bool { return !old.node.IsLeader() })
	// Proposals on the isolated node fail rather than hang forever.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := old.node.Propose(ctx, []byte("lost"))
	cancel()
	if err == nil {
		t.Fatal("a proposal on the isolated former leader succeeded")
	}
	c.heal(old.id)
	c.propose("b", 10)
	c.converged(20)
}

// failingStore is a LogStore whose writes start failing on demand, like a
// disk whose fsync returns an error.
type failingStore struct {
	LogStore
	fail atomic.Bool
}

var errInjectedSync = errors.New("injected fsync failure")

func (f *failingStore) Save(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) error {
	if f.fail.Load() {
		return errInjectedSync
	}
	return f.LogStore.Save(hs, ents, snap)
}

// A failed WAL write stops the node for good (no retry after a failed
// fsync), and the proposal that needed it is never acknowledged.
func TestNodeStopsWhenStorageFails(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	lead := c.leader()
	c.propose("a", 5)
	// Rebuild the leader over a store that fails its next write.
	c.crash(lead.id)
	lead = c.nodes[lead.id]
	w, err := wal.Open(wal.DefaultOptions(lead.dir))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fs := &failingStore{LogStore: w}
	lead.tr = c.newTransport(lead)
	if _, err := lead.tr.Listen(lead.addr); err != nil {
		t.Fatal(err)
	}
	defer lead.tr.Close()
	node, err := New(lead.cfg, fs, &recordSM{}, lead.tr, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	lead.tr.SetStepper(node)
	fs.fail.Store(true)
	node.Start()
	defer node.Stop()
	select {
	case <-node.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("node kept running after its WAL failed")
	}
	if !errors.Is(node.Err(), errInjectedSync) {
		t.Fatalf("node stopped with %v, want the storage error", node.Err())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := node.Propose(ctx, []byte("after-failure")); !errors.Is(err, ErrStopped) {
		t.Fatalf("proposal on a failed node: %v, want ErrStopped", err)
	}
}

// Reference: Raft thesis §6.4 — ReadIndex on the leader returns once the
// local state reflects every write committed before the call.
func TestReadIndexSeesCommittedWrites(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.propose("a", 30)
	for _, tn := range c.nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := tn.node.ReadIndex(ctx)
		cancel()
		if err != nil {
			t.Fatalf("read index on %s: %v", tn.id, err)
		}
		if n, _ := tn.sm.digest(); n != 30 {
			t.Fatalf("after ReadIndex %s has applied %d records, want 30", tn.id, n)
		}
	}
}

// partition cuts id off from every other node, in both directions.
func (c *testCluster) partition(id consensus.NodeID) {
	for oid, tn := range c.nodes {
		if oid == id {
			continue
		}
		tn.faults.Block(string(id))
		c.nodes[id].faults.Block(string(oid))
	}
}

func (c *testCluster) heal(id consensus.NodeID) {
	for oid, tn := range c.nodes {
		if oid == id {
			continue
		}
		tn.faults.Unblock(string(id))
		c.nodes[id].faults.Unblock(string(oid))
	}
}
