package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
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
// InitialCluster nor Join. A lone node never founds a cluster of itself
// unless InitialCluster names it alone.
var ErrNoBootstrap = errors.New("server: empty data directory needs InitialCluster or Join")

// Server is one lockd node: the Raft node over its WAL and peer transport,
// the replicated FSM, the leader's timers, and the client rpc server.
//
//	state     event                          next      effect
//	-         New                            new       bind client and peer ports, then open the WAL and
//	                                                   (empty and not joining) record the cluster and bootstrap
//	new       Start                          serving   serve both ports, node loop, lease and info loops
//	serving   became leader, read index done serving   lease table active: expiries, lock-delay ticks, keep-alives
//	serving   lost leadership                serving   lease table cleared; writes answered CodeNotLeader
//	serving   applied conf without this node removed   Removed() closed; requests answered CodeUnavailable
//	serving   Shutdown on the leader         stopping  transfer to a caught-up voter that answers, wait for it
//	stopping  transfer done or ctx ended     closed    drain client requests, stop node, close WAL
//	any       Close                          closed    stop everything at once, close WAL
//	any       WAL write fails                failed    node loop ends; Live() errs; requests CodeUnavailable
//	serving   WAL write pending WALStallTimeout/2  serving  Live() returns ErrWALStalled (/livez 503)
//	any       WAL write pending WALStallTimeout,   failed  fail-stop: loop halted at once, FailStopped() closed,
//	          or the WAL reports a failure                 Live() returns ErrFailStop; the process exits
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
	// listings holds a token per listing being built (listings.go).
	listings chan struct{}

	events  *eventRouter
	leases  *leaseTable
	members *memberBook
	backups *backupStore
	metrics *metrics
	recent  *eventLog // the web view's recent events

	addrMu     sync.RWMutex // guards peerAddr and clientAddr, set by New
	peerAddr   string
	clientAddr string
	// peerLn and clientLn are bound by New and served from Start.
	peerLn, clientLn net.Listener

	// clusterID is the cluster the data directory belongs to ("" if it
	// does not know); a joining node learns it from a member.
	clusterID atomic.Pointer[string]

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

	// walWatch times the WAL's writes (diskwatch.go); failErr is set,
	// once, when the node fail-stops, and failc closed.
	walWatch *walWatch
	failOnce sync.Once
	failErr  atomic.Pointer[error]
	failc    chan struct{}
}

