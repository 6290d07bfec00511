package server

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/raftnode"
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
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{reg: reg}
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
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.cs = []prometheus.Collector{m.leaderChanges, m.fsync, m.proposals, m.proposalsFailed, m.sessionsExpired, m.acquireDuration,
		gauge("lockd_has_leader", "1 if this node knows a leader.", func() float64 {
			if s.node != nil && s.node.Leader() != "" {
				return 1
			}
			return 0
		}),
		gauge("lockd_is_leader", "1 if this node is the leader.", func() float64 {
			if s.node != nil && s.node.IsLeader() {
				return 1
			}
			return 0
		}),
		gauge("lockd_term", "Current Raft term.", func() float64 { return nodeGauge(s, (*raftnode.Node).Term) }),
		gauge("lockd_commit_index", "Raft commit index.", func() float64 { return nodeGauge(s, (*raftnode.Node).CommitIndex) }),
		gauge("lockd_applied_index", "Index of the last applied entry.", func() float64 { return nodeGauge(s, (*raftnode.Node).AppliedIndex) }),
		&fsmCollector{s: s,
			sessions: prometheus.NewDesc("lockd_sessions_open", "Open sessions.", nil, nil),
			held:     prometheus.NewDesc("lockd_locks_held", "Locks with at least one holder.", nil, nil),
			waiters:  prometheus.NewDesc("lockd_lock_waiters", "Acquire requests waiting in lock queues.", nil, nil),
		},
	}
	for i, c := range m.cs {
		if err := reg.Register(c); err != nil {
			for _, done := range m.cs[:i] {
				reg.Unregister(done)
			}
			return nil, errors.Join(errors.New("server: register metrics"), err)
		}
	}
	return m, nil
}

func nodeGauge(s *Server, f func(*raftnode.Node) uint64) float64 {
	if s.node == nil {
		return 0
	}
	return float64(f(s.node))
}

func (m *metrics) observeFsync(d time.Duration) { m.fsync.Observe(d.Seconds()) }

// unregister removes the metrics, so a new Server may use the same
// registry (tests restart nodes in one process).
func (m *metrics) unregister() {
	for _, c := range m.cs {
		m.reg.Unregister(c)
	}
}

// fsmCollector counts sessions, held locks and waiters at scrape time.
type fsmCollector struct {
	s                       *Server
	sessions, held, waiters *prometheus.Desc
}

func (c *fsmCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.held
	ch <- c.waiters
}

func (c *fsmCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.app == nil {
		return
	}
	var sessions, held, waiters int
	c.s.app.read(func(f *fsm.Machine) {
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
