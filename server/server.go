package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/peer"
	"github.com/lockd/lockd/server/raftnode"
	"github.com/lockd/lockd/wal"
)

// ErrNoBootstrap: a node with an empty data directory was given neither an
// InitialCluster nor Join.
var ErrNoBootstrap = errors.New("server: empty data directory needs InitialCluster or Join")

// Server is one lockd node: the Raft node over its WAL and peer transport,
// the replicated FSM, the leader's timers, and the client rpc server.
//
//	state     event                          next      effect
//	new       Start                          serving   listen (client, then peer), node loop, lease and info loops
//	serving   became leader, read index done serving   lease table active: expiries, lock-delay ticks, keep-alives
//	serving   lost leadership                serving   lease table cleared; writes answered CodeNotLeader
//	serving   applied conf without this node removed   Removed() closed; requests answered CodeUnavailable
//	serving   Shutdown on the leader         stopping  transfer to the most caught-up voter, wait for it
//	stopping  transfer done or ctx ended     closed    drain client requests, stop node, close WAL
//	any       Close                          closed    stop everything at once, close WAL
//	any       WAL write fails                failed    node loop ends; Live() errs; requests CodeUnavailable
type Server struct {
	cfg    Config
	log    hclog.Logger
	clock  Clock
	stamps *stampClock // the time of proposed commands (stamp.go)
	codec  *fsm.Codec

	wal    *wal.WAL
	tr     *peer.Transport
	node   *raftnode.Node
	app    *applier
	client *rpc.Server

	events  *eventRouter
	leases  *leaseTable
	members *memberBook
	backups *backupStore
	metrics *metrics

	addrMu     sync.RWMutex // guards peerAddr and clientAddr, set by Start
	peerAddr   string
	clientAddr string

	// ctx is cancelled by Close: background work and its proposals stop.
	ctx    context.Context
	cancel context.CancelFunc

	expiriesInFlight atomic.Int64
	scans            atomic.Uint64 // lease scans done while leading (tests wait on it)
	tickInFlight     atomic.Bool

	stopc     chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
	started   atomic.Bool
	running   atomic.Bool // the node's loop was started
	closeOnce sync.Once
	closeErr  error
}

// New opens the WAL, bootstraps a new cluster if the data directory is
// empty (unless Join), and builds the node, transport, FSM and client
// server. Nothing listens until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDerived()
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		clock:      cfg.Clock,
		codec:      fsm.NewCodec(),
		peerAddr:   cfg.PeerAddr,
		clientAddr: cfg.ClientAddr,
		stopc:      make(chan struct{}),
		events:     newEventRouter(),
		leases:     newLeaseTable(),
		backups:    &backupStore{},
		metrics:    newMetrics(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	w, err := wal.Open(cfg.WAL)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.wal = w
	if err := s.build(); err != nil {
		_ = w.Close()
		s.cancel()
		return nil, err
	}
	if err := s.metrics.register(cfg.Registerer, s.node, s.app); err != nil {
		_ = s.client.Close()
		_ = s.tr.Close()
		_ = w.Close()
		s.cancel()
		return nil, err
	}
	return s, nil
}