// New binds the client and peer ports, opens the WAL, bootstraps a new
// cluster if the data directory is empty (unless Join) and builds the
// node, transport, FSM and client server. Connections wait in the ports'
// backlog until Start serves them.
//
// Nothing is written before both ports are bound: a taken port fails New
// with the data directory as it was. An empty data directory without
// InitialCluster or Join is ErrNoBootstrap (and is not created); a data
// directory with state whose recorded cluster InitialCluster contradicts
// is a *ClusterMismatchError.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDerived()
	if len(cfg.InitialCluster) == 0 && !cfg.Join && dataDirFresh(cfg.WAL.Dir) {
		return nil, ErrNoBootstrap
	}
	clientLn, err := net.Listen("tcp", cfg.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("server: client listener: %w", err)
	}
	peerLn, err := net.Listen("tcp", cfg.PeerAddr)
	if err != nil {
		_ = clientLn.Close()
		return nil, fmt.Errorf("server: peer listener: %w", err)
	}
	closeLns := func() {
		_ = clientLn.Close()
		_ = peerLn.Close()
	}
	s := &Server{
		listings:   make(chan struct{}, maxListingsAtOnce),
		cfg:        cfg,
		log:        cfg.Logger,
		clock:      cfg.Clock,
		codec:      fsm.NewCodec(),
		peerAddr:   peerLn.Addr().String(),
		clientAddr: clientLn.Addr().String(),
		peerLn:     peerLn,
		clientLn:   clientLn,
		stopc:      make(chan struct{}),
		failc:      make(chan struct{}),
		walWatch:   newWALWatch(cfg.WALStallTimeout),
		events:     newEventRouter(),
		leases:     newLeaseTable(),
		backups:    &backupStore{},
		metrics:    newMetrics(),
		recent:     newEventLog(recentEvents),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	w, err := wal.Open(cfg.WAL)
	if err != nil {
		closeLns()
		s.cancel()
		return nil, err
	}
	s.wal = w
	if err := s.build(); err != nil {
		_ = w.Close()
		closeLns()
		s.cancel()
		return nil, err
	}
	conns := map[string]func() rpc.Stats{"client": s.client.Stats, "peer": s.tr.RPCStats}
	err = s.metrics.register(cfg.Registerer, s.node, s.app, conns)
	if err == nil {
		err = s.metrics.registerWAL(s.walWatch)
	}
	if err != nil {
		_ = s.client.Close()
		_ = s.tr.Close()
		_ = w.Close()
		closeLns()
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
	if conf, err = s.identify(empty, conf); err != nil {
		return err
	}
	machine, err := fsm.New(s.cfg.FSM)
	if err != nil {
		return err
	}
	s.app = &applier{fsm: machine, events: s.events, leases: s.leases, clock: s.clock, expired: s.metrics.sessionsExpired, recent: s.recent}
	s.stamps = newStampClock(s.clock, &s.app.lastTime)
	tr, err := peer.New(consensus.NodeID(s.cfg.ID), s.cfg.peerRPC())
	if err != nil {
		return err
	}
	if err := tr.LimitSnapshots(s.cfg.MaxSnapshotBytes, s.cfg.SnapshotIdleTimeout); err != nil {
		_ = tr.Close()
		return err
	}
	// A snapshot a peer sends is checked whole (checksums, and that this
	// state machine decodes it) before Raft sees it (peer.Transport.CheckSnapshots).
	tr.CheckSnapshots(machine.CheckSnapshot, s.metrics.peerMessageDropped)
	s.tr = tr
	node, err := raftnode.New(s.cfg.Node, s.wal, s.app, tr, raftnode.Hooks{
		LeaderChanged: s.onLeaderChanged,
		ConfChanged:   s.onConfChanged,
		Fsync:         s.metrics.observeFsync,
		Snapshot:      s.metrics.calls.observeSnapshot,

		PeerMessageDropped: s.metrics.peerMessageDropped,
	})
	if err != nil {
		_ = tr.Close()
		return err
	}
	tr.SetStepper(node)
	s.node = node
	s.members = newMemberBook(consensus.NodeID(s.cfg.ID), s.log, s.cfg.InfoInterval, node, tr, conf,
		s.advertisedClientAddr(), s.advertisedPeerAddr(), bookIdentity{
			incarnation: rand.Uint64() | 1, advertise: s.cfg.AdvertisePeerAddr, clusterID: s.ClusterID,
			learnClusterID: s.learnClusterID, refused: s.metrics.peerRefused, dropped: s.metrics.peerDropped,
		})
	tr.SetIntroducer(s.members)
	tr.SetGate(peer.Gate{MaySend: s.members.mayStep, Dropped: s.metrics.peerDropped})
	if err := tr.HandleStatus(func(ctx context.Context) (any, error) {
		st, err := s.Status(ctx)
		return &st, err
	}); err != nil {
		_ = tr.Close()
		return err
	}
	if err := tr.HandleNodeInfo(s.members.handleInfo); err != nil {
		_ = tr.Close()
		return err
	}
	client, err := rpc.NewServer(s.cfg.clientRPC(), rpc.KindClient)
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

// Start serves the client and peer ports New bound and starts the node and
// the server's background loops.
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return fmt.Errorf("server: already started")
	}
	ca, pa := s.ClientAddr(), s.PeerAddr()
	serve(s.client, s.clientLn, s.log)
	serve(s.tr, s.peerLn, s.log)
	s.members.setSelf(s.advertisedClientAddr(), s.advertisedPeerAddr())
	s.node.Start()
	s.running.Store(true)
	s.wg.Add(3)
	go s.watchWAL()
	go s.leaseLoop()
	go func() {
		defer s.wg.Done()
		s.members.loop(s.ctx)
	}()
	s.log.Info("server started", "id", s.cfg.ID, "peer_addr", pa, "client_addr", ca,
		"advertised_client_addr", s.advertisedClientAddr(), "cluster_id", s.ClusterID())
	return nil
}

