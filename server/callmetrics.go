package server

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// callMetrics are the per-request, commit and snapshot metrics. Labels
// are the request's method (api.MsgType's name), its outcome code (the
// api code as a decimal number, "0" for success) and a snapshot's kind:
// bounded sets, never a lock or session name.
type callMetrics struct {
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	commit          prometheus.Histogram
	snapshotBytes   *prometheus.HistogramVec
	snapshotSecs    *prometheus.HistogramVec
}

// latencyBuckets run from 100 µs to about 3.3 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 16)

func newCallMetrics() callMetrics {
	return callMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lockd_requests_total",
			Help: "Client requests answered by this node, by method and outcome code (0 for success, else the api error code)."},
			[]string{"method", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lockd_request_duration_seconds",
			Help: "Time to answer a client request, by method.", Buckets: latencyBuckets}, []string{"method"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lockd_commit_duration_seconds",
			Help: "Time from a leader's proposal to its application (replication, commit and apply).", Buckets: latencyBuckets}),
		snapshotBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lockd_snapshot_size_bytes",
			Help:    "Size of each snapshot taken (kind taken) or installed from the leader (kind installed).",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 12)}, []string{"kind"}),
		snapshotSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lockd_snapshot_duration_seconds",
			Help:    "Time to take a snapshot (capture, store, compact) or install one (store, restore), by kind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"kind"}),
	}
}

// snapshotKinds are the values of the kind label of the snapshot
// histograms; their series exist from the start.
var snapshotKinds = []string{"taken", "installed"}

func (m callMetrics) collectors() []prometheus.Collector {
	for _, k := range snapshotKinds {
		m.snapshotBytes.WithLabelValues(k)
		m.snapshotSecs.WithLabelValues(k)
	}
	return []prometheus.Collector{m.requests, m.requestDuration, m.commit, m.snapshotBytes, m.snapshotSecs}
}

// initMethod makes a method's series exist (at zero) before its first
// request, so dashboards and rate() see it from the start.
func (m callMetrics) initMethod(typ api.MsgType) {
	m.requests.WithLabelValues(typ.String(), "0")
	m.requestDuration.WithLabelValues(typ.String())
}

// observeRequest counts one answered request; err is what the handler
// returns to rpc (wireError's result).
func (m callMetrics) observeRequest(typ api.MsgType, err error, d time.Duration) {
	m.requests.WithLabelValues(typ.String(), outcomeCode(err)).Inc()
	m.requestDuration.WithLabelValues(typ.String()).Observe(d.Seconds())
}

// outcomeCode is the code a client sees: 0, the remote error's code, or
// rpc's internal code for any other error.
func outcomeCode(err error) string {
	if err == nil {
		return "0"
	}
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		return strconv.FormatUint(uint64(re.Code), 10)
	}
	return strconv.FormatUint(uint64(rpc.CodeInternal), 10)
}

func (m callMetrics) observeSnapshot(kind string, bytes int, d time.Duration) {
	m.snapshotBytes.WithLabelValues(kind).Observe(float64(bytes))
	m.snapshotSecs.WithLabelValues(kind).Observe(d.Seconds())
}

// queueBuckets are the upper bounds of lockd_lock_queue_length.
var queueBuckets = []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024}

// lockStates names lockd_locks' state label: held exclusively, held
// shared, or free in its lock-delay.
var lockStates = []string{"exclusive", "shared", "delayed"}

// sessionStates names lockd_sessions' state label: holding a lock,
// waiting only, or neither.
var sessionStates = []string{"holding", "waiting", "idle"}

// stateCounts are the state machine's counts by state, taken at scrape.
type stateCounts struct {
	locks    map[string]int
	sessions map[string]int
	queues   map[float64]uint64 // cumulative histogram buckets
	queueN   uint64
	queueSum float64
}

// countStates counts locks, sessions and queue lengths; the caller holds
// the FSM read lock.
func countStates(f *fsm.Machine) stateCounts {
	c := stateCounts{locks: map[string]int{}, sessions: map[string]int{}, queues: map[float64]uint64{}}
	now := f.Time()
	for _, in := range f.Locks() {
		switch {
		case len(in.Holders) > 0 && in.Holders[0].Mode == lockMode(api.ModeShared):
			c.locks["shared"]++
		case len(in.Holders) > 0:
			c.locks["exclusive"]++
		case in.DelayUntil > now:
			c.locks["delayed"]++
		}
		if len(in.Holders)+len(in.Waiters) == 0 {
			continue
		}
		n := len(in.Waiters)
		c.queueN++
		c.queueSum += float64(n)
		for _, b := range queueBuckets {
			if float64(n) <= b {
				c.queues[b]++
			}
		}
	}
	for _, si := range f.Sessions() {
		info, _, _ := sessionInfo(f, uint64(si.ID), readsAll)
		switch {
		case len(info.Held) > 0:
			c.sessions["holding"]++
		case len(info.Waiting) > 0:
			c.sessions["waiting"]++
		default:
			c.sessions["idle"]++
		}
	}
	return c
}
