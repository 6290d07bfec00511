package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/server/fsm"
)

// applier is the StateMachine the Raft node drives: it wraps the
// fsm.Machine with a read-write lock so that client reads run concurrently
// with each other and never with an apply, routes each entry's events to
// client connections while still holding the lock (so an observer
// registered under the read lock sees every change exactly once, in
// order), and tells the leader's lease table about opened and expired
// sessions. It holds the parts of the server it updates, not the server.
type applier struct {
	mu  sync.RWMutex
	fsm *fsm.Machine
	// events receives every entry's events; leases the opened and expired
	// sessions (it ignores them unless this node leads), with deadlines
	// from clock's monotonic reading; expired counts expiries.
	events  *eventRouter
	leases  *leaseTable
	clock   Clock
	expired prometheus.Counter
	// lastTime is the FSM time after the last apply; proposals are stamped
	// no earlier than it (stamp.go).
	lastTime atomic.Int64
}

// Apply implements raftnode.StateMachine.
func (a *applier) Apply(index uint64, data []byte) any {
	a.mu.Lock()
	res, evs := a.fsm.Apply(index, data)
	a.lastTime.Store(a.fsm.Time())
	a.events.route(a.fsm, evs)
	a.mu.Unlock()
	if res.Err == nil && res.Session != 0 && res.TTL > 0 {
		// Only CmdOpenSession answers with a session and TTL; a retried
		// open with a known key renews the lease, which is harmless.
		a.leases.opened(res.Session, time.Duration(res.TTL), a.clock.Monotonic())
	}
	for _, ev := range evs {
		if se, ok := ev.(fsm.SessionExpired); ok {
			a.leases.remove(se.Session)
			a.expired.Inc()
		}
	}
	return res
}

// Snapshot implements raftnode.StateMachine.
func (a *applier) Snapshot() ([]byte, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.fsm.Snapshot()
}

// Restore implements raftnode.StateMachine. Observers get the current holders of
// every lock they watch whose revision moved.
func (a *applier) Restore(data []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.fsm.Restore(data); err != nil {
		return err
	}
	a.lastTime.Store(a.fsm.Time())
	a.events.refreshObservers(a.fsm)
	return nil
}

// read runs f with the FSM under the read lock.
func (a *applier) read(f func(fsm *fsm.Machine)) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	f(a.fsm)
}
