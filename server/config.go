package server

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/peer"
	"github.com/lockd/lockd/server/raftnode"
	"github.com/lockd/lockd/wal"
)

// ErrInvalidConfig reports a Config that cannot run.
var ErrInvalidConfig = errors.New("server: invalid config")

// Config configures one lockd server (Server).
type Config struct {
	// ID is this node's name in the cluster ("n1"). Required.
	ID string
	// DataDir holds the write-ahead log and snapshots. Required; an empty
	// directory means a new node.
	DataDir string
	// PeerAddr is the TCP address to serve Raft peers on (":0" picks a
	// port; PeerAddr() reports the bound one).
	PeerAddr string
	// AdvertisePeerAddr is the address the other members reach this node's
	// PeerAddr at, when that differs (a proxy, NAT, a container's published
	// port). Empty: PeerAddr as bound. It is what this node tells joining
	// nodes; the founding members' addresses come from InitialCluster.
	AdvertisePeerAddr string
	// ClientAddr is the TCP address to serve clients on (":0" allowed;
	// ClientAddr() reports the bound one).
	ClientAddr string
	// AdvertiseClientAddr is the address clients reach this node's
	// ClientAddr at, when that differs (a container's published port,
	// NAT): what the other members give out for this node in leader hints,
	// member lists and cluster status. Empty: ClientAddr as bound. It must
	// be dialable (no unspecified host such as 0.0.0.0, no port 0).
	AdvertiseClientAddr string
	// InitialCluster maps every founding member's ID to its peer address.
	// It bootstraps a new cluster when DataDir holds no state and Join is
	// false; the data directory then records it (with the cluster ID). On
	// a data directory with state it must name the cluster recorded there
	// (New fails with ErrClusterMismatch otherwise); leave it empty on a
	// restart to skip the check.
	InitialCluster map[string]string
	// InitialClusterToken, with InitialCluster, derives the cluster ID
	// (ClusterID): clusters founded with the same members and addresses
	// but different tokens get different IDs. Optional.
	InitialClusterToken string
	// Join starts a node with an empty DataDir without bootstrapping: it
	// waits until the leader adds it as a learner and catches up.
	Join bool
	// Node holds the Raft timings and limits; its ID is set from ID.
	Node raftnode.Config
	// FSM bounds the replicated state (TTL range, name and value sizes).
	// Every member must use the same values.
	FSM fsm.Config
	// WAL configures the write-ahead log; an empty Dir is filled from
	// DataDir.
	WAL wal.Options
	// RPC configures both the peer and the client connections; NodeID is
	// set from ID.
	RPC rpc.Config
	// TLS, if set, secures the peer and client ports with mutual TLS
	// (see TLSConfig); nil serves them in plain TCP.
	TLS *TLSConfig
	// Registerer receives the lockd_ metrics; nil uses a private registry.
	Registerer prometheus.Registerer
	// Logger receives structured logs; nil discards them.
	Logger hclog.Logger
	// Clock is the time of the leader's timers and command stamps (see
	// Clock: leases run on its monotonic reading, stamps advance by it);
	// nil means SystemClock(). Tests inject a fake one.
	Clock Clock
	// RequestTimeout bounds the server's work on one client request
	// (proposal or read confirmation); a proposal that does not commit in
	// time is answered CodeNoQuorum.
	RequestTimeout time.Duration
	// LeaseScanInterval is how often the leader checks session deadlines
	// and lock-delays against Clock.
	LeaseScanInterval time.Duration
	// PromoteMaxLag is how far (in entries) a learner's match index may
	// trail the leader's commit index for Promote to accept it unforced.
	PromoteMaxLag uint64
	// ReadyMaxLag is how far the applied index may trail the commit index
	// for Ready to report true.
	ReadyMaxLag uint64
	// InfoInterval is how often the node refreshes what it knows of other
	// members' client addresses (and tells joining learners where the
	// members are).
	InfoInterval time.Duration
	// BackupRetention is how long a SnapshotSave backup is kept for its
	// chunks to be fetched.
	BackupRetention time.Duration
	// MaxSessions bounds the open sessions: the leader refuses a new one
	// with CodeLimitExceeded once the applied state holds this many (a
	// retried open of an existing session still succeeds). The check is
	// the leader's, before proposing, so opens racing each other may pass
	// it together and overshoot by their number. 0: no limit.
	MaxSessions int
	// MaxLocksPerSession bounds the locks one session holds or waits for,
	// checked like MaxSessions. 0: no limit.
	MaxLocksPerSession int
	// MaxSnapshotBytes bounds a snapshot another member may send this
	// node; a larger one is refused at its first chunk (the leader
	// reports it failed and retries). It must exceed the state's
	// snapshot size, or a node that falls behind the log never catches
	// up. Give every node the same value.
	MaxSnapshotBytes uint64
	// SnapshotIdleTimeout drops an inbound snapshot transfer, and the
	// memory it holds, after this long without a chunk. At least
	// RPC.DefaultCallTimeout, the longest a sender waits on one chunk.
	SnapshotIdleTimeout time.Duration
	// WALStallTimeout bounds a write-ahead log write (a Save, a snapshot,
	// a compaction, with their fsyncs): a write pending this long
	// fail-stops the node (ErrFailStop), as does any WAL failure, so that
	// a node whose disk stopped answering never keeps leading. From half
	// of it Live reports the stall (ErrWALStalled). It must exceed the
	// slowest fsync the disk does when healthy.
	WALStallTimeout time.Duration
}

