package server

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// metrics are the lockd_ Prometheus metrics of one server. Labels never
// carry lock or session names. Gauges of the Raft state read the node's
// published atomics at scrape time; the FSM counts are taken at scrape
// time under the FSM read lock.
type metrics struct {
	reg             prometheus.Registerer
	cs              []prometheus.Collector
	leaderChanges   prometheus.Counter
	fsync           prometheus.Histogram
	proposals       prometheus.Counter
	proposalsFailed prometheus.Counter
	sessionsExpired prometheus.Counter
	acquireDuration prometheus.Histogram
	peersRefused    *prometheus.CounterVec
	sessionRefusals *prometheus.CounterVec
	requestsDenied  *prometheus.CounterVec
	peerDrops       *prometheus.CounterVec // peerdrops.go
}

// raftGauges is what the gauges read of the Raft node (*raftnode.Node).
type raftGauges interface {
	Leader() consensus.NodeID
	IsLeader() bool
	Term() uint64
	CommitIndex() uint64
	AppliedIndex() uint64
}

// stateReader runs f with the state machine under its read lock
// (*applier).
type stateReader interface {
	read(f func(m *fsm.Machine))
}

// newMetrics returns the counters and histograms the server updates;
// register publishes them with the gauges.
func newMetrics() *metrics {
	m := &metrics{}
	m.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{Name: "lockd_leader_changes_total",
		Help: "Leadership changes seen by this node."})
	m.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lockd_wal_fsync_duration_seconds",
		Help: "Duration of each synced WAL write.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)})
	m.proposals = prometheus.NewCounter(prometheus.CounterOpts{Name: "lockd_proposals_total",
		Help: "Commands this node proposed as leader."})
	m.proposalsFailed = prometheus.NewCounter(prometheus.CounterOpts{Name: "lockd_proposals_failed_total",
		Help: "Proposals that were not applied (lost, timed out, leadership changed)."})
	m.sessionsExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "lockd_sessions_expired_total",
		Help: "Sessions ended by expiry, as applied on this node."})
	m.acquireDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lockd_acquire_duration_seconds",
		Help: "Time to answer an Acquire (granted or queued).", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)})
	m.peersRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lockd_peers_refused_total",
		Help: "Peers refused by this node, or whose answers it refused: claiming this node's ID (self), a member's ID at another address (address), another cluster (cluster), answering under another ID (id)."},
		[]string{"reason"})
	m.sessionRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lockd_session_refusals_total",
		Help: "Requests on a session refused by this node: from another principal than its owner (not_owned), without its secret (bad_secret), reusing a sequence number for another request (sequence_reused), or with a sequence number out of range (sequence_out_of_range)."},
		[]string{"reason"})
	m.requestsDenied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lockd_requests_denied_total",
		Help: "Client requests refused because the principal lacks the permission, by request type."},
		[]string{"method"})
	m.peerDrops = newPeerDropped()
	return m
}

// peerRefused counts one refused peer.
func (m *metrics) peerRefused(kind string) { m.peersRefused.WithLabelValues(kind).Inc() }

// peerDropped counts one dropped peer message.
func (m *metrics) peerDropped(reason string) { m.peerDrops.WithLabelValues(reason).Inc() }

// register publishes the metrics in reg (nil: a private registry), with
// gauges that read node and state at scrape time, and the rpc servers'
// connection counts by listener name. On error nothing stays registered.
func (m *metrics) register(reg prometheus.Registerer, node raftGauges, state stateReader, conns map[string]func() rpc.Stats) error {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	cs := []prometheus.Collector{m.leaderChanges, m.fsync, m.proposals, m.proposalsFailed, m.sessionsExpired, m.acquireDuration, m.peersRefused, m.sessionRefusals, m.requestsDenied, m.peerDrops,
		gauge("lockd_has_leader", "1 if this node knows a leader.", func() float64 { return bit(node.Leader() != consensus.None) }),
		gauge("lockd_is_leader", "1 if this node is the leader.", func() float64 { return bit(node.IsLeader()) }),
		gauge("lockd_term", "Current Raft term.", func() float64 { return float64(node.Term()) }),
		gauge("lockd_commit_index", "Raft commit index.", func() float64 { return float64(node.CommitIndex()) }),
		gauge("lockd_applied_index", "Index of the last applied entry.", func() float64 { return float64(node.AppliedIndex()) }),
		&stateCollector{state: state,
			sessions: prometheus.NewDesc("lockd_sessions_open", "Open sessions.", nil, nil),
			held:     prometheus.NewDesc("lockd_locks_held", "Locks with at least one holder.", nil, nil),
			waiters:  prometheus.NewDesc("lockd_lock_waiters", "Acquire requests waiting in lock queues.", nil, nil),
		},
		newRPCCollector(conns),
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return errors.Join(errors.New("server: register metrics"), err)
		}
	}
	m.reg, m.cs = reg, cs
	return nil
}

func (m *metrics) observeFsync(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// unregister removes the metrics, so a new Server may use the same
// registry (tests restart nodes in one process).
func (m *metrics) unregister() {
	for _, c := range m.cs {
		m.reg.Unregister(c)
	}
	m.cs = nil
}

// stateCollector counts sessions, held locks and waiters at scrape time.
type stateCollector struct {
	state                   stateReader
	sessions, held, waiters *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.held
	ch <- c.waiters
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	var sessions, held, waiters int
	c.state.read(func(f *fsm.Machine) {
		sessions, _ = f.SessionCount("")
		for _, in := range f.Locks() {
			if len(in.Holders) > 0 {
				held++
			}
			waiters += len(in.Waiters)
		}
	})
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(sessions))
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(held))
	ch <- prometheus.MustNewConstMetric(c.waiters, prometheus.GaugeValue, float64(waiters))
}
