package consensus

import (
	"fmt"
	"math/rand/v2"

	"github.com/hashicorp/go-hclog"
)

// Config configures one Raft node. Times are in ticks: the caller decides
// how long a tick is.
type Config struct {
	// ID is this node's identity; it must not be None.
	ID NodeID
	// Storage is the stable log, hard state and membership the node restarts
	// from. The core only reads it.
	Storage Storage
	// ElectionTick is the base election timeout in ticks. Each node draws
	// its timeout from [ElectionTick, 2*ElectionTick) after every reset. A
	// leader with CheckQuorum steps down when it has not heard from a quorum
	// for ElectionTick ticks, and a leadership transfer aborts after
	// ElectionTick ticks.
	ElectionTick int
	// HeartbeatTick is the leader's heartbeat interval in ticks; it must be
	// smaller than ElectionTick.
	HeartbeatTick int
	// Applied is the index the application has already applied (its state
	// as restored on restart). Committed entries after it are handed out
	// again in Ready.CommittedEntries. Zero means the snapshot index. The
	// ConfState from Storage.InitialState must include every conf change up
	// to Applied; replayed conf changes that no longer fit it (already
	// reflected) are skipped.
	Applied uint64
	// MaxSizePerMsg caps the bytes of entries in one MsgApp; a message
	// always carries at least one entry when there is one to send.
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds the MsgApp messages in flight to one follower
	// in replicate state (the pipelining window). The default, 4, covers a
	// batch the follower is writing, one waiting for its next write and
	// slack for the acknowledgement's round trip; anything proposed beyond
	// that leaves as one message when an acknowledgement frees the window,
	// instead of one message per write that the follower could not write
	// any sooner. It was measured best: 16 and 64 gave 8,819 and 8,794 lock
	// pairs/s against 8,981 (docs/PERFORMANCE-HISTORY.md, "Less CPU per
	// write").
	MaxInflightMsgs int
	// PreVote runs a pre-election round (Raft thesis §9.6) so that a node
	// that cannot win does not bump the term and disrupt the cluster.
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// quorum for an election timeout, and makes followers that heard from a
	// live leader within the election timeout ignore (pre)votes that are not
	// part of a leadership transfer (Raft thesis §6.2, §9.6).
	CheckQuorum bool
	// Rand is the only source of randomness (election timeouts). The caller
	// seeds it; it must not be shared with another goroutine.
	Rand *rand.Rand
	// Logger receives structured logs; nil means hclog.NewNullLogger().
	Logger hclog.Logger
	// TestingUnsafeCommitPreviousTerm breaks Raft's Figure-8 rule: the
	// leader commits entries of previous terms by counting replicas. It
	// exists only as a negative control for the simulator; never set it in
	// production.
	TestingUnsafeCommitPreviousTerm bool
}

// DefaultConfig returns a Config with lockd's defaults: election 10 ticks,
// heartbeat 1 tick, 1 MiB messages, 4 in flight, pre-vote and
// check-quorum on, and a random source seeded from the node ID (callers
// that need independent seeds set Rand themselves).
func DefaultConfig(id NodeID, st Storage) Config {
	var seed uint64
	for _, b := range []byte(id) {
		seed = seed*131 + uint64(b)
	}
	return Config{
		ID:              id,
		Storage:         st,
		ElectionTick:    10,
		HeartbeatTick:   1,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 4,
		PreVote:         true,
		CheckQuorum:     true,
		Rand:            rand.New(rand.NewPCG(seed, 0x6c6f636b64)),
	}
}

// Validate reports the first bad field, wrapped in ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.ID == None:
		return fmt.Errorf("%w: ID must be set", ErrInvalidConfig)
	case c.Storage == nil:
		return fmt.Errorf("%w: Storage must be set", ErrInvalidConfig)
	case c.HeartbeatTick <= 0:
		return fmt.Errorf("%w: HeartbeatTick must be positive", ErrInvalidConfig)
	case c.ElectionTick <= c.HeartbeatTick:
		return fmt.Errorf("%w: ElectionTick must be greater than HeartbeatTick", ErrInvalidConfig)
	case c.MaxInflightMsgs <= 0:
		return fmt.Errorf("%w: MaxInflightMsgs must be positive", ErrInvalidConfig)
	case c.Rand == nil:
		return fmt.Errorf("%w: Rand must be set", ErrInvalidConfig)
	}
	return nil
}
