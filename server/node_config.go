package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
)

// NodeConfig configures the driver loop around one consensus.Raft.
type NodeConfig struct {
	// ID is this node's name in the cluster.
	ID consensus.NodeID
	// TickInterval is the wall-clock length of one Raft tick.
	TickInterval time.Duration
	// ElectionTicks is the base election timeout in ticks; each node
	// randomizes its timeout in [ElectionTicks, 2*ElectionTicks).
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval in ticks.
	HeartbeatTicks int
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
	// Seed seeds the election-timeout randomness. Zero picks one from the
	// node ID and the start time.
	Seed uint64
	// Logger receives structured logs; nil discards them.
	Logger hclog.Logger
}

// DefaultNodeConfig returns the production timings: a 10 ms tick, 50 ms
// heartbeats and a 150–300 ms randomized election timeout.
func DefaultNodeConfig(id consensus.NodeID) NodeConfig {
	core := consensus.DefaultConfig(id, nil)
	return NodeConfig{
		ID:               id,
		TickInterval:     10 * time.Millisecond,
		ElectionTicks:    15,
		HeartbeatTicks:   5,
		MaxSizePerMsg:    core.MaxSizePerMsg,
		MaxInflightMsgs:  core.MaxInflightMsgs,
		LeaderWriteDelay: time.Millisecond,
		SnapshotEntries:  10000,
		MaxBatch:         4096,
	}
}

// ErrInvalidNodeConfig reports a NodeConfig that cannot run.
var ErrInvalidNodeConfig = errors.New("server: invalid node config")

// Validate reports the first problem with c.
func (c NodeConfig) Validate() error {
	switch {
	case c.ID == consensus.None:
		return fmt.Errorf("%w: empty ID", ErrInvalidNodeConfig)
	case c.TickInterval <= 0:
		return fmt.Errorf("%w: TickInterval must be positive", ErrInvalidNodeConfig)
	case c.HeartbeatTicks <= 0 || c.ElectionTicks <= c.HeartbeatTicks:
		return fmt.Errorf("%w: need 0 < HeartbeatTicks < ElectionTicks", ErrInvalidNodeConfig)
	case c.MaxBatch <= 0:
		return fmt.Errorf("%w: MaxBatch must be positive", ErrInvalidNodeConfig)
	case c.MaxInflightMsgs <= 0 || c.MaxSizePerMsg == 0:
		return fmt.Errorf("%w: MaxInflightMsgs and MaxSizePerMsg must be positive", ErrInvalidNodeConfig)
	case c.LeaderWriteDelay < 0 || c.LeaderWriteDelay >= c.TickInterval*time.Duration(c.HeartbeatTicks):
		return fmt.Errorf("%w: LeaderWriteDelay %v must be in [0, heartbeat interval)", ErrInvalidNodeConfig, c.LeaderWriteDelay)
	}
	return nil
}
