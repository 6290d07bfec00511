package rpc

import "sync/atomic"

// Stats are a Server's connection counts, for metrics. The counters only
// grow; read them as Prometheus counters.
type Stats struct {
	// Conns is the connections held now, including those still in their
	// handshake.
	Conns int
	// RefusedMaxConns counts connections closed on accept because the
	// server held MaxConns.
	RefusedMaxConns uint64
	// RefusedMaxConnsPerIP counts connections closed on accept because
	// the server held MaxConnsPerIP from the same address.
	RefusedMaxConnsPerIP uint64
	// HandshakesFailed counts accepted connections closed because their
	// handshake failed: a bad or slow hello (HandshakeTimeout), a wrong
	// version or kind, or a refusal.
	HandshakesFailed uint64
	// CutSlowReader counts connections closed because their outbound
	// queue was full (MaxQueueBytes, or SendQueueLen pushes): the remote
	// did not read its answers and pushes fast enough.
	CutSlowReader uint64
}

// serverStats are the counters behind Stats.
type serverStats struct {
	refusedMaxConns      atomic.Uint64
	refusedMaxConnsPerIP atomic.Uint64
	handshakesFailed     atomic.Uint64
	cutSlowReader        atomic.Uint64
}

// Stats returns the server's connection counts.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	n := s.admitted
	s.mu.RUnlock()
	return Stats{
		Conns:                n,
		RefusedMaxConns:      s.stats.refusedMaxConns.Load(),
		RefusedMaxConnsPerIP: s.stats.refusedMaxConnsPerIP.Load(),
		HandshakesFailed:     s.stats.handshakesFailed.Load(),
		CutSlowReader:        s.stats.cutSlowReader.Load(),
	}
}
