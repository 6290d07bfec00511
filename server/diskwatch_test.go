package server

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/wal"
)

// The watch times a write from the look that first sees it in flight:
// quiet below half the bound, a stall (not yet a fail-stop) from half,
// a fail-stop at the bound, which it reports once.
func TestWALWatchReportsAStallThenFailStopsAtTheBound(t *testing.T) {
	w := newWALWatch(10 * time.Second)
	inFlight := wal.Health{Started: 7, Finished: 6}
	steps := []struct {
		at       time.Duration
		h        wal.Health
		stalled  bool // status reports ErrWALStalled
		failStop bool // this look returns the fail-stop
	}{
		{0, wal.Health{Started: 6, Finished: 6}, false, false},
		{1 * time.Second, inFlight, false, false}, // first seen: timing starts here
		{5 * time.Second, inFlight, false, false}, // 4 s
		{6 * time.Second, inFlight, true, false},  // 5 s: half the bound
		{10 * time.Second, inFlight, true, false}, // 9 s
		{11 * time.Second, inFlight, true, true},  // 10 s: the bound
		{12 * time.Second, inFlight, true, false}, // reported once
	}
	for i, st := range steps {
		err := w.look(st.h, st.at)
		if (err != nil) != st.failStop {
			t.Fatalf("step %d: look = %v, want a fail-stop: %v", i, err, st.failStop)
		}
		if err != nil && (!errors.Is(err, ErrFailStop) || !errors.Is(err, ErrWALStalled)) {
			t.Fatalf("step %d: fail-stop %v, want ErrFailStop wrapping ErrWALStalled", i, err)
		}
		_, serr := w.status()
		if got := errors.Is(serr, ErrWALStalled); got != st.stalled {
			t.Fatalf("step %d: status = %v, want stalled: %v", i, serr, st.stalled)
		}
	}
}

// Writes that each finish, however many and however long the watch runs,
// never add up to a stall (negative control): timing restarts with every
// new write seen in flight, and nothing in flight is nothing pending.
func TestWALWatchDoesNotAddUpWritesThatFinish(t *testing.T) {
	w := newWALWatch(10 * time.Second)
	for i := uint64(1); i <= 100; i++ {
		at := time.Duration(i) * 4 * time.Second
		if err := w.look(wal.Health{Started: i, Finished: i - 1}, at); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if i%2 == 0 {
			if err := w.look(wal.Health{Started: i, Finished: i}, at+time.Second); err != nil {
				t.Fatalf("after write %d: %v", i, err)
			}
		}
		if d, err := w.status(); err != nil || d >= 5*time.Second {
			t.Fatalf("write %d: status = %v, %v", i, d, err)
		}
	}
}

// A failure the WAL reports (a failed sync, a memtable flush Badger only
// logged) fail-stops at the first look, with nothing in flight.
func TestWALWatchFailStopsOnAWALFailure(t *testing.T) {
	w := newWALWatch(10 * time.Second)
	cause := errors.Join(wal.ErrBackground, syscall.ENOSPC)
	err := w.look(wal.Health{Started: 3, Finished: 3, Err: cause}, 0)
	if !errors.Is(err, ErrFailStop) || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrWALStalled) {
		t.Fatalf("look = %v, want ErrFailStop wrapping the WAL's failure", err)
	}
	if _, serr := w.status(); !errors.Is(serr, ErrFailStop) {
		t.Fatalf("status after = %v", serr)
	}
}