// serve serves ln on srv in the background until srv closes.
func serve(srv interface{ Serve(net.Listener) error }, ln net.Listener, log hclog.Logger) {
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, rpc.ErrClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("listener stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
}

// ClusterID is the ID of the cluster this node's data directory belongs
// to (see the package function ClusterID), or "" if it does not know: a
// data directory written before lockd recorded it, or a joining node that
// has not heard from a member yet.
func (s *Server) ClusterID() string {
	if p := s.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

// ID is this node's name.
func (s *Server) ID() string { return s.cfg.ID }

// PeerAddr is the bound peer address.
func (s *Server) PeerAddr() string {
	s.addrMu.RLock()
	defer s.addrMu.RUnlock()
	return s.peerAddr
}

// ClientAddr is the bound client address.
func (s *Server) ClientAddr() string {
	s.addrMu.RLock()
	defer s.addrMu.RUnlock()
	return s.clientAddr
}

// Removed is closed when this node's applied membership no longer holds
// it; it then answers clients CodeUnavailable.
func (s *Server) Removed() <-chan struct{} { return s.members.removedCh() }

// Live reports nil while the node's loop runs and its WAL takes writes.
// Otherwise: the fail-stop reason (errors.Is ErrFailStop) once the node
// has fail-stopped, or when its loop ended on a WAL failure;
// ErrWALStalled while a WAL write has been pending for half of
// WALStallTimeout or more (the node still runs; it fail-stops at the
// bound); the loop's error, or raftnode.ErrStopped, if it ended otherwise.
func (s *Server) Live() error {
	if e := s.failErr.Load(); e != nil {
		return *e
	}
	select {
	case <-s.node.Done():
		err := s.node.Err()
		if errors.Is(err, wal.ErrFailed) {
			s.failStop(fmt.Errorf("%w: %w", ErrFailStop, err))
			return *s.failErr.Load()
		}
		if err != nil {
			return err
		}
		return raftnode.ErrStopped
	default:
	}
	if _, err := s.walWatch.status(); err != nil {
		return err
	}
	return nil
}

// Ready reports whether a leader is known and this node has applied to
// within ReadyMaxLag entries of the commit index; reason says why not.
func (s *Server) Ready() (bool, string) {
	if err := s.Live(); err != nil {
		if errors.Is(err, ErrWALStalled) && !errors.Is(err, ErrFailStop) {
			return false, err.Error() // still running; fail-stops at the bound
		}
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
		Commit: st.Commit, Applied: st.Applied, ClusterID: s.ClusterID(),
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
// a follower that is up and caught up (handOff: it gives up at once when
// there is none, or when this node stops leading, and returns
// ErrNoHandOff saying why); then client requests are drained and
// everything stops, the WAL synced and closed.
func (s *Server) Shutdown(ctx context.Context) error {
	var terr error
	if s.running.Load() && s.node.IsLeader() {
		terr = s.handOff(ctx)
	}
	if s.client != nil {
		_ = s.client.Shutdown(ctx)
	}
	return errors.Join(terr, s.Close())
}

// Close stops everything at once (client connections, loops, node,
// transport) and closes the WAL (after a fail-stop, waiting at most
// WALStallTimeout for it). Safe to call more than once.
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
		// Bound by New; the rpc servers close them once served, but not
		// if Start never ran.
		_ = s.clientLn.Close()
		_ = s.peerLn.Close()
		if s.failErr.Load() != nil {
			s.closeErr = s.closeWALAfterFailStop()
		} else {
			s.closeErr = s.wal.Close()
		}
		s.metrics.unregister()
	})
	return s.closeErr
}

// onConfChanged runs on the node loop after a membership change applies.
func (s *Server) onConfChanged(cs consensus.ConfState) { s.members.setConf(cs) }

// onLeaderChanged runs on the node loop at every leadership change.
func (s *Server) onLeaderChanged(lead consensus.NodeID, term uint64, self bool) {
	s.metrics.leaderChanges.Inc()
	s.recent.recordLeader(lead, term, s.app.lastTime.Load())
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
