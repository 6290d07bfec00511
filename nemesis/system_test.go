package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/client"
)

// Lock names of the workload.
const (
	lockX0    = "nemesis/x0" // exclusive, try, protected
	lockX1    = "nemesis/x1" // exclusive, try, protected
	lockF0    = "nemesis/f0" // exclusive, try, protected; client-pause episodes take it
	lockSh    = "nemesis/sh" // shared and exclusive, try
	lockQ0    = "nemesis/q0" // exclusive, FIFO wait, protected
	electionE = "nemesis/e0" // election, protected
)

// scenario is one run: a cluster, a workload, a fault schedule, checks.
type scenario struct {
	seed     uint64
	duration time.Duration
	faults   []Fault
	fenced   bool
	ttl      time.Duration
}

// outcome of a run, for the test to judge and report.
type runResult struct {
	ops       []Op
	reports   []LockReport
	linErr    error
	fenceErrs map[string]error
	orderErr  error
	onceErr   error
	obsErr    error
	counts    map[Fault]int
	notes     []string
	stats     *Stats
	values    map[string]int64
	dir       string // artifacts, written when a check failed
	elapsed   time.Duration
}

func (r *runResult) failed() bool {
	if r.linErr != nil || r.orderErr != nil || r.onceErr != nil || r.obsErr != nil {
		return true
	}
	for _, e := range r.fenceErrs {
		if e != nil {
			return true
		}
	}
	return false
}

