package server

import (
	"context"
	"hash/crc32"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// The peer wire as an attacker writes it by hand (the layout of package
// peer's wireMessage and snapChunk; docs/PROTOCOL.md).
type forgedMessage struct {
	_struct    struct{} `codec:",toarray"` //nolint:unused
	Type       uint8
	From       string
	To         string
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Entries    []struct{}
	Commit     uint64
	Reject     bool
	RejectHint uint64
	RejectTerm uint64
	Context    []byte
	Snap       *forgedSnapMeta
}

type forgedSnapMeta struct {
	_struct  struct{} `codec:",toarray"` //nolint:unused
	Index    uint64
	Term     uint64
	Voters   []string
	Learners []string
	Addrs    map[string]string
}

type forgedChunk struct {
	Msg   forgedMessage
	Chunk rpc.Chunk
	CRC   *uint32
	Sum   *uint32
}

const (
	forgedMsgRaft  rpc.MsgType = 1
	forgedMsgChunk rpc.MsgType = 2
)

// dialPeerAs opens a peer connection to s claiming id.
func dialPeerAs(t *testing.T, s *Server, id string) *rpc.ClientConn {
	t.Helper()
	cfg := rpc.DefaultConfig()
	cfg.NodeID = id
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, s.PeerAddr(), rpc.KindPeer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// holdsLock reports whether s's state machine shows name held.
func holdsLock(s *Server, name string) bool {
	held := false
	s.app.read(func(f *fsm.Machine) {
		held = slices.ContainsFunc(f.Locks(), func(in locks.Info) bool { return in.Name == name && len(in.Holders) > 0 })
	})
	return held
}

// A forged MsgHeartbeat with term 2^64-1 and a forged MsgSnap whose data
// does not decode, sent to a follower's peer port, change nothing there:
// both are dropped and counted, the follower keeps applying what the
// leader commits, and after a restart it starts and catches up. (The
// heartbeat used to be persisted and wrap term+1 at every start; the
// snapshot used to be written to the WAL, then fail to restore at every
// start.)
func TestForgedPeerMessagesChangeNothingAndTheNodeRestarts(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	var victim, other *Server
	for _, id := range c.ids() {
		if s := c.servers[id]; s != lead {
			if victim == nil {
				victim = s
			} else {
				other = s
			}
		}
	}
	cl := dialClient(t, lead.ClientAddr())
	sess := cl.open(time.Minute)
	if _, err := cl.acquire(sess, "before", false); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the follower to apply the first lock", 20*time.Second, func() bool { return holdsLock(victim, "before") })
	term := victim.node.Term()

	// From the other follower's ID: a term no cluster reaches.
	conn := dialPeerAs(t, victim, other.ID())
	hb := forgedMessage{Type: uint8(consensus.MsgHeartbeat), From: other.ID(), To: victim.ID(), Term: math.MaxUint64}
	if err := conn.Send(forgedMsgRaft, &hb); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the forged heartbeat to be counted", 20*time.Second, func() bool {
		return peerDrops(t, victim, "out_of_range") == 1
	})

	// A snapshot far ahead, with good checksums but bytes that are no
	// state machine's (from the ID the connection was dialed as: one in
	// another member's name is dropped before as not the sender's).
	data := []byte("this is not a snapshot of any lock table")
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	snap := forgedChunk{
		Msg: forgedMessage{Type: uint8(consensus.MsgSnap), From: other.ID(), To: victim.ID(), Term: term,
			Snap: &forgedSnapMeta{Index: victim.node.CommitIndex() + 1000, Term: term, Voters: c.ids()}},
		Chunk: rpc.Chunk{Offset: 0, Total: uint64(len(data)), Data: data}, CRC: &crc, Sum: &crc,
	}
	var ack bool
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := conn.Call(ctx, forgedMsgChunk, &snap, &ack)
	cancel()
	if err == nil {
		t.Fatal("the forged snapshot was accepted")
	}
	if got := peerDrops(t, victim, "snapshot_corrupt"); got != 1 {
		t.Fatalf("lockd_peer_messages_dropped_total{reason=\"snapshot_corrupt\"} = %v, want 1", got)
	}
	if got := victim.node.Term(); got >= consensus.MaxTerm {
		t.Fatalf("the follower's term is %d", got)
	}

	// It keeps serving: a new lock reaches it, the old one is still there.
	if _, err := cl.acquire(sess, "after", false); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the follower to apply the next lock", 20*time.Second, func() bool {
		return holdsLock(victim, "after") && holdsLock(victim, "before")
	})

	// And it restarts: nothing it persisted is poison.
	id := victim.ID()
	c.stop(id)
	restarted := c.start(id)
	if _, err := cl.acquire(sess, "restarted", false); err != nil {
		t.Fatal(err)
	}
	svcWait(t, "the restarted follower to catch up", 20*time.Second, func() bool {
		return holdsLock(restarted, "restarted") && holdsLock(restarted, "before")
	})
	if got := restarted.node.Term(); got >= consensus.MaxTerm {
		t.Fatalf("restarted at term %d", got)
	}
}
