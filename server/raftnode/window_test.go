package raftnode

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
)

// While a follower has not acknowledged what it was sent (it is busy
// writing), the leader does not send it one MsgApp per new write: at most
// MaxInflightMsgs carry entries, then the rest waits and leaves as one
// message when an acknowledgement frees the window. One message per write
// would cost the leader an encode and the follower a decode and a loop
// turn for every entry, which the follower cannot write any sooner.
func TestLeaderCoalescesWritesForABusyFollower(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node, gs, peers, a := leaderAfterWrite(t, ctx)

	apps := make(chan consensus.Message, 1024) // MsgApps with entries to n2
	var heartbeats atomic.Int64                // each answer may let one more MsgApp through
	peers.mu.Lock()
	peers.onSend = func(m consensus.Message) {
		switch {
		case m.To != "n2":
		case m.Type == consensus.MsgApp && len(m.Entries) > 0:
			apps <- m
		case m.Type == consensus.MsgHeartbeat:
			heartbeats.Add(1)
		}
	}
	peers.mu.Unlock()
	peers.setAck(false)

	// Twenty writes, each in a loop turn of its own: the next is proposed
	// once the leader has written the previous one.
	const writes = 20
	for i := range writes {
		go func() { _, _ = node.Propose(ctx, []byte{byte(i)}) }()
		want := a.Index + uint64(i) + 1
		for saved := uint64(0); saved < want; {
			select {
			case saved = <-gs.saved:
			case <-ctx.Done():
				t.Fatalf("write %d was never saved", i)
			}
		}
	}
	last := a.Index + writes

	sent := len(apps)
	window := DefaultConfig("n1").MaxInflightMsgs
	if hb := int(heartbeats.Load()); sent == 0 || sent >= writes || sent > window+hb {
		t.Fatalf("leader sent n2 %d MsgApps with entries for %d writes (window %d, %d heartbeats)",
			sent, writes, window, hb)
	}
	first := <-apps
	end := first.Entries[len(first.Entries)-1].Index
	for range sent - 1 {
		m := <-apps
		end = m.Entries[len(m.Entries)-1].Index
	}

	// n2 acknowledges the first message: the rest leaves as one (unless a
	// heartbeat's answer already let it through).
	firstLast := first.Entries[len(first.Entries)-1].Index
	node.Step(consensus.Message{Type: consensus.MsgAppResp, From: "n2", To: "n1", Term: node.Term(), Index: firstLast})
	if end != last {
		select {
		case m := <-apps:
			if end := m.Entries[len(m.Entries)-1].Index; end != last {
				t.Fatalf("the MsgApp after the acknowledgement ends at %d, want %d", end, last)
			}
		case <-ctx.Done():
			t.Fatalf("nothing left after the acknowledgement")
		}
	}
	peers.setAck(true)
	for _, id := range []consensus.NodeID{"n2", "n3"} {
		node.Step(consensus.Message{Type: consensus.MsgAppResp, From: id, To: "n1", Term: node.Term(), Index: last})
	}
}
