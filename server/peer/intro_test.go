package peer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// fixedIntro introduces a node with a fixed request and takes any answer.
type fixedIntro struct{ req NodeInfoRequest }

func (f fixedIntro) Introduction() *NodeInfoRequest { r := f.req; return &r }
func (fixedIntro) Answered(consensus.NodeID, string, *NodeInfoResponse) error {
	return nil
}

// judgedPair is transport a sending to transport b, whose node-info
// handler refuses every introduction while refuse is set.
func judgedPair(t *testing.T, intro Introducer) (a *Transport, st *recordingStepper, refuse *atomic.Bool, calls *atomic.Int64) {
	t.Helper()
	b, err := New("b", rpc.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	st = newRecordingStepper()
	b.SetStepper(st)
	refuse, calls = &atomic.Bool{}, &atomic.Int64{}
	err = b.HandleNodeInfo(func(_ context.Context, _ string, req *NodeInfoRequest) (*NodeInfoResponse, error) {
		calls.Add(1)
		if refuse.Load() && req.introduces() {
			return nil, &Refusal{Kind: "address", Reason: "not you"}
		}
		return &NodeInfoResponse{ID: "b"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	a, err = New("a", rpc.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	a.SetStepper(newRecordingStepper())
	if intro != nil {
		a.SetIntroducer(intro)
	}
	a.SetPeers(map[consensus.NodeID]string{"b": addr})
	t.Cleanup(func() { _ = a.Close() })
	return a, st, refuse, calls
}

func heartbeat() []consensus.Message {
	return []consensus.Message{{Type: consensus.MsgHeartbeat, From: "a", To: "b", Term: 1}}
}

// A refused introduction drops the connection before any Raft message
// crosses it; once the peer admits the node, messages flow.
func TestRefusedIntroductionCarriesNoRaftMessage(t *testing.T) {
	a, st, refuse, calls := judgedPair(t, fixedIntro{NodeInfoRequest{From: "a", Incarnation: 7, Advertise: "elsewhere:1"}})
	refuse.Store(true)
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("a never introduced itself twice")
		}
		a.Send(heartbeat())
		time.Sleep(10 * time.Millisecond)
	}
	st.mu.Lock()
	n := len(st.msgs)
	st.mu.Unlock()
	if n != 0 {
		t.Fatalf("b received %d messages from a refused peer", n)
	}
	refuse.Store(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-st.changed:
				return
			case <-time.After(10 * time.Millisecond):
				a.Send(heartbeat())
			}
		}
	}()
	<-done
	st.mu.Lock()
	n = len(st.msgs)
	st.mu.Unlock()
	if n == 0 {
		t.Fatal("no message reached b once it admitted a")
	}
}

// A node that does not introduce itself (an older build) is served as
// before, even by a node that refuses every introduction.
func TestPeerWithoutIntroductionIsServed(t *testing.T) {
	a, st, refuse, calls := judgedPair(t, nil)
	refuse.Store(true)
	a.Send(heartbeat())
	st.wait(t, "a heartbeat from a peer that does not introduce itself", func() bool {
		if len(st.msgs) == 0 {
			go a.Send(heartbeat())
		}
		return len(st.msgs) > 0
	})
	if calls.Load() != 0 {
		t.Fatalf("a node without an introducer sent %d node-info requests", calls.Load())
	}
}
