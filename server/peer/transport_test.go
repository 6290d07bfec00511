package peer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// recordingStepper collects what a transport delivers.
type recordingStepper struct {
	mu      sync.Mutex
	msgs    []consensus.Message
	reports []bool // ReportSnapshot failed flags, in order
	changed chan struct{}
}

func newRecordingStepper() *recordingStepper {
	return &recordingStepper{changed: make(chan struct{}, 1024)}
}

func (r *recordingStepper) Step(m consensus.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

func (r *recordingStepper) ReportUnreachable(consensus.NodeID) {}

func (r *recordingStepper) ReportSnapshot(_ consensus.NodeID, failed bool) {
	r.mu.Lock()
	r.reports = append(r.reports, failed)
	r.mu.Unlock()
	r.changed <- struct{}{}
}

// delivered returns a copy of the messages stepped so far, read under the
// lock (the transport's goroutines may still be delivering).
func (r *recordingStepper) delivered() []consensus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]consensus.Message(nil), r.msgs...)
}

// reported returns a copy of the snapshot reports so far, read under the
// lock.
func (r *recordingStepper) reported() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.reports...)
}

// wait blocks until cond holds; every delivery re-checks it.
func (r *recordingStepper) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func smallFrameConfig() rpc.Config {
	rc := rpc.DefaultConfig()
	rc.MaxFrameSize = 1 << 10 // forces a snapshot into hundreds of chunks
	return rc
}

func snapMessage(from, to consensus.NodeID, data []byte) consensus.Message {
	return consensus.Message{Type: consensus.MsgSnap, From: from, To: to, Term: 3,
		Snapshot: &consensus.Snapshot{Data: data, Meta: consensus.SnapshotMeta{Index: 42, Term: 3,
			Conf: consensus.ConfState{Voters: []consensus.NodeID{from, to},
				Addrs: map[consensus.NodeID]string{from: "a", to: "b"}}}}}
}

