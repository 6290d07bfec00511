package raftnode

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A leader whose write hangs (a stalled disk) goes on leading and even
// answers writes its followers commit (see
// TestWritesCommitOnFollowersWhileTheLeadersFsyncHangs). Halt ends its
// loop at once, with the write still hanging: it stops leading, its
// waiting proposer is failed, and Err says why.
func TestHaltStopsAStalledLeaderWithoutWaitingForItsWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node, gs, peers, _ := leaderAfterWrite(t, ctx)
	peers.setAck(false) // nothing commits without the leader's own write
	gs.close()
	answered := make(chan Applied, 1)
	go func() {
		a, err := node.Propose(ctx, []byte("c"))
		if err != nil {
			a.Err = err
		}
		answered <- a
	}()
	select {
	case <-gs.blocked:
	case <-ctx.Done():
		t.Fatal("c's write never started")
	}
	stalled := errors.New("disk stalled")
	node.Halt(stalled)
	select {
	case <-node.Done():
	case <-ctx.Done():
		t.Fatal("Halt did not end the loop while its write hung")
	}
	if err := node.Err(); !errors.Is(err, stalled) {
		t.Fatalf("Err() = %v, want the halt's reason", err)
	}
	if node.IsLeader() {
		t.Fatal("a halted node still reports itself leader")
	}
	select {
	case a := <-answered:
		if !errors.Is(a.Err, ErrStopped) {
			t.Fatalf("waiting proposal answered %+v, want ErrStopped", a)
		}
	case <-ctx.Done():
		t.Fatal("the waiting proposal was never answered")
	}
}
