package raftnode

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/internal/faults"
	"github.com/lockd/lockd/internal/freeport"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/peer"
	"github.com/lockd/lockd/wal"
)

// recordSM is a test state machine: the ordered list of applied payloads.
// Its snapshot is the list itself, so a node restored from a snapshot can be
// compared entry by entry with one that applied the log.
type recordSM struct {
	mu   sync.Mutex
	recs [][]byte
}

func (s *recordSM) Apply(index uint64, data []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, append([]byte(nil), data...))
	return index
}

func (s *recordSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var buf bytes.Buffer
	for _, r := range s.recs {
		buf.Write(binary.AppendUvarint(nil, uint64(len(r))))
		buf.Write(r)
	}
	return buf.Bytes(), nil
}

func (s *recordSM) Restore(data []byte) error {
	var recs [][]byte
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 || uint64(len(data)-k) < n {
			return fmt.Errorf("recordSM: corrupt snapshot")
		}
		recs = append(recs, append([]byte(nil), data[k:k+int(n)]...))
		data = data[k+int(n):]
	}
	s.mu.Lock()
	s.recs = recs
	s.mu.Unlock()
	return nil
}

// digest returns how many records were applied and a checksum of them all.
func (s *recordSM) digest() (int, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := crc32.NewIEEE()
	for _, r := range s.recs {
		h.Write(r)
	}
	return len(s.recs), h.Sum32()
}

type testNode struct {
	id     consensus.NodeID
	dir    string
	addr   string
	faults *faults.Injector
	cfg    Config
	hooks  Hooks // passed to New at every start

	wal  *wal.WAL
	tr   *peer.Transport
	node *Node
	sm   *recordSM
}

type testCluster struct {
	t     testing.TB
	nodes map[consensus.NodeID]*testNode
	conf  consensus.ConfState
	log   hclog.Logger
}

// newTestCluster starts n nodes with WALs on disk and TCP on 127.0.0.1.
func newTestCluster(t testing.TB, n int, tweak func(*Config, *wal.Options)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, nodes: map[consensus.NodeID]*testNode{}, log: hclog.NewNullLogger(),
		conf: consensus.ConfState{Addrs: map[consensus.NodeID]string{}}}
	for i := 1; i <= n; i++ {
		id := consensus.NodeID(fmt.Sprintf("n%d", i))
		tn := &testNode{id: id, dir: t.TempDir(), faults: faults.New()}
		tn.cfg = DefaultConfig(id)
		tn.cfg.Seed = uint64(i) * 7919
		tn.cfg.Logger = c.log
		c.nodes[id] = tn
		c.conf.Voters = append(c.conf.Voters, id)
	}
	// Bind every transport first so the membership can name real ports.
	for _, tn := range c.nodes {
		tr := c.newTransport(tn)
		addr, err := tr.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tn.addr, tn.tr = addr, tr
		c.conf.Addrs[tn.id] = addr
	}
	for _, tn := range c.nodes {
		c.startNode(tn, tweak)
	}
	t.Cleanup(c.stopAll)
	return c
}

func (c *testCluster) newTransport(tn *testNode) *peer.Transport {
	rc := rpc.DefaultConfig()
	faults.AttachRPC(&rc, tn.faults)
	rc.Logger = c.log
	tr, err := peer.New(tn.id, rc)
	if err != nil {
		c.t.Fatal(err)
	}
	return tr
}

func (c *testCluster) startNode(tn *testNode, tweak func(*Config, *wal.Options)) {
	c.t.Helper()
	wo := wal.DefaultOptions(tn.dir)
	wo.Logger = c.log
	if tweak != nil {
		tweak(&tn.cfg, &wo)
	}
	w, err := wal.Open(wo)
	if err != nil {
		c.t.Fatalf("open wal of %s: %v", tn.id, err)
	}
	if err := Bootstrap(w, c.conf); err != nil {
		c.t.Fatal(err)
	}
	if tn.tr == nil {
		tn.tr = c.newTransport(tn)
		if _, err := tn.tr.Listen(tn.addr); err != nil {
			c.t.Fatal(err)
		}
	}
	tn.sm = &recordSM{}
	node, err := New(tn.cfg, w, tn.sm, tn.tr, tn.hooks)
	if err != nil {
		c.t.Fatalf("new node %s: %v", tn.id, err)
	}
	tn.tr.SetStepper(node)
	tn.wal, tn.node = w, node
	node.Start()
}

// crash stops a node abruptly: its loop ends, its sockets close and its WAL
// is closed without any further write. What it had synced is all it keeps.
func (c *testCluster) crash(id consensus.NodeID) {
	tn := c.nodes[id]
	if tn.node == nil {
		return
	}
	tn.node.Stop()
	_ = tn.tr.Close()
	_ = tn.wal.Close()
	tn.node, tn.tr, tn.wal = nil, nil, nil
}

func (c *testCluster) stopAll() {
	for id := range c.nodes {
		c.crash(id)
	}
}

// waitFor polls cond until it holds or the deadline passes. The deadline
// bounds the test; it is not a timing expectation.
func (c *testCluster) waitFor(what string, d time.Duration, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits for a leader that all running nodes agree on.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	var lead consensus.NodeID
	c.waitFor("a leader", 20*time.Second, func() bool {
		lead = consensus.None
		for _, tn := range c.nodes {
			if tn.node != nil && tn.node.IsLeader() {
				lead = tn.id
			}
		}
		if lead == consensus.None {
			return false
		}
		for _, tn := range c.nodes {
			if tn.node != nil && tn.node.Leader() != lead {
				return false
			}
		}
		return true
	})
	return c.nodes[lead]
}

// follower returns the ID of a node that follows the current leader.
func (c *testCluster) follower() consensus.NodeID {
	c.t.Helper()
	lead := c.leader()
	for id, tn := range c.nodes {
		if id != lead.id && tn.node != nil {
			return id
		}
	}
	c.t.Fatal("no running follower")
	return consensus.None
}

// propose commits count payloads through the leader, retrying on leader
// changes, and returns the payloads in order.
func (c *testCluster) propose(prefix string, count int) {
	c.t.Helper()
	for i := 0; i < count; i++ {
		data := []byte(fmt.Sprintf("%s-%d", prefix, i))
		for attempt := 0; ; attempt++ {
			lead := c.leader()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := lead.node.Propose(ctx, data)
			cancel()
			if err == nil {
				break
			}
			if attempt > 20 {
				c.t.Fatalf("proposal %s failed: %v", data, err)
			}
		}
	}
}

// converged waits until every running node applied the same records.
func (c *testCluster) converged(want int) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("all nodes to apply %d records", want), 30*time.Second, func() bool {
		var first uint32
		seen := false
		for _, tn := range c.nodes {
			if tn.node == nil {
				continue
			}
			n, sum := tn.sm.digest()
			if n != want {
				return false
			}
			if seen && sum != first {
				c.t.Fatalf("node %s applied different records", tn.id)
			}
			first, seen = sum, true
		}
		return true
	})
}

// freeAddrs returns n distinct free loopback addresses (internal/freeport).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		addr, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	return out
}