// startCluster starts a cluster in cfg.Dir and waits until it is ready. If
// a node could not bind one of its ports, it starts again on fresh ports
// in an emptied directory, up to three times: freeport finds ports that
// are free when asked, and a test running alongside can take one before
// lockd binds it.
func startCluster(t *testing.T, cfg ClusterConfig) *Cluster {
	t.Helper()
	for attempt := 1; ; attempt++ {
		cl, err := NewCluster(cfg) // binds the proxies' ports
		bind := errors.Is(err, syscall.EADDRINUSE)
		if err == nil {
			if err = cl.Start(); err == nil {
				err = cl.WaitReady(context.Background())
			}
			if err == nil {
				return cl
			}
			bind = logsMention(cfg.Dir, "address already in use")
			if cerr := cl.Close(); cerr != nil {
				t.Logf("cluster close: %v", cerr)
			}
		}
		if !bind || attempt == 3 {
			t.Fatalf("cluster never became ready: %v (data and logs in %s)", err, cfg.Dir)
		}
		t.Logf("attempt %d: a node could not bind its port (%v); starting again on fresh ports", attempt, err)
		ents, _ := os.ReadDir(cfg.Dir)
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(cfg.Dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// logsMention reports whether a node log in dir contains text.
func logsMention(dir, text string) bool {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil && strings.Contains(string(b), text) {
			return true
		}
	}
	return false
}

func runScenario(t *testing.T, sc scenario) *runResult {
	t.Helper()
	start := time.Now()
	bin := needBinary(t)
	logger := hclog.NewNullLogger()
	if *flagVerbose {
		logger = hclog.New(&hclog.LoggerOptions{Name: "nemesis", Level: hclog.Info, Output: os.Stderr})
	}
	dataDir, err := os.MkdirTemp("", "lockd-nemesis-run-")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultClusterConfig(bin, dataDir)
	cfg.Logger = logger
	if *flagSnapshot > 0 {
		cfg.Args = append(cfg.Args, "--snapshot-entries", fmt.Sprint(*flagSnapshot))
	}
	cl := startCluster(t, cfg)
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("cluster close: %v", err)
		}
		if !t.Failed() && !*flagVerbose {
			os.RemoveAll(dataDir)
		} else {
			t.Logf("node data and logs kept in %s", dataDir)
		}
	})
	newClient := func() *client.Client {
		cc := cl.ClientConfig()
		cc.AttemptTimeout, cc.SessionTTL = time.Second, sc.ttl
		c, err := client.New(cc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin, work := newClient(), newClient()
	h := NewHistory()
	rec := NewRecorder(h, []string{lockX0, lockX1, lockF0, lockQ0, electionE}, sc.ttl)

	rng := rand.New(rand.NewPCG(sc.seed, 0x6e656d))
	sub := func() *rand.Rand { return rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) }
	wctx, stopWork := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(wctx) }()
	}
	for i := 0; i < 4; i++ {
		w := &LockWorker{R: rec, C: work, Names: []string{lockX0, lockX1, lockF0, lockSh}, Shared: 0.6, Rand: sub(), MaxHold: 20 * time.Millisecond}
		spawn(w.Run)
	}
	for i := 0; i < 2; i++ {
		w := &LockWorker{R: rec, C: work, Names: []string{lockQ0}, Wait: true, Rand: sub(), MaxHold: 10 * time.Millisecond}
		spawn(w.Run)
	}
	for i := 0; i < 2; i++ {
		cp := &Campaigner{R: rec, C: work, Name: electionE, Rand: sub(), MaxLead: 50 * time.Millisecond}
		spawn(cp.Run)
	}
	obs := &Observer{R: rec, C: work, Name: electionE}
	spawn(obs.Run)
	rd := &Reader{R: rec, C: newClient(), Names: []string{lockX0, lockX1, lockF0, lockSh, lockQ0, electionE}, Every: 20 * time.Millisecond}
	spawn(rd.Run)

	nem := &Nemesis{C: cl, Admin: admin, R: rec, Rand: sub(), Faults: sc.faults, TTL: sc.ttl,
		PausedFenced: sc.fenced, ClientPauseLock: lockF0, Log: logger}
	fctx, stopFaults := context.WithTimeout(context.Background(), sc.duration)
	nemErr := nem.Run(fctx)
	stopFaults()
	if nemErr != nil {
		stopWork()
		wg.Wait()
		t.Fatalf("seed %d: fault injection failed: %v", sc.seed, nemErr)
	}
	// Let the workload run on the healed cluster for a moment, then stop it.
	time.Sleep(500 * time.Millisecond)
	stopWork()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("seed %d: workload did not stop within 60s", sc.seed)
	}
	// Final reads on the healed cluster: every acknowledged release and
	// close must show.
	for _, n := range rd.Names {
		rec.Read(context.Background(), admin, rec.NewClientID(), n)
	}

	res := &runResult{ops: h.Ops(), counts: nem.Counts(), notes: nem.Notes(), stats: rec.Stats,
		fenceErrs: map[string]error{}, values: map[string]int64{}}
	// Long runs get a longer budget per lock; a check that runs out is
	// reported as inconclusive (ErrCheckTimeout), never as a pass.
	checkTimeout := max(time.Minute, sc.duration)
	res.reports, res.linErr = CheckLinearizable(res.ops, checkTimeout, "")
	res.orderErr = CheckTokenOrder(res.ops)
	res.onceErr = CheckAtMostOnce(res.ops)
	res.obsErr = CheckObserved(electionE, obs.Seen())
	logs := map[string][]Access{}
	for name, r := range rec.Resources {
		logs[name] = r.Log()
		res.fenceErrs[name] = CheckResource(name, logs[name])
		res.values[name] = r.Value()
	}
	res.elapsed = time.Since(start)
	if res.failed() {
		res.dir = writeArtifacts(t, sc, res, logs)
	}
	return res
}

