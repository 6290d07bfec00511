package consensus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// testNode is one node of the in-process test network: the core, its
// "disk" (MemoryStorage, written synchronously) and what it has applied.
type testNode struct {
	r       *Raft
	st      *MemoryStorage
	cfg     Config
	applied []Entry // every committed entry handed out, in order
	reads   []ReadState
	dropped []uint64
}

// network delivers messages between nodes in one goroutine, in FIFO order,
// with links that can be cut. Modelled on etcd-io/raft's raft_test.go.
type network struct {
	t     testing.TB
	ids   []NodeID
	nodes map[NodeID]*testNode
	queue []Message
	// cut[from][to] drops messages on that directed link.
	cut map[NodeID]map[NodeID]bool
	// drop, when set, drops any message it returns true for.
	drop func(m Message) bool
	// delivered records every message handed to Step.
	delivered []Message
}

type netOption func(*Config)

func withPreVote(c *Config)     { c.PreVote = true }
func withCheckQuorum(c *Config) { c.CheckQuorum = true }
func withUnsafeCommit(c *Config) {
	c.TestingUnsafeCommitPreviousTerm = true
}

func ids(n int) []NodeID {
	out := make([]NodeID, n)
	for i := range out {
		out[i] = NodeID(fmt.Sprintf("n%d", i+1))
	}
	return out
}

// bootstrapStorage returns a founding member's disk: the bootstrap snapshot
// and HardState{Term: 1}.
func bootstrapStorage(t testing.TB, voters []NodeID) *MemoryStorage {
	t.Helper()
	st := NewMemoryStorage()
	if err := st.ApplySnapshot(BootstrapSnapshot(ConfState{Voters: voters})); err != nil {
		t.Fatal(err)
	}
	if err := st.SetHardState(HardState{Term: 1}); err != nil {
		t.Fatal(err)
	}
	return st
}

// newNetwork starts a cluster of n founding voters n1..nn.
func newNetwork(t testing.TB, n int, opts ...netOption) *network {
	t.Helper()
	voters := ids(n)
	sts := map[NodeID]*MemoryStorage{}
	for _, id := range voters {
		sts[id] = bootstrapStorage(t, voters)
	}
	return newNetworkFromStorages(t, voters, sts, opts...)
}

// newNetworkFromStorages starts one node per id on the given disks.
func newNetworkFromStorages(t testing.TB, nodeIDs []NodeID, sts map[NodeID]*MemoryStorage, opts ...netOption) *network {
	t.Helper()
	nw := &network{t: t, nodes: map[NodeID]*testNode{}, cut: map[NodeID]map[NodeID]bool{}}
	for i, id := range nodeIDs {
		cfg := testConfig(id, sts[id], uint64(i+1))
		for _, o := range opts {
			o(&cfg)
		}
		nw.addNode(cfg)
	}
	return nw
}

func testConfig(id NodeID, st Storage, seed uint64) Config {
	return Config{
		ID: id, Storage: st, ElectionTick: 10, HeartbeatTick: 1,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		Rand: rand.New(rand.NewPCG(seed, 42)),
	}
}

func (nw *network) addNode(cfg Config) *testNode {
	nw.t.Helper()
	r, err := New(cfg)
	if err != nil {
		nw.t.Fatalf("New(%s): %v", cfg.ID, err)
	}
	n := &testNode{r: r, st: cfg.Storage.(*MemoryStorage), cfg: cfg}
	nw.nodes[cfg.ID] = n
	if !slices.Contains(nw.ids, cfg.ID) {
		nw.ids = append(nw.ids, cfg.ID)
		slices.Sort(nw.ids)
	}
	return n
}

// restart rebuilds a node's core from its disk, as after a crash.
func (nw *network) restart(id NodeID) {
	nw.t.Helper()
	old := nw.nodes[id]
	cfg := old.cfg
	if n := len(old.applied); n > 0 {
		cfg.Applied = old.applied[n-1].Index
	}
	n := nw.addNode(cfg)
	n.applied, n.reads, n.dropped = old.applied, old.reads, old.dropped
}

// process persists and applies every pending Ready of id and queues its
// messages.
func (nw *network) process(id NodeID) bool {
	n := nw.nodes[id]
	did := false
	for n.r.HasReady() {
		did = true
		rd := n.r.Ready()
		nw.persist(id, rd)
		nw.queue = append(nw.queue, rd.Messages...)
		n.r.Advance(rd)
	}
	return did
}

// persist writes rd to id's disk and records what it applies.
func (nw *network) persist(id NodeID, rd Ready) {
	n := nw.nodes[id]
	if rd.Snapshot != nil {
		if err := n.st.ApplySnapshot(*rd.Snapshot); err != nil {
			nw.t.Fatalf("%s ApplySnapshot: %v", id, err)
		}
	}
	if err := n.st.Append(rd.Entries); err != nil {
		nw.t.Fatalf("%s Append: %v", id, err)
	}
	if !rd.HardState.IsEmpty() {
		if err := n.st.SetHardState(rd.HardState); err != nil {
			nw.t.Fatal(err)
		}
	}
	if rd.Snapshot != nil {
		// The application state is replaced by the snapshot's.
		n.applied = append(n.applied, Entry{Index: rd.Snapshot.Meta.Index, Term: rd.Snapshot.Meta.Term,
			Type: EntryNoop, Data: []byte("snapshot")})
	}
	n.applied = append(n.applied, rd.CommittedEntries...)
	if rd.ConfState != nil {
		if err := n.st.SetConfState(*rd.ConfState); err != nil {
			nw.t.Fatal(err)
		}
	}
	n.reads = append(n.reads, rd.ReadStates...)
	n.dropped = append(n.dropped, rd.DroppedReads...)
}

