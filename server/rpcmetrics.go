package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/rpc"
)

// rpcCollector reports the connection counts of the client and peer rpc
// servers (rpc.Stats) at scrape time, labelled by listener ("client",
// "peer") and reason; never by remote address or name.
type rpcCollector struct {
	listeners                   map[string]func() rpc.Stats
	conns, refused, cut, failed *prometheus.Desc
}

func newRPCCollector(listeners map[string]func() rpc.Stats) *rpcCollector {
	return &rpcCollector{
		listeners: listeners,
		conns: prometheus.NewDesc("lockd_rpc_connections",
			"Connections held, including those in their handshake.", []string{"listener"}, nil),
		refused: prometheus.NewDesc("lockd_rpc_connections_refused_total",
			"Connections closed on accept: max_conns (MaxConns held) or max_conns_per_ip (MaxConnsPerIP held from one address).",
			[]string{"listener", "reason"}, nil),
		cut: prometheus.NewDesc("lockd_rpc_connections_cut_total",
			"Open connections closed by the server for a limit: slow_reader (answers and pushes past the outbound byte budget or push queue).",
			[]string{"listener", "reason"}, nil),
		failed: prometheus.NewDesc("lockd_rpc_handshakes_failed_total",
			"Accepted connections closed because their handshake failed or timed out.", []string{"listener"}, nil),
	}
}

func (c *rpcCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.refused
	ch <- c.cut
	ch <- c.failed
}

func (c *rpcCollector) Collect(ch chan<- prometheus.Metric) {
	for name, stats := range c.listeners {
		st := stats()
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.Conns), name)
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.RefusedMaxConns), name, "max_conns")
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.RefusedMaxConnsPerIP), name, "max_conns_per_ip")
		ch <- prometheus.MustNewConstMetric(c.cut, prometheus.CounterValue, float64(st.CutSlowReader), name, "slow_reader")
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(st.HandshakesFailed), name)
	}
}
