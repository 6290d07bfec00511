package peer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// dropCounter is a Gate.Dropped that counts by reason.
type dropCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (d *dropCounter) dropped(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[string]int{}
	}
	d.n[reason]++
}

func (d *dropCounter) count(reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[reason]
}

// gatedTarget is transport "b" whose members are b, n2 and n3.
func gatedTarget(t *testing.T) (*snapTarget, *dropCounter) {
	s := newSnapTarget(t)
	drops := &dropCounter{}
	members := map[consensus.NodeID]bool{"b": true, "n2": true, "n3": true}
	s.tr.SetGate(Gate{MaySend: func(id consensus.NodeID) bool { return members[id] }, Dropped: drops.dropped})
	return s, drops
}

// TestRaftMessageNotFromTheConnectionsNodeIsDropped: on a connection of
// n2, a message claiming n3 is dropped and counted (sender); one from a
// node outside the membership, on its own connection, too (not_member);
// n2's own message, sent last on the same connection, is delivered, and
// is the only one.
func TestRaftMessageNotFromTheConnectionsNodeIsDropped(t *testing.T) {
	s, drops := gatedTarget(t)
	n2, n4 := s.dialAs(t, "n2"), s.dialAs(t, "n4")
	send := func(c *rpc.ClientConn, from consensus.NodeID, term uint64) {
		w := toWire(consensus.Message{Type: consensus.MsgHeartbeat, From: from, To: "b", Term: term})
		if err := c.Send(msgRaft, &w); err != nil {
			t.Fatal(err)
		}
	}
	send(n2, "n3", 1<<63)
	send(n4, "n4", 1<<62)
	send(n2, "n2", 7)
	s.st.wait(t, "n2's own heartbeat", func() bool { return len(s.st.msgs) > 0 })
	s.st.mu.Lock()
	got := s.st.msgs
	s.st.mu.Unlock()
	if len(got) != 1 || got[0].From != "n2" || got[0].Term != 7 {
		t.Fatalf("delivered %+v, want only n2's term-7 heartbeat", got)
	}
	if drops.count(DropSender) != 1 {
		t.Fatalf("sender drops %d, want 1", drops.count(DropSender))
	}
	// n4's message went on another connection: wait for its count.
	deadline := time.Now().Add(20 * time.Second)
	for drops.count(DropNotMember) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("n4's message: %d not_member drops, want 1", drops.count(DropNotMember))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSnapshotChunkFromAnotherNodeIsRefused: a snapshot chunk whose
// message claims another node than the connection's is refused before
// anything is buffered.
func TestSnapshotChunkFromAnotherNodeIsRefused(t *testing.T) {
	s, drops := gatedTarget(t)
	c := s.dialAs(t, "n2")
	w := toWire(snapMessage("n3", "b", nil))
	var ack bool
	err := c.Call(context.Background(), msgSnapChunk, &snapChunk{Msg: w, Chunk: rpc.Chunk{Offset: 0, Total: 10, Data: make([]byte, 10)}}, &ack)
	var re *rpc.RemoteError
	if !errors.As(err, &re) || drops.count(DropSender) != 1 {
		t.Fatalf("chunk from n3 on n2's connection: %v, %d drops", err, drops.count(DropSender))
	}
	if len(s.st.msgs) != 0 {
		t.Fatal("the snapshot was delivered")
	}
}

// TestNodeInfoAboutAnotherNodeIsRefused: node info whose From is not the
// connection's node is refused, counted, and never reaches the handler.
func TestNodeInfoAboutAnotherNodeIsRefused(t *testing.T) {
	s, drops := gatedTarget(t)
	var handled []string
	var mu sync.Mutex
	if err := s.tr.HandleNodeInfo(func(_ context.Context, _ string, req *NodeInfoRequest) (*NodeInfoResponse, error) {
		mu.Lock()
		handled = append(handled, req.From)
		mu.Unlock()
		return &NodeInfoResponse{ID: "b"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	c := s.dialAs(t, "n2")
	var resp NodeInfoResponse
	err := c.Call(context.Background(), msgNodeInfo, &NodeInfoRequest{From: "n3", ClientAddr: "evil:1"}, &resp)
	if refusedBy(err) == nil || drops.count(DropSender) != 1 {
		t.Fatalf("node info as n3 on n2's connection: %v, %d drops", err, drops.count(DropSender))
	}
	ok := s.dialAs(t, "n2")
	if err := ok.Call(context.Background(), msgNodeInfo, &NodeInfoRequest{From: "n2", ClientAddr: "n2:1"}, &resp); err != nil {
		t.Fatalf("n2's own node info: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(handled) != 1 || handled[0] != "n2" {
		t.Fatalf("the handler saw %v, want only n2", handled)
	}
}
