package raftnode

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lockd/lockd/consensus"
)

// memStore is a LogStore in memory that counts the writes carrying
// entries.
type memStore struct {
	*consensus.MemoryStorage
	mu     sync.Mutex
	writes int    // Saves with entries
	last   uint64 // last index saved
}

func (m *memStore) Save(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) error {
	if snap != nil && !snap.IsEmpty() {
		if err := m.ApplySnapshot(*snap); err != nil {
			return err
		}
	}
	if err := m.Append(ents); err != nil {
		return err
	}
	if !hs.IsEmpty() {
		if err := m.SetHardState(hs); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		m.mu.Lock()
		m.writes++
		m.last = ents[len(ents)-1].Index
		m.mu.Unlock()
	}
	return nil
}

func (m *memStore) CreateSnapshot(index uint64, conf consensus.ConfState, data []byte) (consensus.Snapshot, error) {
	return m.MemoryStorage.CreateSnapshot(index, &conf, data)
}

func (m *memStore) counts() (writes int, last uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes, m.last
}

// deferringLeader starts n1 over a memStore with scripted peers (silent,
// if set, never acknowledges a MsgApp) and LeaderWriteDelay delay, inside
// a synctest bubble, and waits until it leads and has written its first
// entry.
func deferringLeader(t *testing.T, delay time.Duration, silent consensus.NodeID) (*Node, *memStore) {
	t.Helper()
	st := &memStore{MemoryStorage: consensus.NewMemoryStorage()}
	cfg := DefaultConfig("n1")
	cfg.LeaderWriteDelay = delay
	node := startScripted(t, st, &scriptedPeers{ackApps: true, silent: silent}, cfg)
	for !node.IsLeader() {
		<-node.LeaderChanged()
	}
	time.Sleep(time.Second) // the leader's first entry is written, the delay long over
	synctest.Wait()
	return node, st
}

// proposeInOrder proposes n writes one after another, each once the last
// was answered, and returns how much (bubble) time they took.
func proposeInOrder(t *testing.T, node *Node, n int) time.Duration {
	t.Helper()
	start := time.Now()
	for i := range n {
		if _, err := node.Propose(context.Background(), []byte{byte(i)}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	return time.Since(start)
}

// While both followers acknowledge at once, a leader with a write delay
// answers writes on their acknowledgements without waiting for its own
// write, and writes what came in during the delay as one batch: ten
// writes, two leader writes. With no delay it writes each one.
func TestLeaderDefersItsWriteWhileFollowersCommit(t *testing.T) {
	const writes = 10
	synctest.Test(t, func(t *testing.T) {
		node, st := deferringLeader(t, 20*time.Millisecond, consensus.None)
		w0, _ := st.counts()
		if took := proposeInOrder(t, node, writes); took != 0 {
			t.Fatalf("writes took %v: they waited for the leader's delayed write", took)
		}
		if w, _ := st.counts(); w-w0 > 1 {
			t.Fatalf("leader wrote %d times during %d writes, want at most 1", w-w0, writes)
		}
		// The delay over, the leader writes the rest in one go.
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		w, last := st.counts()
		if w-w0 != 2 || last != node.AppliedIndex() {
			t.Fatalf("after the delay: %d leader writes, last saved %d; want 2 and %d",
				w-w0, last, node.AppliedIndex())
		}
	})
	synctest.Test(t, func(t *testing.T) {
		node, st := deferringLeader(t, 0, consensus.None)
		w0, _ := st.counts()
		proposeInOrder(t, node, writes)
		synctest.Wait()
		// Without a delay every write is saved at once, with no time
		// passing; writes that arrive while one is being saved may share
		// the next (so the count is not exactly one per write).
		if w, last := st.counts(); w-w0 < 2 || last != node.AppliedIndex() {
			t.Fatalf("with no delay the leader wrote %d times for %d writes, last saved %d; want at least 2, the last at %d",
				w-w0, writes, last, node.AppliedIndex())
		}
	})
}

// When a follower does not answer, commits need the leader's own write, so
// the leader must not put it off: every write is answered without the
// delay passing.
func TestLeaderDoesNotDeferItsWriteWithAFollowerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		node, _ := deferringLeader(t, 20*time.Millisecond, "n3")
		if took := proposeInOrder(t, node, 10); took != 0 {
			t.Fatalf("writes took %v: the leader deferred the write they needed", took)
		}
	})
}
