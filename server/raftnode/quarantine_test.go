package raftnode

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/wal"
)

// dropRecorder counts Hooks.PeerMessageDropped reports by (from, reason).
type dropRecorder struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (d *dropRecorder) hook(from consensus.NodeID, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[[2]string]int{}
	}
	d.n[[2]string{string(from), reason}]++
}

func (d *dropRecorder) count(from consensus.NodeID, reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[[2]string{string(from), reason}]
}

// A peer enters quarantine for the configured ticks, a new offence
// restarts them, and length 0 never quarantines.
func TestQuarantineLastsItsTicks(t *testing.T) {
	q := newQuarantine(3)
	if !q.add("n2") || q.add("n2") {
		t.Fatal("add reports a fresh quarantine only the first time")
	}
	for i := 0; i < 3; i++ {
		if !q.holds("n2") {
			t.Fatalf("released after %d of 3 ticks", i)
		}
		if q.holds("n3") {
			t.Fatal("an innocent peer is held")
		}
		q.tick()
	}
	if q.holds("n2") {
		t.Fatal("still held after 3 ticks")
	}
	q.add("n2")
	q.tick()
	q.tick()
	q.add("n2") // offends again: three more ticks from now
	q.tick()
	q.tick()
	if !q.holds("n2") {
		t.Fatal("a repeated offence did not extend the quarantine")
	}
	off := newQuarantine(0)
	if off.add("n2") || off.holds("n2") {
		t.Fatal("QuarantineTicks 0 quarantined a peer")
	}
}

// A forged MsgHeartbeat with term 2^64-1 used to be persisted, and the
// node then panicked at every start (term+1 wraps). It is dropped and
// counted, its claimed sender is quarantined, nothing reaches the WAL,
// and the node restarts and takes part in elections and commits.
func TestForgedMaxTermHeartbeatIsDroppedAndTheNodeRestarts(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.propose("a", 10)
	c.converged(10)
	lead := c.leader()
	victim := c.follower()
	drops := &dropRecorder{}
	c.crash(victim)
	c.nodes[victim].hooks = Hooks{PeerMessageDropped: drops.hook}
	c.startNode(c.nodes[victim], nil)
	c.converged(10)
	term := c.nodes[victim].node.Term()

	forged := consensus.Message{Type: consensus.MsgHeartbeat, From: lead.id, To: victim, Term: math.MaxUint64}
	c.nodes[victim].node.Step(forged) // as the transport delivers it
	c.waitFor("the forged heartbeat to be counted", 10*time.Second, func() bool {
		return drops.count(lead.id, DropOutOfRange) == 1
	})
	// Its claimed sender is quarantined: the leader's next heartbeats are
	// dropped unread.
	c.waitFor("the claimed sender's messages to be dropped", 10*time.Second, func() bool {
		return drops.count(lead.id, DropQuarantined) > 0
	})
	if got := c.nodes[victim].node.Term(); got >= consensus.MaxTerm {
		t.Fatalf("term %d after the forged heartbeat; want it near %d", got, term)
	}

	c.crash(victim)
	w, err := wal.Open(wal.DefaultOptions(c.nodes[victim].dir))
	if err != nil {
		t.Fatal(err)
	}
	hs, _, err := w.InitialState()
	_ = w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if hs.Term >= consensus.MaxTerm {
		t.Fatalf("the forged term reached the WAL: %d", hs.Term)
	}
	c.startNode(c.nodes[victim], nil) // quarantine is not persisted
	c.propose("b", 10)
	c.converged(20)
	// The restarted node takes part in an election: without the old leader
	// it and the third node elect one and commit.
	c.crash(lead.id)
	c.propose("c", 10)
	c.converged(30)
}