// writeArtifacts writes the history, the resource logs, the fault notes and
// porcupine's visualisation of every failing lock to a fresh directory
// under -nemesis.out, and returns it.
func writeArtifacts(t *testing.T, sc scenario, res *runResult, logs map[string][]Access) string {
	t.Helper()
	dir := filepath.Join(*flagOut, fmt.Sprintf("%s-seed%d-%s", safeName(t.Name()), sc.seed, time.Now().UTC().Format("20060102T150405")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("artifacts: %v", err)
		return ""
	}
	_ = WriteJSON(filepath.Join(dir, "history.json"), res.ops)
	_ = WriteJSON(filepath.Join(dir, "resources.json"), logs)
	_ = os.WriteFile(filepath.Join(dir, "faults.txt"), []byte(strings.Join(res.notes, "\n")+"\n"), 0o644)
	if _, err := CheckLinearizable(res.ops, time.Minute, dir); err != nil {
		t.Logf("visualisation of failing locks written to %s/*.html", dir)
	}
	return dir
}

func (r *runResult) summary() string {
	var fs []string
	for f, n := range r.counts {
		fs = append(fs, fmt.Sprintf("%s=%d", f, n))
	}
	sort.Strings(fs)
	return fmt.Sprintf("faults[%s] ops=%d %s values=%v in %v", strings.Join(fs, " "), len(r.ops), r.stats, r.values, r.elapsed.Round(time.Millisecond))
}

// TestNemesisProcesses runs lockd processes under every kind of fault while
// clients take, hold and release locks and run an election, then checks
// each lock's history for linearizability, the protected resources for
// fencing and lost updates, grants for token order, and answers for
// at-most-once application. A failure names its seed and the directory
// holding the history and porcupine's visualisation.
func TestNemesisProcesses(t *testing.T) {
	faults, err := ParseFaults(*flagFaults)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < *flagRuns; i++ {
		seed := *flagSeed + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			res := runScenario(t, scenario{seed: seed, duration: *flagDuration, faults: faults, fenced: true, ttl: 2 * time.Second})
			t.Logf("seed %d: %s", seed, res.summary())
			for _, n := range res.notes {
				t.Logf("  %s", n)
			}
			if res.failed() {
				t.Errorf("seed %d FAILED (replay: go test ./nemesis -run 'TestNemesisProcesses' -nemesis.seed %d); history and visualisation in %s\nlinearizability: %v\ntoken order: %v\nat-most-once: %v\nobserve: %v\nfencing: %v",
					seed, seed, res.dir, res.linErr, res.orderErr, res.onceErr, res.obsErr, res.fenceErrs)
			}
			if res.stats.Grants.Load() == 0 || res.stats.Increments.Load() == 0 {
				t.Errorf("seed %d: the workload made no progress: %s", seed, res.stats)
			}
		})
	}
}

// TestNegativeControlUnfencedPausedClientIsCaught is the checker's negative
// control: a client that holds the protected lock, is frozen past its
// session TTL (the cluster expires it and grants the lock to another
// client) and then writes to the resource ignoring fencing must make the
// fencing checker report a violation. Without this the other runs'
// passing checks would prove nothing.
func TestNegativeControlUnfencedPausedClientIsCaught(t *testing.T) {
	seed := *flagSeed
	res := runScenario(t, scenario{seed: seed, duration: 4 * time.Second, faults: []Fault{FaultClientPause}, fenced: false, ttl: 2 * time.Second})
	t.Logf("seed %d: %s", seed, res.summary())
	for _, n := range res.notes {
		t.Logf("  %s", n)
	}
	if res.counts[FaultClientPause] == 0 {
		t.Fatalf("seed %d: no client-pause episode ran", seed)
	}
	err := res.fenceErrs[lockF0]
	if !errors.Is(err, ErrFencingViolation) {
		t.Fatalf("seed %d: an unfenced write after a lost lock went unreported (fencing check: %v)", seed, err)
	}
	t.Logf("negative control caught, as it must be: %v", err)
	// Only the resource was misused: lockd's own histories still check out.
	if res.linErr != nil || res.orderErr != nil || res.onceErr != nil {
		t.Errorf("seed %d: lockd's own checks failed (artifacts in %s): %v %v %v", seed, res.dir, res.linErr, res.orderErr, res.onceErr)
	}
}