func (s *Server) build() error {
	hs, conf, err := s.wal.InitialState()
	if err != nil {
		return err
	}
	last, err := s.wal.LastIndex()
	if err != nil {
		return err
	}
	snap, err := s.wal.Snapshot()
	if err != nil {
		return err
	}
	empty := last == 0 && hs.Term == 0 && snap.Meta.Index == 0
	if empty && !s.cfg.Join {
		if len(s.cfg.InitialCluster) == 0 {
			return ErrNoBootstrap
		}
		conf = consensus.ConfState{Addrs: map[consensus.NodeID]string{}}
		for id, addr := range s.cfg.InitialCluster {
			conf.Voters = append(conf.Voters, consensus.NodeID(id))
			conf.Addrs[consensus.NodeID(id)] = addr
		}
		sort.Slice(conf.Voters, func(i, j int) bool { return conf.Voters[i] < conf.Voters[j] })
		if err := raftnode.Bootstrap(s.wal, conf); err != nil {
			return fmt.Errorf("server: bootstrap: %w", err)
		}
		s.log.Info("bootstrapped a new cluster", "voters", fmt.Sprint(conf.Voters))
	}
	machine, err := fsm.New(s.cfg.FSM)
	if err != nil {
		return err
	}
	s.app = &applier{fsm: machine, events: s.events, leases: s.leases, clock: s.clock, expired: s.metrics.sessionsExpired}
	s.stamps = newStampClock(s.clock, &s.app.lastTime)
	tr, err := peer.New(consensus.NodeID(s.cfg.ID), s.cfg.RPC)
	if err != nil {
		return err
	}
	s.tr = tr
	node, err := raftnode.New(s.cfg.Node, s.wal, s.app, tr, raftnode.Hooks{
		LeaderChanged: s.onLeaderChanged,
		ConfChanged:   s.onConfChanged,
		Fsync:         s.metrics.observeFsync,
	})
	if err != nil {
		_ = tr.Close()
		return err
	}
	tr.SetStepper(node)
	s.node = node
	s.members = newMemberBook(consensus.NodeID(s.cfg.ID), s.log, s.cfg.InfoInterval, node, tr, conf,
		s.cfg.ClientAddr, s.advertisedPeerAddr())
	if err := tr.HandleNodeInfo(s.members.handleInfo); err != nil {
		_ = tr.Close()
		return err
	}
	client, err := rpc.NewServer(s.cfg.RPC, rpc.KindClient)
	if err != nil {
		_ = tr.Close()
		return err
	}
	s.client = client
	if err := s.registerHandlers(); err != nil {
		_ = tr.Close()
		return err
	}
	return nil
}

// Start listens on the peer and client addresses and starts the node and
// the server's background loops.
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return fmt.Errorf("server: already started")
	}
	ca, err := s.client.Listen(s.cfg.ClientAddr)
	if err != nil {
		return err
	}
	s.addrMu.Lock()
	s.clientAddr = ca.String()
	s.addrMu.Unlock()
	pa, err := s.tr.Listen(s.cfg.PeerAddr)
	if err != nil {
		return err
	}
	s.addrMu.Lock()
	s.peerAddr = pa
	s.addrMu.Unlock()
	s.members.setSelf(ca.String(), s.advertisedPeerAddr())
	s.node.Start()
	s.running.Store(true)
	s.wg.Add(2)
	go s.leaseLoop()
	go func() {
		defer s.wg.Done()
		s.members.loop(s.ctx)
	}()
	s.log.Info("server started", "id", s.cfg.ID, "peer_addr", pa, "client_addr", ca.String())
	return nil
}

// ID is this node's name.
func (s *Server) ID() string { return s.cfg.ID }

// PeerAddr is the bound peer address (after Start), else the configured one.
func (s *Server) PeerAddr() string {
	s.addrMu.RLock()
	defer s.addrMu.RUnlock()
	return s.peerAddr
}

// ClientAddr is the bound client address (after Start), else the configured one.
func (s *Server) ClientAddr() string {
	s.addrMu.RLock()
	defer s.addrMu.RUnlock()
	return s.clientAddr
}

// Removed is closed when this node's applied membership no longer holds
// it; it then answers clients CodeUnavailable.
func (s *Server) Removed() <-chan struct{} { return s.members.removedCh() }

// Live reports nil while the node's loop runs and its WAL takes writes.
func (s *Server) Live() error {
	select {
	case <-s.node.Done():
		if err := s.node.Err(); err != nil {
			return err
		}
		return raftnode.ErrStopped
	default:
		return nil
	}
}

