package rpc

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Reasons a Server refuses an accepted connection (Stats counts each).
const (
	refuseMaxConns      = "max_conns"
	refuseMaxConnsPerIP = "max_conns_per_ip"
)

// sourceOf is the key MaxConnsPerIP counts under: the remote IP address,
// or the whole address for a transport without one (net.Pipe in tests).
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap().String()
		}
	}
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// admitLocked takes a place for a new connection from src, or returns
// why not. Caller holds s.mu; a place taken is given back by leaveLocked.
func (s *Server) admitLocked(src string) (refused string) {
	switch {
	case s.cfg.MaxConns > 0 && s.admitted >= s.cfg.MaxConns:
		return refuseMaxConns
	case s.cfg.MaxConnsPerIP > 0 && s.perSource[src] >= s.cfg.MaxConnsPerIP:
		return refuseMaxConnsPerIP
	}
	s.admitted++
	s.perSource[src]++
	return ""
}

// leaveLocked gives back the place of a connection from src. Caller holds
// s.mu.
func (s *Server) leaveLocked(src string) {
	s.admitted--
	if s.perSource[src]--; s.perSource[src] <= 0 {
		delete(s.perSource, src)
	}
}

// refuse counts and logs a connection that admitLocked refused, then
// closes it. The log is rate-limited: a flood of refusals must not flood
// it.
func (s *Server) refuse(nc net.Conn, src, reason string) {
	defer func() { _ = nc.Close() }()
	switch reason {
	case refuseMaxConns:
		s.stats.refusedMaxConns.Add(1)
	case refuseMaxConnsPerIP:
		s.stats.refusedMaxConnsPerIP.Add(1)
	}
	if suppressed, ok := s.refusedLog.allow(); ok {
		s.log.Warn("refusing connections", "reason", reason, "remote", src,
			"max_conns", s.cfg.MaxConns, "max_conns_per_ip", s.cfg.MaxConnsPerIP, "suppressed", suppressed)
	} else {
		s.log.Debug("refused connection", "reason", reason, "remote", src)
	}
}

// logLimiter lets one log line through per interval and counts the ones
// it holds back.
type logLimiter struct {
	interval time.Duration
	now      func() time.Time // time.Now; tests replace it

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many were held back since the
// last line let through.
func (l *logLimiter) allow() (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		return 0, false
	}
	suppressed, l.suppressed, l.last = l.suppressed, 0, now
	return suppressed, true
}
