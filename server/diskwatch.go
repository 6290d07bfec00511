package server

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lockd/lockd/wal"
)

var (
	// ErrFailStop: the node stopped itself because its disk stopped
	// answering (a write-ahead log write stalled past
	// Config.WALStallTimeout, or failed). Its Raft loop has ended, it no
	// longer leads or votes, and the process is expected to exit (lockd
	// exits with its fail-stop code) so that a supervisor restarts it.
	// The error wraps ErrWALStalled or the WAL's own failure
	// (wal.ErrFailed, wal.ErrBackground).
	ErrFailStop = errors.New("server: fail-stop: the disk stopped answering")
	// ErrWALStalled: a write-ahead log write has been pending for a long
	// time. Live returns it (without ErrFailStop) once a write has been
	// pending for half of Config.WALStallTimeout, and wrapped in
	// ErrFailStop once it has been pending for all of it.
	ErrWALStalled = errors.New("server: write-ahead log write stalled")
)

// walWatchMaxInterval is the longest time between two looks at the WAL; a
// short stall timeout is looked at twenty times per timeout.
const walWatchMaxInterval = 100 * time.Millisecond

// walHealth is what the watch reads of the WAL (*wal.WAL).
type walHealth interface{ Health() wal.Health }

// walWatch times the WAL's writes: the WAL counts the writes started and
// finished and keeps no clock (wal.Health), so the watch notes when it
// first saw the write in flight and reads the elapsed time on the
// server's monotonic clock at every look. Its resolution is the interval
// between looks, which is well below the bound.
//
//	state    look sees                               next     effect
//	ok       nothing in flight, no failure           ok       pending 0
//	ok       write N in flight                       pending  note N and now
//	pending  write N still in flight, < bound/2      pending
//	pending  write N still in flight, >= bound/2     slow     Live: ErrWALStalled; lockd_wal_stalled 1
//	pending  another write or none                   ok/pend. restart the timing
//	slow     write N still in flight, >= bound       stopped  fail-stop with ErrWALStalled
//	any      the WAL reports a failure               stopped  fail-stop with it
//	stopped  anything                                stopped  (final)
type walWatch struct {
	bound time.Duration

	mu      sync.Mutex
	seen    uint64        // the write in flight at the last look, or 0
	since   time.Duration // monotonic time it was first seen in flight
	pending time.Duration // how long it had been in flight at the last look
	fatal   error         // the fail-stop reason, once there is one
}

func newWALWatch(bound time.Duration) *walWatch { return &walWatch{bound: bound} }

// interval is the time between looks.
func (w *walWatch) interval() time.Duration {
	return max(min(walWatchMaxInterval, w.bound/20), time.Millisecond)
}

// look takes one reading of h at monotonic time now and returns the
// fail-stop reason if this look found one (once; later looks return nil).
func (w *walWatch) look(h wal.Health, now time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fatal != nil {
		return nil
	}
	switch {
	case h.Err != nil:
		w.fatal = fmt.Errorf("%w: %w", ErrFailStop, h.Err)
		return w.fatal
	case !h.InFlight():
		w.seen, w.pending = 0, 0
		return nil
	case h.Started != w.seen:
		w.seen, w.since, w.pending = h.Started, now, 0
		return nil
	}
	w.pending = now - w.since
	if w.pending >= w.bound {
		w.fatal = fmt.Errorf("%w: %w: write %d pending for %v, over the bound of %v",
			ErrFailStop, ErrWALStalled, h.Started, w.pending, w.bound)
		return w.fatal
	}
	return nil
}

// status returns how long the write in flight has been pending and the
// stall to report: the fail-stop reason, ErrWALStalled once a write has
// been pending for half the bound, or nil.
func (w *walWatch) status() (time.Duration, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.fatal != nil:
		return w.pending, w.fatal
	case w.seen != 0 && 2*w.pending >= w.bound:
		return w.pending, fmt.Errorf("%w: write %d pending for %v; the node fail-stops at %v",
			ErrWALStalled, w.seen, w.pending, w.bound)
	}
	return w.pending, nil
}

// watchWAL looks at the WAL every interval until the server stops, and
// fail-stops the node when a look finds a stall past the bound or a
// failure.
func (s *Server) watchWAL() {
	defer s.wg.Done()
	t := time.NewTicker(s.walWatch.interval())
	defer t.Stop()
	for {
		select {
		case <-s.stopc:
			return
		case <-t.C:
			if err := s.walWatch.look(s.wal.Health(), s.clock.Monotonic()); err != nil {
				s.failStop(err)
				return
			}
		}
	}
}

// failStop stops the node for good: its Raft loop ends at once (without
// waiting for a write that may never return), so it stops leading and
// voting and the others elect a leader among themselves; Live returns err
// from then on and FailStopped is closed. The process is expected to exit
// without closing the WAL, whose writer may be stuck.
func (s *Server) failStop(err error) {
	s.failOnce.Do(func() {
		s.failErr.Store(&err)
		s.log.Error("fail-stop: the write-ahead log stopped answering; this node stops so that the others elect a leader",
			"error", err)
		s.node.Halt(err)
		close(s.failc)
	})
}

// FailStopped is closed when the node has fail-stopped (see ErrFailStop);
// Live then returns the reason.
func (s *Server) FailStopped() <-chan struct{} { return s.failc }

// closeWALAfterFailStop closes the WAL of a fail-stopped node, waiting at
// most WALStallTimeout: its writer may be stuck for ever, and then the WAL
// is abandoned to the process's exit.
func (s *Server) closeWALAfterFailStop() error {
	done := make(chan error, 1)
	go func() { done <- s.wal.Close() }()
	t := time.NewTimer(s.cfg.WALStallTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%w: the write-ahead log did not close within %v; abandoned", ErrFailStop, s.cfg.WALStallTimeout)
	}
}
