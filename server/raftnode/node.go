package raftnode

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
)

// LogStore is the durable log the driver writes each Ready to; wal.WAL
// satisfies it.
type LogStore interface {
	consensus.Storage
	// Save makes hs, ents and snap durable in one synced write.
	Save(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) error
	// CreateSnapshot records application state at an applied index.
	CreateSnapshot(index uint64, conf consensus.ConfState, data []byte) (consensus.Snapshot, error)
	// Compact drops entries below index (the store may keep a tail).
	Compact(index uint64) error
}

// StateMachine is the application the log replicates. The driver calls it
// from its one loop goroutine only.
type StateMachine interface {
	// Apply applies the committed normal entry at index and returns the
	// result handed to the proposer, if it is waiting on this node.
	Apply(index uint64, data []byte) any
	// Snapshot serializes the state as of the last applied entry.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot's data (empty data is the
	// initial state).
	Restore(data []byte) error
}

// Transport moves messages to peers. Send must not block the driver: a
// transport queues per peer and drops when a peer's queue is full.
type Transport interface {
	Send(msgs []consensus.Message)
	// SetPeers tells the transport the current membership's addresses.
	SetPeers(addrs map[consensus.NodeID]string)
}

var (
	// ErrStopped: the node has stopped (shut down or failed).
	ErrStopped = errors.New("raftnode: node stopped")
	// ErrProposalLost: the proposal's entry was replaced by another leader's
	// before it committed; it was not applied.
	ErrProposalLost = errors.New("raftnode: proposal lost to a leader change")
	// ErrReadDropped: the read could not be confirmed (leadership lost or no
	// leader); retry against the current leader.
	ErrReadDropped = errors.New("raftnode: read index dropped")
)

// Node is the driver loop around one consensus.Raft: it owns the core,
// persists each Ready to the LogStore, sends messages through the
// Transport and applies committed entries to the StateMachine.
type Node struct {
	cfg   Config
	log   hclog.Logger
	store LogStore
	sm    StateMachine
	tr    Transport

	propc chan *proposal
	recvc chan consensus.Message
	readc chan *readRequest
	ctrlc chan func(*consensus.Raft)
	stopc chan struct{}
	donec chan struct{}
	stop  sync.Once
	// haltc is closed by Halt, haltErr (set before) says why.
	haltc   chan struct{}
	halt    sync.Once
	haltErr error

	// Loop-owned state: touched only by run.
	raft      *consensus.Raft
	waiters   map[uint64]*proposal
	reads     map[uint64]*readRequest
	readWait  []*readRequest // confirmed reads waiting for applied >= index
	nextRead  uint64
	applied   uint64
	snapIndex uint64
	conf      consensus.ConfState
	// hs is the latest hard state handed out; hsDirty says it has a commit
	// index not yet written (written with the next synced write).
	hs      consensus.HardState
	hsDirty bool
	// sync is the Ready being written in the background, or nil.
	sync *syncing
	// lastWrite is when the last background write started; hold fires
	// when a leader that deferred its next write should take it
	// (Config.LeaderWriteDelay), holding says it is armed.
	lastWrite time.Time
	hold      *time.Timer
	holding   bool
	// quar holds the peers whose messages are dropped unread for a while.
	quar *quarantine

	// Published for other goroutines.
	leader    atomic.Value // consensus.NodeID
	isLeader  atomic.Bool
	term      atomic.Uint64
	commit    atomic.Uint64
	appliedAt atomic.Uint64
	leaderCh  chan struct{} // replaced and closed on every leadership change
	leaderMu  sync.Mutex
	err       atomic.Value // error that stopped the node
	hooks     Hooks
}

// Hooks are called from the driver loop; they must return quickly.
type Hooks struct {
	// LeaderChanged reports a new leader (None when unknown) and term.
	LeaderChanged func(lead consensus.NodeID, term uint64, self bool)
	// ConfChanged reports the membership after a committed change.
	ConfChanged func(cs consensus.ConfState)
	// Fsync observes the duration of each synced WAL write.
	Fsync func(d time.Duration)
	// PeerMessageDropped counts a peer's message that was not stepped, with
	// the reason (DropOutOfRange, DropInvalid, DropViolation,
	// DropQuarantined).
	PeerMessageDropped func(from consensus.NodeID, reason string)
	// Snapshot observes each snapshot this node took (kind "taken": state
	// machine capture, store and compaction) or installed from the leader
	// ("installed": store and restore): its size and duration.
	Snapshot func(kind string, bytes int, d time.Duration)
}

type proposal struct {
	data  []byte
	cc    *consensus.ConfChange
	index uint64
	term  uint64
	done  chan Applied
}

// Applied is the outcome of a proposal.
type Applied struct {
	Index  uint64
	Result any
	Err    error
}

type readRequest struct {
	id    uint64
	index uint64
	done  chan error
}