// Ready reports whether a leader is known and this node has applied to
// within ReadyMaxLag entries of the commit index; reason says why not.
func (s *Server) Ready() (bool, string) {
	if err := s.Live(); err != nil {
		return false, "node stopped: " + err.Error()
	}
	if s.members.wasRemoved() {
		return false, "removed from the cluster"
	}
	if s.node.Leader() == consensus.None {
		return false, "no leader known"
	}
	commit, applied := s.node.CommitIndex(), s.node.AppliedIndex()
	if commit > applied && commit-applied > s.cfg.ReadyMaxLag {
		return false, fmt.Sprintf("applied index %d trails commit index %d", applied, commit)
	}
	return true, ""
}

// Status is this node's view of itself and, on the leader, its followers.
func (s *Server) Status(ctx context.Context) (api.NodeStatus, error) {
	st, err := s.node.Status(ctx)
	if err != nil {
		return api.NodeStatus{}, err
	}
	ns := api.NodeStatus{
		ID: string(st.ID), Role: st.Role.String(), Term: st.Term, Leader: string(st.Lead),
		Commit: st.Commit, Applied: st.Applied,
	}
	if st.Lead != consensus.None {
		ns.LeaderAddr = s.members.clientAddr(st.Lead)
	}
	ids := make([]consensus.NodeID, 0, len(st.Progress))
	for id := range st.Progress {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		p := st.Progress[id]
		ns.Progress = append(ns.Progress, api.MemberProgress{ID: string(id), Match: p.Match, Next: p.Next,
			State: p.State, Learner: p.IsLearner})
	}
	return ns, nil
}

// Shutdown stops the server gracefully: a leader first hands leadership to
// its most caught-up voter and waits until that one leads (or ctx ends);
// then client requests are drained and everything stops, the WAL synced
// and closed.
func (s *Server) Shutdown(ctx context.Context) error {
	var terr error
	if s.running.Load() && s.node.IsLeader() {
		terr = s.handOff(ctx)
		if terr != nil {
			s.log.Warn("leadership hand-off before shutdown failed", "error", terr)
		}
	}
	if s.client != nil {
		_ = s.client.Shutdown(ctx)
	}
	return errors.Join(terr, s.Close())
}

// handOff transfers leadership to the most caught-up voter and waits
// until another node is known to lead.
func (s *Server) handOff(ctx context.Context) error {
	target, err := s.transferTarget(ctx)
	if err != nil {
		return err
	}
	if err := s.node.TransferLeader(ctx, target); err != nil {
		return err
	}
	self := consensus.NodeID(s.cfg.ID)
	for {
		ch := s.node.LeaderChanged()
		if lead := s.node.Leader(); lead != self && lead != consensus.None {
			s.log.Info("handed leadership over before shutdown", "to", lead)
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("server: transfer to %s: %w", target, ctx.Err())
		}
	}
}

// Close stops everything at once (client connections, loops, node,
// transport) and closes the WAL. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stopOnce.Do(func() { close(s.stopc) })
		s.cancel()
		if s.client != nil {
			_ = s.client.Close()
		}
		if s.running.Load() {
			s.node.Stop()
		}
		s.wg.Wait()
		if s.tr != nil {
			_ = s.tr.Close()
		}
		s.closeErr = s.wal.Close()
		s.metrics.unregister()
	})
	return s.closeErr
}

// onConfChanged runs on the node loop after a membership change applies.
func (s *Server) onConfChanged(cs consensus.ConfState) { s.members.setConf(cs) }

// onLeaderChanged runs on the node loop at every leadership change.
func (s *Server) onLeaderChanged(lead consensus.NodeID, term uint64, self bool) {
	s.metrics.leaderChanges.Inc()
	gen := s.leases.deactivate()
	if self {
		s.stamps.takeOffice(gen)
		s.wg.Add(1)
		go s.becomeLeader(gen)
	} else {
		s.stamps.leaveOffice()
	}
	s.wg.Add(1)
	go s.announceLeader(lead, term, gen)
}
