package server

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// registerWAL publishes the gauges of the WAL watch (diskwatch.go) beside
// the others; unregister removes them with the rest.
func (m *metrics) registerWAL(w *walWatch) error {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockd_wal_pending_seconds",
			Help: "How long the write-ahead log write in flight has been pending (0: none)."},
			func() float64 { d, _ := w.status(); return d.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lockd_wal_stalled",
			Help: "1 while a write-ahead log write has been pending for half the stall timeout or the node has fail-stopped on its disk."},
			func() float64 {
				if _, err := w.status(); err != nil {
					return 1
				}
				return 0
			}),
	}
	for i, c := range cs {
		if err := m.reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				m.reg.Unregister(done)
			}
			m.unregister()
			return errors.Join(errors.New("server: register metrics"), err)
		}
	}
	m.cs = append(m.cs, cs...)
	return nil
}