// New restores the core from store and sm. It does not start the loop;
// call Start.
func New(cfg Config, store LogStore, sm StateMachine, tr Transport, hooks Hooks) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	snap, err := store.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("raftnode: load snapshot: %w", err)
	}
	if err := sm.Restore(snap.Data); err != nil {
		return nil, fmt.Errorf("raftnode: restore snapshot at %d: %w", snap.Meta.Index, err)
	}
	seed := cfg.Seed
	if seed == 0 {
		h := fnv.New64a()
		h.Write([]byte(cfg.ID))
		seed = h.Sum64() ^ uint64(time.Now().UnixNano())
	}
	rc := consensus.DefaultConfig(cfg.ID, store)
	rc.ElectionTick = cfg.ElectionTick
	rc.HeartbeatTick = cfg.HeartbeatTick
	rc.Applied = snap.Meta.Index
	rc.MaxSizePerMsg = cfg.MaxSizePerMsg
	rc.MaxInflightMsgs = cfg.MaxInflightMsgs
	rc.PreVote = true
	rc.CheckQuorum = true
	rc.Rand = rand.New(rand.NewPCG(seed, seed>>1|1))
	rc.Logger = logger.Named("raft")
	r, err := consensus.New(rc)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, log: logger, store: store, sm: sm, tr: tr, hooks: hooks, quar: newQuarantine(cfg.QuarantineTicks),
		propc:     make(chan *proposal, cfg.MaxBatch),
		recvc:     make(chan consensus.Message, 4096),
		readc:     make(chan *readRequest, 1024),
		ctrlc:     make(chan func(*consensus.Raft), 16),
		stopc:     make(chan struct{}),
		donec:     make(chan struct{}),
		haltc:     make(chan struct{}),
		raft:      r,
		waiters:   make(map[uint64]*proposal),
		reads:     make(map[uint64]*readRequest),
		applied:   snap.Meta.Index,
		snapIndex: snap.Meta.Index,
		conf:      r.ConfState(),
		leaderCh:  make(chan struct{}),
	}
	n.leader.Store(consensus.None)
	if hs, _, err := store.InitialState(); err == nil {
		n.hs = hs
		n.term.Store(hs.Term)
		n.commit.Store(hs.Commit)
	}
	n.appliedAt.Store(snap.Meta.Index)
	tr.SetPeers(n.conf.Addrs)
	return n, nil
}

// Bootstrap writes the initial membership into an empty store, so a new
// cluster's nodes all start from the same snapshot at index 1. A store that
// already holds state is left alone.
func Bootstrap(store LogStore, conf consensus.ConfState) error {
	last, err := store.LastIndex()
	if err != nil {
		return err
	}
	hs, _, err := store.InitialState()
	if err != nil {
		return err
	}
	if last > 0 || hs.Term > 0 {
		return nil
	}
	snap := consensus.BootstrapSnapshot(conf)
	return store.Save(consensus.HardState{Term: 1}, nil, &snap)
}

// Start runs the driver loop in its own goroutine.
func (n *Node) Start() { go n.run() }

// Stop ends the loop and waits for it. Pending proposals fail with ErrStopped.
func (n *Node) Stop() {
	n.stop.Do(func() { close(n.stopc) })
	<-n.donec
}

// Halt ends the loop at once, without waiting for a write in flight (a
// stalled disk): the node stops stepping, ticking and sending, so it stops
// leading, and Err() is err. What the write in flight does when (if ever)
// it returns is not looked at. Only a loop blocked in a write of its own
// (installing or taking a snapshot) sees Halt when that write returns. Use
// it to fail-stop a node whose log has stopped answering; the process is
// expected to exit next, never to go on with this Node or its LogStore.
func (n *Node) Halt(err error) {
	n.halt.Do(func() {
		n.haltErr = err
		close(n.haltc)
	})
}

// Done is closed when the loop has ended, by Stop or by a failure.
func (n *Node) Done() <-chan struct{} { return n.donec }

// Err is the failure that stopped the node, or nil.
func (n *Node) Err() error {
	if e, ok := n.err.Load().(error); ok {
		return e
	}
	return nil
}

// Step hands a message from a peer to the loop. It drops the message if the
// loop is saturated: Raft recovers from lost messages.
func (n *Node) Step(m consensus.Message) {
	select {
	case n.recvc <- m:
	case <-n.donec:
	default:
	}
}

// Leader is the leader this node knows of, or None.
func (n *Node) Leader() consensus.NodeID { return n.leader.Load().(consensus.NodeID) }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return n.isLeader.Load() }

// Term is the current term as last published by the loop.
func (n *Node) Term() uint64 { return n.term.Load() }

// CommitIndex and AppliedIndex are as last published by the loop.
func (n *Node) CommitIndex() uint64  { return n.commit.Load() }
func (n *Node) AppliedIndex() uint64 { return n.appliedAt.Load() }

// LeaderChanged returns a channel closed at the next leadership change.
func (n *Node) LeaderChanged() <-chan struct{} {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	return n.leaderCh
}
