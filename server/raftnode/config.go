package raftnode

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
)

// Config configures the driver loop around one consensus.Raft.
type Config struct {
	// ID is this node's name in the cluster.
	ID consensus.NodeID
	// TickInterval is the wall-clock length of one Raft tick.
	TickInterval time.Duration
	// ElectionTick is the base election timeout in ticks; each node
	// randomizes its timeout in [ElectionTick, 2*ElectionTick).
	ElectionTick int
	// HeartbeatTick is the leader's heartbeat interval in ticks.
	HeartbeatTick int
	// MaxSizePerMsg bounds the entry bytes in one MsgApp
	// (consensus.Config.MaxSizePerMsg, whose default it takes).
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds unacknowledged MsgApp per follower
	// (consensus.Config.MaxInflightMsgs, whose default it takes; the
	// reason for that default is there).
	MaxInflightMsgs int
	// LeaderWriteDelay is how long after starting one log write a leader
	// may wait before starting the next, while its followers alone commit
	// (consensus.Raft.CanDeferWrite): its writes then carry more entries
	// each, and it spends fewer fsyncs per write it serves. 0 writes as
	// soon as the previous write is done. Reads, role and membership
	// changes are never delayed, and a leader whose followers do not keep
	// up writes at once, since commits then wait for its write.
	LeaderWriteDelay time.Duration
	// SnapshotEntries is how many applied entries trigger a new snapshot
	// and log compaction; 0 disables automatic snapshots.
	SnapshotEntries uint64
	// MaxBatch bounds how many proposals one loop turn takes before it
	// writes a Ready, so one fsync never grows without limit.
	MaxBatch int
	// QuarantineTicks is how long, in ticks, the node drops every message
	// of a peer that sent a term or index out of range or a message that
	// breaks the Raft protocol (a broken or forged member); 0 never
	// quarantines (the message alone is dropped).
	QuarantineTicks int
	// Seed seeds the election-timeout randomness. Zero picks one from the
	// node ID and the start time.
	Seed uint64
	// Logger receives structured logs; nil discards them.
	Logger hclog.Logger
}

// DefaultConfig returns the production timings: a 10 ms tick, 50 ms
// heartbeats and a 150–300 ms randomized election timeout.
func DefaultConfig(id consensus.NodeID) Config {
	core := consensus.DefaultConfig(id, nil)
	return Config{
		ID:               id,
		TickInterval:     10 * time.Millisecond,
		ElectionTick:     15,
		HeartbeatTick:    5,
		MaxSizePerMsg:    core.MaxSizePerMsg,
		MaxInflightMsgs:  core.MaxInflightMsgs,
		LeaderWriteDelay: time.Millisecond,
		SnapshotEntries:  10000,
		MaxBatch:         4096,
		QuarantineTicks:  1000,
	}
}

// ErrInvalidConfig reports a Config that cannot run.
var ErrInvalidConfig = errors.New("raftnode: invalid config")

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.ID == consensus.None:
		return fmt.Errorf("%w: empty ID", ErrInvalidConfig)
	case c.TickInterval <= 0:
		return fmt.Errorf("%w: TickInterval must be positive", ErrInvalidConfig)
	case c.HeartbeatTick <= 0 || c.ElectionTick <= c.HeartbeatTick:
		return fmt.Errorf("%w: need 0 < HeartbeatTick < ElectionTick", ErrInvalidConfig)
	case c.QuarantineTicks < 0:
		return fmt.Errorf("%w: QuarantineTicks must not be negative", ErrInvalidConfig)
	case c.MaxBatch <= 0:
		return fmt.Errorf("%w: MaxBatch must be positive", ErrInvalidConfig)
	case c.MaxInflightMsgs <= 0 || c.MaxSizePerMsg == 0:
		return fmt.Errorf("%w: MaxInflightMsgs and MaxSizePerMsg must be positive", ErrInvalidConfig)
	case c.LeaderWriteDelay < 0 || c.LeaderWriteDelay >= c.TickInterval*time.Duration(c.HeartbeatTick):
		return fmt.Errorf("%w: LeaderWriteDelay %v must be in [0, heartbeat interval)", ErrInvalidConfig, c.LeaderWriteDelay)
	}
	return nil
}