// stabilize processes Readys and delivers messages until nothing moves.
func (nw *network) stabilize() {
	nw.t.Helper()
	for range 100000 {
		moved := false
		for _, id := range nw.ids {
			if nw.process(id) {
				moved = true
			}
		}
		if len(nw.queue) > 0 {
			moved = true
			q := nw.queue
			nw.queue = nil
			for _, m := range q {
				nw.deliver(m)
			}
		}
		if !moved {
			return
		}
	}
	nw.t.Fatal("network did not stabilize")
}

func (nw *network) deliver(m Message) {
	if nw.cut[m.From][m.To] || (nw.drop != nil && nw.drop(m)) {
		return
	}
	n := nw.nodes[m.To]
	if n == nil {
		return
	}
	nw.delivered = append(nw.delivered, m)
	if err := n.r.Step(m); err != nil {
		nw.t.Fatalf("%s Step(%s from %s): %v", m.To, m.Type, m.From, err)
	}
}

// tick advances every node by k ticks, stabilizing after each.
func (nw *network) tick(k int, only ...NodeID) {
	nw.t.Helper()
	targets := nw.ids
	if len(only) > 0 {
		targets = only
	}
	for range k {
		for _, id := range targets {
			nw.nodes[id].r.Tick()
		}
		nw.stabilize()
	}
}

// campaign makes id start an election now (as its election timeout would).
func (nw *network) campaign(id NodeID) {
	nw.t.Helper()
	r := nw.nodes[id].r
	if r.cfg.PreVote {
		r.hup(campaignPreElection)
	} else {
		r.hup(campaignElection)
	}
	nw.stabilize()
}

// isolate cuts every link to and from id.
func (nw *network) isolate(id NodeID) {
	for _, o := range nw.ids {
		if o != id {
			nw.cutLink(id, o)
			nw.cutLink(o, id)
		}
	}
}

func (nw *network) cutLink(from, to NodeID) {
	if nw.cut[from] == nil {
		nw.cut[from] = map[NodeID]bool{}
	}
	nw.cut[from][to] = true
}

// partition splits the nodes into the given groups.
func (nw *network) partition(groups ...[]NodeID) {
	group := map[NodeID]int{}
	for i, g := range groups {
		for _, id := range g {
			group[id] = i
		}
	}
	for _, a := range nw.ids {
		for _, b := range nw.ids {
			if group[a] != group[b] {
				nw.cutLink(a, b)
			}
		}
	}
}

func (nw *network) heal() { nw.cut = map[NodeID]map[NodeID]bool{}; nw.drop = nil }

// leaders returns the nodes that think they lead, in id order.
func (nw *network) leaders() []NodeID {
	var out []NodeID
	for _, id := range nw.ids {
		if nw.nodes[id].r.role == Leader {
			out = append(out, id)
		}
	}
	return out
}

// mustLeader returns the single leader among ids (all nodes if none given).
func (nw *network) mustLeader(among ...NodeID) NodeID {
	nw.t.Helper()
	if len(among) == 0 {
		among = nw.ids
	}
	var found []NodeID
	for _, id := range among {
		if nw.nodes[id].r.role == Leader {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		nw.t.Fatalf("want one leader among %v, got %v", among, found)
	}
	return found[0]
}

func (nw *network) propose(id NodeID, data string) uint64 {
	nw.t.Helper()
	idx, _, err := nw.nodes[id].r.Propose([]byte(data))
	if err != nil {
		nw.t.Fatalf("propose on %s: %v", id, err)
	}
	nw.stabilize()
	return idx
}

// count counts delivered messages matching f.
func (nw *network) count(f func(Message) bool) int {
	n := 0
	for _, m := range nw.delivered {
		if f(m) {
			n++
		}
	}
	return n
}

// normalData returns the Data of the normal entries id applied, in order.
func (n *testNode) normalData() []string {
	var out []string
	for _, e := range n.applied {
		if e.Type == EntryNormal {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// checkLogsMatch fails if two nodes hold different entries at an index both
// have committed (state machine safety).
func (nw *network) checkCommittedAgree() {
	nw.t.Helper()
	byIndex := map[uint64]Entry{}
	for _, id := range nw.ids {
		n := nw.nodes[id]
		for _, e := range n.applied {
			if string(e.Data) == "snapshot" {
				continue
			}
			if prev, ok := byIndex[e.Index]; ok && (prev.Term != e.Term || string(prev.Data) != string(e.Data)) {
				nw.t.Fatalf("index %d applied as term %d on one node and term %d on %s", e.Index, prev.Term, e.Term, id)
			}
			byIndex[e.Index] = e
		}
	}
}
