package wal

import (
	"errors"
	"syscall"
	"testing"

	"github.com/lockd/lockd/consensus"
)

// A write blocked in its sync shows in Health as in flight, without Health
// waiting for it; once it returns, it shows as finished.
func TestHealthShowsAStalledWriteInFlight(t *testing.T) {
	opts := testOptions(t.TempDir())
	entered, release := make(chan struct{}), make(chan struct{})
	stall := false
	opts.BeforeSync = func() error {
		if stall {
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	w := mustOpen(t, opts)
	mustSave(t, w, consensus.HardState{Term: 1}, ents(1, 2, 1), nil)
	before := w.Health()
	if before.InFlight() || before.Err != nil || before.Started != before.Finished || before.Started == 0 {
		t.Fatalf("Health after a finished save = %+v, want nothing in flight and a count", before)
	}
	stall = true
	done := make(chan error, 1)
	go func() { done <- w.Save(consensus.HardState{}, ents(3, 3, 1), nil) }()
	<-entered
	h := w.Health()
	if !h.InFlight() || h.Started != before.Started+1 {
		t.Fatalf("Health during a stalled save = %+v, want it in flight as write %d", h, before.Started+1)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h := w.Health(); h.InFlight() || h.Finished != before.Finished+1 {
		t.Fatalf("Health after the stall ended = %+v", h)
	}
}

// A sync that fails (the hook returns EIO) fails the write and the WAL,
// and Health reports the failure.
func TestHealthReportsAFailedSync(t *testing.T) {
	opts := testOptions(t.TempDir())
	var fail error
	opts.BeforeSync = func() error { return fail }
	w := mustOpen(t, opts)
	mustSave(t, w, consensus.HardState{Term: 1}, ents(1, 2, 1), nil)
	fail = syscall.EIO
	err := w.Save(consensus.HardState{}, ents(3, 3, 1), nil)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("Save with a failing sync = %v, want ErrFailed wrapping EIO", err)
	}
	if h := w.Health(); !errors.Is(h.Err, ErrFailed) || !errors.Is(h.Err, syscall.EIO) || h.InFlight() {
		t.Fatalf("Health after the failure = %+v", h)
	}
}

// Badger retries a failed memtable flush for ever and only logs it; the
// line reaches Health at once, and the next write fails on it.
func TestHealthReportsAMemtableFlushBadgerOnlyLogged(t *testing.T) {
	w := mustOpen(t, testOptions(t.TempDir()))
	mustSave(t, w, consensus.HardState{Term: 1}, ents(1, 2, 1), nil)
	if h := w.Health(); h.Err != nil {
		t.Fatalf("Health before = %+v", h)
	}
	newBadgerLogger(nil, w.noteBackgroundError).Errorf("error flushing memtable to disk: %v, retrying",
		errors.New("write 000004.sst: no space left on device"))
	if h := w.Health(); !errors.Is(h.Err, ErrBackground) {
		t.Fatalf("Health after a logged flush failure = %+v, want ErrBackground", h)
	}
	if err := w.Save(consensus.HardState{}, ents(3, 3, 1), nil); !errors.Is(err, ErrFailed) || !errors.Is(err, ErrBackground) {
		t.Fatalf("Save after a logged flush failure = %v, want ErrFailed wrapping ErrBackground", err)
	}
}

// Which of Badger's log lines are failures: the operation (a sync, a
// memtable flush) in an error line, or a failing disk's errno in an error
// or warning line; not its ordinary chatter (negative controls).
func TestBadgerLogLinesThatMeanAFailedWrite(t *testing.T) {
	cases := []struct {
		warn bool
		line string
		want bool
	}{
		{false, "error flushing memtable to disk: open 000009.sst: no space left on device, retrying", true},
		{false, "Error while curlf sync: input/output error", true},
		{false, "writeRequests: write 000002.vlog: read-only file system", true},
		{true, "While running doCompact: sync 000012.sst: no space left on device", true},
		{true, "LOG Compact FAILED with error: write: disk quota exceeded", true},
		{false, "Invalid read: vp: {Fid:1 Len:3 Offset:9}", false},
		{true, "While running doCompact: sync failed", false},
		{true, "Block cache might be too small. Metrics: hit: 1", false},
	}
	for _, c := range cases {
		var got error
		l := newBadgerLogger(nil, func(err error) { got = err })
		if c.warn {
			l.Warningf("%s", c.line)
		} else {
			l.Errorf("%s", c.line)
		}
		if (got != nil) != c.want || (got != nil && !errors.Is(got, ErrBackground)) {
			t.Errorf("warn=%v %q: reported %v, want a failure: %v", c.warn, c.line, got, c.want)
		}
	}
}