// DefaultConfig returns production defaults; ID, DataDir, addresses and
// InitialCluster (or Join) remain to be set.
func DefaultConfig() Config {
	return Config{
		Node:               raftnode.DefaultConfig(""),
		FSM:                fsm.DefaultConfig(),
		WAL:                wal.DefaultOptions(""),
		RPC:                rpc.DefaultConfig(),
		RequestTimeout:     5 * time.Second,
		LeaseScanInterval:  10 * time.Millisecond,
		PromoteMaxLag:      100,
		ReadyMaxLag:        100,
		InfoInterval:       500 * time.Millisecond,
		BackupRetention:    time.Minute,
		MaxSessions:        1_000_000,
		MaxLocksPerSession: 10_000,
		MaxSnapshotBytes:   peer.DefaultMaxSnapshotBytes,
		// SnapshotIdleTimeout: three times the longest wait on one chunk.
		SnapshotIdleTimeout: peer.DefaultSnapshotIdleTimeout,
		WALStallTimeout:     10 * time.Second,
	}
}

// withDerived returns c with the fields derived from others filled in.
func (c Config) withDerived() Config {
	c.Node.ID = consensus.NodeID(c.ID)
	if c.WAL.Dir == "" {
		c.WAL.Dir = c.DataDir
	}
	c.RPC.NodeID = c.ID
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.Node.Logger == nil {
		c.Node.Logger = c.Logger.Named("node")
	}
	if c.WAL.Logger == nil {
		c.WAL.Logger = c.Logger.Named("wal")
	}
	if c.RPC.Logger == nil {
		c.RPC.Logger = c.Logger.Named("rpc")
	}
	if c.Clock == nil {
		c.Clock = SystemClock()
	}
	return c
}

// dialable reports whether addr is host:port with a host other nodes can
// dial (not empty, not unspecified) and a non-zero port.
func dialable(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || port == "0" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsUnspecified()
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	d := c.withDerived()
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: empty ID", ErrInvalidConfig)
	case len(c.ID) > 255:
		return fmt.Errorf("%w: ID longer than 255 bytes", ErrInvalidConfig)
	case c.DataDir == "" && c.WAL.Dir == "":
		return fmt.Errorf("%w: empty DataDir", ErrInvalidConfig)
	case c.PeerAddr == "":
		return fmt.Errorf("%w: empty PeerAddr", ErrInvalidConfig)
	case c.ClientAddr == "":
		return fmt.Errorf("%w: empty ClientAddr", ErrInvalidConfig)
	case c.AdvertiseClientAddr != "" && !dialable(c.AdvertiseClientAddr):
		return fmt.Errorf("%w: AdvertiseClientAddr %q is not a dialable host:port", ErrInvalidConfig, c.AdvertiseClientAddr)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("%w: RequestTimeout must be positive", ErrInvalidConfig)
	case c.LeaseScanInterval <= 0:
		return fmt.Errorf("%w: LeaseScanInterval must be positive", ErrInvalidConfig)
	case c.InfoInterval <= 0:
		return fmt.Errorf("%w: InfoInterval must be positive", ErrInvalidConfig)
	case c.BackupRetention <= 0:
		return fmt.Errorf("%w: BackupRetention must be positive", ErrInvalidConfig)
	case c.MaxSessions < 0 || c.MaxLocksPerSession < 0:
		return fmt.Errorf("%w: MaxSessions and MaxLocksPerSession must not be negative (0 is no limit)", ErrInvalidConfig)
	case c.MaxSnapshotBytes == 0:
		return fmt.Errorf("%w: MaxSnapshotBytes must be positive", ErrInvalidConfig)
	case c.WALStallTimeout <= 0:
		return fmt.Errorf("%w: WALStallTimeout must be positive", ErrInvalidConfig)
	case c.SnapshotIdleTimeout < c.RPC.DefaultCallTimeout || c.SnapshotIdleTimeout <= 0:
		return fmt.Errorf("%w: SnapshotIdleTimeout %v must be positive and at least RPC.DefaultCallTimeout %v", ErrInvalidConfig, c.SnapshotIdleTimeout, c.RPC.DefaultCallTimeout)
	}
	if c.TLS != nil {
		if err := c.TLS.validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	if _, ok := c.InitialCluster[c.ID]; len(c.InitialCluster) > 0 && !ok && !c.Join {
		return fmt.Errorf("%w: InitialCluster does not name %q", ErrInvalidConfig, c.ID)
	}
	for id, addr := range c.InitialCluster {
		if id == "" || addr == "" {
			return fmt.Errorf("%w: InitialCluster entry %q=%q", ErrInvalidConfig, id, addr)
		}
	}
	if err := d.Node.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := d.FSM.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := d.WAL.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := d.RPC.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}
