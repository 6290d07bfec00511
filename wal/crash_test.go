package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
)

// The crash test kills a writer process with SIGKILL at random moments and
// checks what survives. The CI run does 50 kills; a long run:
//
//	go test ./wal -run TestCrashRecovery -wal.crashes 2000 -timeout 2h
//
// A failure prints the seed; replay it with -wal.seed.
var (
	crashCount = flag.Int("wal.crashes", 50, "number of SIGKILLs in TestCrashRecoveryKeepsEveryAcknowledgedEntry")
	crashSeed  = flag.Uint64("wal.seed", 0, "seed for TestCrashRecoveryKeepsEveryAcknowledgedEntry (0: from the clock)")
)

const (
	crashDirEnv   = "LOCKD_WAL_CRASH_DIR"
	crashSnapStep = 50 // the writer snapshots and compacts every this many entries
)

func crashOptions(dir string) Options {
	o := DefaultOptions(dir)
	o.KeepTail = 20
	o.MemTableSize = 1 << 20
	o.ValueLogFileSize = 1 << 20
	return o
}

// crashTerm, crashEntry, crashDraft and crashSnapData are what the writer
// writes at each index: deterministic, so the checker knows every byte.
func crashTerm(i uint64) uint64 { return 1 + i/300 }

// crashBatch is how many entries the writer saves after last: usually 1..5,
// but 200 (about 200 KiB, more than one Badger transaction of the 1 MiB
// memtable) every 400 entries, so the stepped save is killed too.
func crashBatch(last uint64) uint64 {
	if last%400 < 5 {
		return 200
	}
	return 1 + last%5
}

// crashDrafted says whether the batch after last is first saved as drafts
// (above the commit index) and then overwritten by the final entries, so
// kills land in suffix truncation too.
func crashDrafted(last uint64) bool { return last%400 < 5 || (last/7)%4 == 0 }

// crashDraft is the draft of entry i: same term, other data.
func crashDraft(i uint64) consensus.Entry {
	return consensus.Entry{Index: i, Term: crashTerm(i), Data: []byte(fmt.Sprintf("draft of %d", i))}
}

func crashEntry(i uint64) consensus.Entry {
	data := make([]byte, 8+(i*13)%2000)
	x := i*0x9e3779b97f4a7c15 + 1
	for k := 0; k+8 <= len(data); k += 8 {
		binary.LittleEndian.PutUint64(data[k:], x)
		x = x*6364136223846793005 + 1442695040888963407
	}
	return consensus.Entry{Index: i, Term: crashTerm(i), Type: consensus.EntryType(i % 3), Data: data}
}

func crashSnapData(i uint64) []byte { return []byte(fmt.Sprintf("application state at %d", i)) }

// TestCrashWriterChild is the writer the crash test runs in a child
// process; run directly it skips. It reports "start", "ready", then "ack N"
// after each Save of entries up to N has returned and "snap N" after each
// snapshot at N, on file descriptor 3.
func TestCrashWriterChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the writer process of TestCrashRecoveryKeepsEveryAcknowledgedEntry")
	}
	out := os.NewFile(3, "acks")
	say := func(format string, a ...any) {
		if _, err := fmt.Fprintf(out, format+"\n", a...); err != nil {
			os.Exit(2) // the parent has gone
		}
	}
	say("start")
	w, err := Open(crashOptions(dir))
	if err != nil {
		say("error %v", err)
		t.Fatal(err)
	}
	say("ready")
	// Resume after the last final entry: drafts are never committed.
	hs, _, err := w.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	last := hs.Commit
	if li, _ := w.LastIndex(); li == 0 {
		boot := consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: 1, Term: 1, Conf: testConf()}}
		if err := w.Save(consensus.HardState{Term: 1, Commit: 1}, nil, &boot); err != nil {
			say("error %v", err)
			t.Fatal(err)
		}
		say("ack 1")
	}
	last = max(last, 1)
	for round := 0; round < 1_000_000; round++ {
		n := crashBatch(last)
		if crashDrafted(last) {
			drafts := make([]consensus.Entry, 0, n)
			for i := last + 1; i <= last+n; i++ {
				drafts = append(drafts, crashDraft(i))
			}
			if err := w.Save(consensus.HardState{Term: crashTerm(last + n), Commit: last}, drafts, nil); err != nil {
				say("error %v", err)
				t.Fatal(err)
			}
		}
		es := make([]consensus.Entry, 0, n)
		for i := last + 1; i <= last+n; i++ {
			es = append(es, crashEntry(i))
		}
		if err := w.Save(consensus.HardState{Term: crashTerm(last + n), Commit: last + n}, es, nil); err != nil {
			say("error %v", err)
			t.Fatal(err)
		}
		last += n
		say("ack %d", last)
		if last/crashSnapStep != (last-n)/crashSnapStep {
			if _, err := w.CreateSnapshot(last, testConf(), crashSnapData(last)); err != nil {
				say("error %v", err)
				t.Fatal(err)
			}
			if err := w.Compact(last + 1); err != nil {
				say("error %v", err)
				t.Fatal(err)
			}
			say("snap %d", last)
		}
	}
	t.Fatal("the writer was never killed")
}

func TestCrashRecoveryKeepsEveryAcknowledgedEntry(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("inside the writer process")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	dir := t.TempDir()
	fail := func(kill int, format string, a ...any) {
		t.Helper()
		t.Fatalf("kill %d (seed %d, replay with -wal.seed %d): %s", kill, seed, seed, fmt.Sprintf(format, a...))
	}
	var acked, snapped uint64
	for k := 1; k <= *crashCount; k++ {
		a, s, err := runAndKill(dir, rng)
		if err != nil {
			fail(k, "%v", err)
		}
		acked, snapped = max(acked, a), max(snapped, s)
		if err := checkCrashRecovery(dir, acked, snapped); err != nil {
			fail(k, "after %d acknowledged entries and a snapshot at %d: %v", acked, snapped, err)
		}
	}
	if acked < crashSnapStep || snapped == 0 {
		t.Fatalf("seed %d: only %d entries and snapshot %d over all kills: the test did not exercise snapshots", seed, acked, snapped)
	}
	t.Logf("seed %d: %d kills, %d entries acknowledged, last snapshot at %d", seed, *crashCount, acked, snapped)
}

