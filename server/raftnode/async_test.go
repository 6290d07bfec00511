package raftnode

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/wal"
)

// gateStore is a LogStore whose Save can be held: while the gate is shut,
// a Save waits (after telling blocked) until it opens.
type gateStore struct {
	LogStore
	mu      sync.Mutex
	shut    chan struct{} // nil when open; closed to open
	blocked chan []consensus.Entry
	saved   chan uint64 // last index of each completed Save with entries
}

func (g *gateStore) Save(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) error {
	g.mu.Lock()
	shut := g.shut
	g.mu.Unlock()
	if shut != nil {
		g.blocked <- ents
		<-shut
	}
	err := g.LogStore.Save(hs, ents, snap)
	if err == nil && len(ents) > 0 {
		select {
		case g.saved <- ents[len(ents)-1].Index:
		default:
		}
	}
	return err
}

func (g *gateStore) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.shut = make(chan struct{})
}

// open lets held and later Saves through; it may be called more than once.
func (g *gateStore) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut != nil {
		close(g.shut)
		g.shut = nil
	}
}

// scriptedPeers plays n2 and n3 for a node under test: they grant every
// vote and answer every heartbeat; MsgApp is acknowledged only while
// ackApps is set, and never by silent.
type scriptedPeers struct {
	mu      sync.Mutex
	node    *Node
	ackApps bool
	silent  consensus.NodeID
	// onSend, if set, sees every message the node sends.
	onSend func(m consensus.Message)
}

func (p *scriptedPeers) Send(msgs []consensus.Message) {
	p.mu.Lock()
	ack := p.ackApps
	node := p.node
	onSend := p.onSend
	p.mu.Unlock()
	for _, m := range msgs {
		if onSend != nil {
			onSend(m)
		}
		r := consensus.Message{From: m.To, To: m.From, Term: m.Term}
		switch m.Type {
		case consensus.MsgPreVote:
			r.Type = consensus.MsgPreVoteResp
		case consensus.MsgVote:
			r.Type = consensus.MsgVoteResp
		case consensus.MsgHeartbeat:
			r.Type, r.Context = consensus.MsgHeartbeatResp, m.Context
		case consensus.MsgApp:
			if !ack || m.To == p.silent {
				continue
			}
			r.Type, r.Index = consensus.MsgAppResp, m.Index+uint64(len(m.Entries))
		default:
			continue
		}
		go node.Step(r) // as a transport would: never on the loop goroutine
	}
}

func (p *scriptedPeers) SetPeers(map[consensus.NodeID]string) {}

func (p *scriptedPeers) setAck(on bool) {
	p.mu.Lock()
	p.ackApps = on
	p.mu.Unlock()
}

// startScripted bootstraps store as n1's log in a three-node cluster and
// starts n1 on it (seed 1) with peers playing n2 and n3; n1 is stopped at
// cleanup.
func startScripted(t *testing.T, store LogStore, peers *scriptedPeers, cfg Config) *Node {
	t.Helper()
	conf := consensus.ConfState{Voters: []consensus.NodeID{"n1", "n2", "n3"},
		Addrs: map[consensus.NodeID]string{"n1": "x:1", "n2": "x:2", "n3": "x:3"}}
	if err := Bootstrap(store, conf); err != nil {
		t.Fatal(err)
	}
	cfg.Seed = 1
	node, err := New(cfg, store, &recordSM{}, peers, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	peers.node = node
	node.Start()
	t.Cleanup(node.Stop)
	return node
}

// startGatedLeader starts n1 over a gateStore with scripted peers and
// waits until it leads.
func startGatedLeader(t *testing.T, ctx context.Context) (*Node, *gateStore, *scriptedPeers) {
	t.Helper()
	w, err := wal.Open(wal.DefaultOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	gs := &gateStore{LogStore: w, blocked: make(chan []consensus.Entry, 1), saved: make(chan uint64, 64)}
	peers := &scriptedPeers{ackApps: true}
	node := startScripted(t, gs, peers, DefaultConfig("n1"))
	t.Cleanup(gs.open) // runs first: Stop waits for a held write
	for !node.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatal("n1 never became leader")
		case <-node.LeaderChanged():
		}
	}
	return node, gs, peers
}