// Reference: Raft §7 (InstallSnapshot sent in chunks). A snapshot far larger
// than a frame arrives whole and intact, and the sender hears it succeeded.
func TestSnapshotStreamsInChunksBelowTheFrameLimit(t *testing.T) {
	a, err := New("a", smallFrameConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New("b", smallFrameConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sa, sb := newRecordingStepper(), newRecordingStepper()
	a.SetStepper(sa)
	b.SetStepper(sb)
	addrB, err := b.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.SetPeers(map[consensus.NodeID]string{"b": addrB})
	data := make([]byte, 200<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	a.Send([]consensus.Message{snapMessage("a", "b", data)})
	sb.wait(t, "the snapshot to arrive", func() bool { return len(sb.msgs) == 1 })
	got := sb.delivered()[0]
	if got.Type != consensus.MsgSnap || got.Snapshot == nil || got.Snapshot.Meta.Index != 42 {
		t.Fatalf("delivered %+v, want the MsgSnap at index 42", got)
	}
	if !bytes.Equal(got.Snapshot.Data, data) {
		t.Fatalf("snapshot data differs after reassembly (%d bytes, want %d)", len(got.Snapshot.Data), len(data))
	}
	if got.Snapshot.Meta.Conf.Addrs["b"] != "b" || len(got.Snapshot.Meta.Conf.Voters) != 2 {
		t.Fatalf("membership lost in transit: %+v", got.Snapshot.Meta.Conf)
	}
	sa.wait(t, "the sender's report", func() bool { return len(sa.reports) == 1 })
	if sa.reported()[0] {
		t.Fatal("a delivered snapshot was reported as failed")
	}
}

// A connection that breaks in the middle of a transfer ends it cleanly: the
// sender reports the failure (so the leader retries), and the receiver
// never steps a partial snapshot; the next transfer starts afresh.
func TestSnapshotTransferBrokenMidwayFailsCleanlyAndRestarts(t *testing.T) {
	const breakAfter = 5
	rc := smallFrameConfig()
	rc.NodeID = "b"
	srv, err := rpc.NewServer(rc, rpc.KindPeer)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	chunks := 0
	_ = rpc.Register(srv, msgSnapChunk, func(_ context.Context, c *rpc.Conn, sc *snapChunk) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		chunks++
		if chunks == breakAfter {
			_ = c.Close() // the network drops the connection mid-transfer
			return nil, fmt.Errorf("dropped")
		}
		return true, nil
	})
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, err := New("a", smallFrameConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	sa := newRecordingStepper()
	a.SetStepper(sa)
	a.SetPeers(map[consensus.NodeID]string{"b": addr.String()})
	a.Send([]consensus.Message{snapMessage("a", "b", make([]byte, 64<<10))})
	sa.wait(t, "the failure report", func() bool { return len(sa.reports) >= 1 })
	if !sa.reported()[0] {
		t.Fatal("a transfer whose connection broke was reported as delivered")
	}

	// Receiver side: a partial transfer followed by a fresh one delivers
	// only the fresh one, whole.
	b, err := New("b", smallFrameConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sb := newRecordingStepper()
	b.SetStepper(sb)
	addrB, err := b.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, addrB, rpc.KindPeer, func() rpc.Config { c := smallFrameConfig(); c.NodeID = "a"; return c }())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first := bytes.Repeat([]byte{1}, 4000)
	second := bytes.Repeat([]byte{2}, 3000)
	w1 := toWire(snapMessage("a", "b", first))
	parts := rpc.SplitChunks(first, 400)
	for _, c := range parts[:3] { // the first transfer stops after 3 chunks
		var ack bool
		if err := conn.Call(ctx, msgSnapChunk, checkedChunk(w1, c, first), &ack); err != nil {
			t.Fatal(err)
		}
	}
	w2 := toWire(snapMessage("a", "b", second))
	for _, c := range rpc.SplitChunks(second, 400) {
		var ack bool
		if err := conn.Call(ctx, msgSnapChunk, checkedChunk(w2, c, second), &ack); err != nil {
			t.Fatal(err)
		}
	}
	sb.wait(t, "the restarted snapshot", func() bool { return len(sb.msgs) >= 1 })
	if msgs := sb.delivered(); len(msgs) != 1 || !bytes.Equal(msgs[0].Snapshot.Data, second) {
		t.Fatalf("receiver stepped %d snapshots; want exactly the second, whole", len(msgs))
	}
}

// checkedChunk is c of the snapshot whole, with its checksums, as a
// sender sends it.
func checkedChunk(w wireMessage, c rpc.Chunk, whole []byte) *snapChunk {
	crc, sum := checksum(c.Data), checksum(whole)
	return &snapChunk{Msg: w, Chunk: c, CRC: &crc, Sum: &sum}
}

// stuckStepper blocks in ReportUnreachable until released, like a driver
// loop that is busy (or waiting) when a sender reports a failure.
type stuckStepper struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stuckStepper) Step(consensus.Message)                {}
func (s *stuckStepper) ReportSnapshot(consensus.NodeID, bool) {}
func (s *stuckStepper) ReportUnreachable(id consensus.NodeID) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
}

// Removing a peer must not wait for its sender: SetPeers runs on the
// driver loop, and the sender may be inside the Stepper, which needs the
// loop. (Seen in a nemesis run: the leader applied a member's removal while
// that member's sender reported it unreachable, and both waited forever.)
func TestRemovingAPeerDoesNotWaitForItsSender(t *testing.T) {
	tr, err := New("n1", rpc.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	st := &stuckStepper{entered: make(chan struct{}), release: make(chan struct{})}
	tr.SetStepper(st)
	// A peer nobody listens on: the sender's dial fails and it reports
	// the peer unreachable, where it stays stuck.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	tr.SetPeers(map[consensus.NodeID]string{"n1": "self", "n2": dead})
	tr.Send([]consensus.Message{{Type: consensus.MsgHeartbeat, From: "n1", To: "n2", Term: 1}})
	select {
	case <-st.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the sender never reported n2 unreachable")
	}
	done := make(chan struct{})
	go func() {
		tr.SetPeers(map[consensus.NodeID]string{"n1": "self"})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("SetPeers waited for a sender stuck in the Stepper")
	}
	close(st.release)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
}