// runAndKill starts the writer, kills it with SIGKILL at a moment chosen
// from rng (while it opens and recovers, or after some acknowledgements and
// a short delay), and returns the highest acknowledged index and snapshot.
func runAndKill(dir string, rng *rand.Rand) (acked, snapped uint64, err error) {
	r, wr, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		wr.Close()
		return 0, 0, err
	}
	wr.Close()

	// Kill during Open one time in five; otherwise after 1..40 acks.
	duringOpen := rng.IntN(5) == 0
	wantAcks := 1 + rng.IntN(40)
	delay := time.Duration(rng.IntN(3000)) * time.Microsecond
	lines := bufio.NewScanner(r)
	seen, killed := 0, false
	kill := func() {
		// The delay only moves the kill to a random point of the writer's
		// work; nothing waits on it for correctness.
		time.Sleep(delay)
		_ = cmd.Process.Kill()
		killed = true
	}
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		switch {
		case len(f) == 1 && f[0] == "start":
			if duringOpen {
				kill()
			}
		case len(f) == 2 && (f[0] == "ack" || f[0] == "snap"):
			n, perr := strconv.ParseUint(f[1], 10, 64)
			if perr != nil {
				return 0, 0, fmt.Errorf("bad line %q", lines.Text())
			}
			if f[0] == "snap" {
				snapped = max(snapped, n)
				break
			}
			acked = max(acked, n)
			if seen++; seen == wantAcks && !killed {
				kill()
			}
		case len(f) > 0 && f[0] == "error":
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return 0, 0, fmt.Errorf("writer: %s\n%s", lines.Text(), stderr.String())
		}
	}
	werr := cmd.Wait()
	if !killed {
		return 0, 0, fmt.Errorf("writer exited before the kill (%v):\n%s", werr, stderr.String())
	}
	return acked, snapped, nil
}

// checkCrashRecovery reopens the WAL and checks that it holds every
// acknowledged entry, that every entry it holds is exactly what the writer
// wrote at that index, and that the snapshot is at least the last one
// acknowledged.
func checkCrashRecovery(dir string, acked, snapped uint64) error {
	w, err := Open(crashOptions(dir))
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	defer w.Close()
	first, _ := w.FirstIndex()
	last, _ := w.LastIndex()
	hs, conf, err := w.InitialState()
	if err != nil {
		return err
	}
	if last < acked || hs.Commit < acked {
		return fmt.Errorf("log ends at %d with commit %d; %d was acknowledged", last, hs.Commit, acked)
	}
	// A final save sets the term of its last entry; a draft save, the term
	// of the batch end it drafts.
	if c := hs.Commit; c > 1 && hs.Term != crashTerm(c) && hs.Term != crashTerm(c+crashBatch(c)) {
		return fmt.Errorf("hard state %+v: term should be %d or %d", hs, crashTerm(c), crashTerm(c+crashBatch(c)))
	}
	snap, err := w.Snapshot()
	if err != nil {
		return err
	}
	if snap.Meta.Index < snapped || (snap.Meta.Index > 1 && string(snap.Data) != string(crashSnapData(snap.Meta.Index))) {
		return fmt.Errorf("snapshot at %d with %q; a snapshot at %d was acknowledged", snap.Meta.Index, snap.Data, snapped)
	}
	if snap.Meta.Index == 0 { // killed before the bootstrap was saved
		if acked > 0 || first != 1 || last != 0 || !hs.IsEmpty() {
			return fmt.Errorf("no snapshot, but log [%d, %d], hard state %+v, %d acknowledged", first, last, hs, acked)
		}
		return nil
	}
	if len(conf.Voters) != 3 || len(snap.Meta.Conf.Voters) != 3 || snap.Meta.Term != crashTerm(snap.Meta.Index) {
		return fmt.Errorf("snapshot meta %+v, membership %+v", snap.Meta, conf)
	}
	if first > snap.Meta.Index+1 {
		return fmt.Errorf("log starts at %d, after the snapshot at %d", first, snap.Meta.Index)
	}
	if first > 1 {
		if t, err := w.Term(first - 1); err != nil || t != crashTerm(first-1) {
			return fmt.Errorf("Term(%d) = %d, %v", first-1, t, err)
		}
	}
	if first > last {
		return nil
	}
	es, err := w.Entries(first, last+1, noLimit)
	if err != nil {
		return err
	}
	if uint64(len(es)) != last-first+1 {
		return fmt.Errorf("Entries(%d, %d) returned %d entries", first, last+1, len(es))
	}
	// Final entries, then possibly drafts of the batch being written: drafts
	// only above everything acknowledged and committed.
	drafts := false
	for _, e := range es {
		one := []consensus.Entry{e}
		switch {
		case !drafts && equalEntries(one, []consensus.Entry{crashEntry(e.Index)}):
		case equalEntries(one, []consensus.Entry{crashDraft(e.Index)}) && e.Index > acked && e.Index > hs.Commit:
			drafts = true
		default:
			return fmt.Errorf("entry %d is (term %d, type %d, %d bytes: %.20q), not what the writer wrote there (commit %d, drafts seen: %v)",
				e.Index, e.Term, e.Type, len(e.Data), e.Data, hs.Commit, drafts)
		}
	}
	return nil
}