// leaderAfterWrite starts a gated leader and commits a first write, "a",
// through it.
func leaderAfterWrite(t *testing.T, ctx context.Context) (*Node, *gateStore, *scriptedPeers, Applied) {
	t.Helper()
	node, gs, peers := startGatedLeader(t, ctx)
	a, err := node.Propose(ctx, []byte("a"))
	if err != nil {
		t.Fatalf("propose a: %v", err)
	}
	return node, gs, peers, a
}

// A leader whose fsync of a newer entry is still running answers a write
// as soon as a follower's acknowledgement commits it: the loop keeps
// stepping during the fsync and applies what commits (TakeCommitted). With
// the loop blocked in its fsync instead, the write below would wait for
// the gate to open and the test would time out.
func TestLeaderAnswersAWriteWhileItsNextFsyncRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node, gs, peers, a := leaderAfterWrite(t, ctx)

	// b is persisted by the leader, but no follower acknowledges it yet.
	peers.setAck(false)
	bDone := make(chan Applied, 1)
	go func() {
		a, _ := node.Propose(ctx, []byte("b"))
		bDone <- a
	}()
	var bIndex uint64
	for bIndex == 0 {
		select {
		case i := <-gs.saved:
			if i > a.Index {
				bIndex = i
			}
		case <-ctx.Done():
			t.Fatal("b was never saved")
		}
	}

	// c's fsync hangs.
	gs.close()
	go func() { _, _ = node.Propose(ctx, []byte("c")) }()
	select {
	case <-gs.blocked:
	case <-ctx.Done():
		t.Fatal("c's write never started")
	}

	// n2 acknowledges b: b commits and must be answered now.
	node.Step(consensus.Message{Type: consensus.MsgAppResp, From: "n2", To: "n1", Term: node.Term(), Index: bIndex})
	select {
	case a := <-bDone:
		if a.Err != nil || a.Index != bIndex {
			t.Fatalf("b answered with %+v, want index %d", a, bIndex)
		}
	case <-ctx.Done():
		t.Fatal("b was not answered while c's fsync ran")
	}
	peers.setAck(true)
	gs.open()
	if _, err := node.Propose(ctx, []byte("d")); err != nil {
		t.Fatalf("propose d after the fsync ended: %v", err)
	}
}

// While the leader's fsync hangs, new writes still replicate (their MsgApp
// leaves at once, TakeEarlyMessages), commit on the two followers alone
// and are answered (TakeCommitted): a slow leader disk does not stall the
// cluster. Without early messages the second write would wait for the
// fsync; without applying entries the leader has not written, both would.
func TestWritesCommitOnFollowersWhileTheLeadersFsyncHangs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node, gs, _, _ := leaderAfterWrite(t, ctx)
	gs.close()
	answered := make(chan Applied, 2)
	go func() {
		a, _ := node.Propose(ctx, []byte("c"))
		answered <- a
	}()
	select {
	case <-gs.blocked:
	case <-ctx.Done():
		t.Fatal("c's write never started")
	}
	go func() {
		a, _ := node.Propose(ctx, []byte("d"))
		answered <- a
	}()
	for range 2 {
		select {
		case a := <-answered:
			if a.Err != nil {
				t.Fatalf("write answered with %v", a.Err)
			}
		case <-ctx.Done():
			t.Fatal("a write was not answered while the leader's fsync hung")
		}
	}
	gs.open()
	if _, err := node.Propose(ctx, []byte("e")); err != nil {
		t.Fatalf("propose e after the fsync ended: %v", err)
	}
}
