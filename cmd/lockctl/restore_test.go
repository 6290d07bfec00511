package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/freeport"
	"github.com/lockd/lockd/internal/syncbuf"
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/server"
	"github.com/lockd/lockd/server/fsm"
)

// lockdBuild is the lockd binary, built once for the tests that run
// lockd processes.
var lockdBuild struct {
	once sync.Once
	bin  string
	err  error
}

// lockdBinary builds cmd/lockd into the test binaries' directory,
// skipping in -short mode.
func lockdBinary(t *testing.T) string {
	t.Helper()
	lockctlBinary(t)
	lockdBuild.once.Do(func() {
		bin := filepath.Join(shared.bins.dir, "lockd")
		out, err := exec.Command("go", "build", "-o", bin, "../lockd").CombinedOutput()
		if err != nil {
			lockdBuild.err = fmt.Errorf("go build lockd: %v: %s", err, out)
			return
		}
		lockdBuild.bin = bin
	})
	if lockdBuild.err != nil {
		t.Fatal(lockdBuild.err)
	}
	return lockdBuild.bin
}

// procCluster is three lockd processes on fixed loopback addresses.
type procCluster struct {
	t                     *testing.T
	bin, root             string
	ids                   []string
	peer, client, httpAdr []string
	procs                 []*exec.Cmd
	logs                  []*syncbuf.Buffer
	// extra gives node i's flags beyond the usual ones (nil: none).
	extra func(i int) []string
}

func newProcCluster(t *testing.T) *procCluster {
	c := &procCluster{t: t, bin: lockdBinary(t), root: t.TempDir(), ids: []string{"n1", "n2", "n3"}}
	for range c.ids {
		for _, list := range []*[]string{&c.peer, &c.client, &c.httpAdr} {
			a, err := freeport.Addr()
			if err != nil {
				t.Fatal(err)
			}
			*list = append(*list, a)
		}
	}
	return c
}

func (c *procCluster) initial() string {
	var parts []string
	for i, id := range c.ids {
		parts = append(parts, id+"="+c.peer[i])
	}
	return strings.Join(parts, ",")
}

func (c *procCluster) endpoints() string { return strings.Join(c.client, ",") }

func (c *procCluster) dataDir(id string) string { return filepath.Join(c.root, id) }

// start starts every node with --initial-cluster and waits until one
// leads.
func (c *procCluster) start() {
	c.t.Helper()
	c.procs, c.logs = nil, nil
	for i, id := range c.ids {
		cmd := exec.Command(c.bin, "--id", id, "--data-dir", c.dataDir(id), "--peer-addr", c.peer[i],
			"--client-addr", c.client[i], "--http-addr", c.httpAdr[i], "--initial-cluster", c.initial(),
			"--log-level", "info")
		if c.extra != nil {
			cmd.Args = append(cmd.Args, c.extra(i)...)
		}
		log := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = log, log
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			c.t.Fatal(err)
		}
		c.procs, c.logs = append(c.procs, cmd), append(c.logs, log)
	}
	procs := c.procs
	c.t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	})
	waitFor(c.t, 60*time.Second, "a leader of the lockd processes", func() bool {
		resp, err := http.Get("http://" + c.httpAdr[0] + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Leader string `json:"leader"`
		}
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Leader != ""
	})
}

// stop stops every node with SIGTERM and waits for them.
func (c *procCluster) stop() {
	c.t.Helper()
	for _, p := range c.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for i, p := range c.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			c.t.Fatalf("%s did not stop on SIGTERM:\n%s", c.ids[i], c.logs[i])
		}
	}
}

// run runs lockctl against the cluster (bounded) and returns its exit
// code and output.
func (c *procCluster) run(args ...string) (int, string, string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lockctlBinary(c.t), args...)
	cmd.Env = append(os.Environ(), "LOCKD_ENDPOINTS="+c.endpoints())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// clusterLocks lists every lock of the cluster, linearizably.
func clusterLocks(t *testing.T, eps string) []client.LockInfo {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: strings.Split(eps, ",")})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ls, err := cl.ListLocks(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// lockState is a lock as both the state machine and the SDK describe it,
// for comparing the two: holders as session/token/value/acquired-at,
// waiters as session/queued-at, in order.
type lockState struct {
	Revision   uint64
	DelayUntil int64
	Holders    []string
	Waiters    []string
}

func lockStateOf(l locks.Info) lockState {
	st := lockState{Revision: l.Revision, DelayUntil: l.DelayUntil}
	for _, h := range l.Holders {
		st.Holders = append(st.Holders, fmt.Sprintf("%d/%d/%q/%d", h.Session, h.Token, h.Value, h.AcquiredAt))
	}
	for _, w := range l.Waiters {
		st.Waiters = append(st.Waiters, fmt.Sprintf("%d/%d", w.Session, w.QueuedAt))
	}
	return st
}

func clientLockState(l client.LockInfo) lockState {
	st := lockState{Revision: l.Revision}
	if !l.DelayUntil.IsZero() {
		st.DelayUntil = l.DelayUntil.UnixNano()
	}
	for _, h := range l.Holders {
		st.Holders = append(st.Holders, fmt.Sprintf("%d/%d/%q/%d", h.Session, h.Token, h.Value, h.AcquiredAt.UnixNano()))
	}
	for _, w := range l.Waiters {
		st.Waiters = append(st.Waiters, fmt.Sprintf("%d/%d", w.Session, w.QueuedAt.UnixNano()))
	}
	return st
}

// backupLocks is the lock table inside a backup file.
func backupLocks(t *testing.T, file string) map[string]lockState {
	t.Helper()
	_, data, err := server.ReadBackupFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := fsm.New(fsm.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Restore(data); err != nil {
		t.Fatal(err)
	}
	out := map[string]lockState{}
	for _, l := range m.Locks() {
		out[l.Name] = lockStateOf(l)
	}
	return out
}

// TestSaveUnderLoadWipeRestoreServesTheSameState is the backup round trip
// an operator runs, on real lockd and lockctl processes: a lock held by a
// lockctl process (with a value) and a lockctl process queued for it,
// writes of other clients going on while `snapshot save` runs; then the
// nodes are stopped, their data directories wiped, `snapshot restore`
// rebuilds n1 and n2 at the same addresses and n4 on a new one, and the
// restarted cluster holds exactly the backup's locks, holders, tokens,
// values and queues under a new cluster ID. The old n3, started from the
// data it had before the restore, is refused by the new cluster (logged
// and counted) and changes nothing. The holding lockctl, which kept
// running, keeps its lock across the restore; when it ends, the queued
// one gets the lock.
func TestSaveUnderLoadWipeRestoreServesTheSameState(t *testing.T) {
	c := newProcCluster(t)
	c.start()
	holder := exec.Command(lockctlBinary(t), "-e", c.endpoints(), "lock", "--ttl", "5m", "--value", "held-value",
		"restore/held", "--", "sleep", "600")
	holderOut := &syncbuf.Buffer{}
	holder.Stdout, holder.Stderr = holderOut, holderOut
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its sleep goes with it
	holder.WaitDelay = 5 * time.Second
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); _ = holder.Wait() })
	waitFor(t, 30*time.Second, "the holder to take restore/held", func() bool {
		for _, l := range clusterLocks(t, c.endpoints()) {
			if l.Name == "restore/held" && len(l.Holders) == 1 {
				return true
			}
		}
		return false
	})
	waiter := exec.Command(lockctlBinary(t), "-e", c.endpoints(), "lock", "--ttl", "5m", "restore/held", "--", "true")
	waiterOut := &syncbuf.Buffer{}
	waiter.Stdout, waiter.Stderr = waiterOut, waiterOut
	waiter.WaitDelay = 5 * time.Second
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	waiterDone := make(chan error, 1)
	go func() { waiterDone <- waiter.Wait() }()
	t.Cleanup(func() { _ = waiter.Process.Kill(); <-waiterDone })
	waitFor(t, 30*time.Second, "the waiter queued for restore/held", func() bool {
		for _, l := range clusterLocks(t, c.endpoints()) {
			if l.Name == "restore/held" && len(l.Waiters) == 1 {
				return true
			}
		}
		return false
	})

	// Load: a client takes and releases locks of its own while the backup
	// is taken.
	var ops atomic.Int64
	stopLoad := make(chan struct{})
	loadDone := make(chan error, 1)
	go func() { loadDone <- runLoad(c.endpoints(), stopLoad, &ops) }()
	waitFor(t, 30*time.Second, "the load to make progress", func() bool { return ops.Load() > 20 })
	file := filepath.Join(t.TempDir(), "backup.lockd")
	code, out, stderr := c.run("-o", "json", "snapshot", "save", file)
	before := ops.Load()
	waitFor(t, 30*time.Second, "the load to go on after the save", func() bool { return ops.Load() > before+5 })
	close(stopLoad)
	if err := <-loadDone; err != nil {
		t.Fatalf("load: %v", err)
	}
	if code != 0 {
		t.Fatalf("snapshot save: exit %d: %s", code, stderr)
	}
	var saved snapshotDoc
	if err := json.Unmarshal([]byte(out), &saved); err != nil {
		t.Fatal(err)
	}

	code, out, stderr = c.run("-o", "json", "snapshot", "inspect", file)
	var insp inspectDoc
	if err := json.Unmarshal([]byte(out), &insp); code != 0 || err != nil {
		t.Fatalf("snapshot inspect: exit %d, %v: %s", code, err, stderr)
	}
	want := backupLocks(t, file)
	if insp.Index != saved.Index || insp.ClusterID != saved.ClusterID || insp.Waiters != 1 || insp.Locks != len(want) ||
		insp.Sessions < 3 || insp.Holders < 1 || insp.FormatVersion != server.BackupFormatVersion {
		t.Fatalf("inspect %+v of the saved %+v (%d locks in it)", insp, saved, len(want))
	}
	held := want["restore/held"]
	if len(held.Holders) != 1 || !strings.Contains(held.Holders[0], `"held-value"`) || len(held.Waiters) != 1 {
		t.Fatalf("restore/held in the backup: %+v", held)
	}
	var heldSession uint64
	if _, err := fmt.Sscanf(held.Holders[0], "%d/", &heldSession); err != nil {
		t.Fatal(err)
	}

	// Wipe, restore, start: n1 and n2 at the same addresses, n4 on a new
	// host in place of n3, whose old data directory is kept aside.
	c.stop()
	oldN3 := filepath.Join(t.TempDir(), "n3")
	if out, err := exec.Command("cp", "-r", c.dataDir("n3"), oldN3).CombinedOutput(); err != nil {
		t.Fatalf("keep n3's data directory: %v: %s", err, out)
	}
	for _, id := range c.ids {
		if err := os.RemoveAll(c.dataDir(id)); err != nil {
			t.Fatal(err)
		}
	}
	oldPeer, oldClient, oldHTTP := c.peer[2], c.client[2], c.httpAdr[2]
	c.ids[2] = "n4"
	for _, a := range []*string{&c.peer[2], &c.client[2], &c.httpAdr[2]} {
		var err error
		if *a, err = freeport.Addr(); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr = c.run("-o", "json", "snapshot", "restore", "--initial-cluster", c.initial(),
		"--data-dir-template", filepath.Join(c.root, "{id}"), file)
	var restored restoreDoc
	if err := json.Unmarshal([]byte(out), &restored); code != 0 || err != nil {
		t.Fatalf("snapshot restore: exit %d, %v: %s", code, err, stderr)
	}
	if restored.ClusterID == "" || restored.ClusterID == saved.ClusterID || restored.FromClusterID != saved.ClusterID ||
		restored.Index != saved.Index || len(restored.Members) != 3 {
		t.Fatalf("restore %+v of the saved %+v", restored, saved)
	}
	c.start()

	got := map[string]lockState{}
	for _, l := range clusterLocks(t, c.endpoints()) {
		got[l.Name] = clientLockState(l)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored cluster's locks differ from the backup's:\n got %+v\nwant %+v", got, want)
	}
	code, out, _ = c.run("-o", "json", "status")
	var st statusDoc
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.ClusterID != restored.ClusterID {
		t.Fatalf("status after the restore: exit %d, %v: %+v; want cluster %s", code, err, st, restored.ClusterID)
	}

	// The old n3, started from its data directory of the cluster before
	// the restore, dials n1 and n2 at the addresses it knows: they refuse
	// it as a node of another cluster, log why and count it.
	old := exec.Command(c.bin, "--id", "n3", "--data-dir", oldN3, "--peer-addr", oldPeer, "--client-addr", oldClient,
		"--http-addr", oldHTTP)
	oldLog := &syncbuf.Buffer{}
	old.Stdout, old.Stderr = oldLog, oldLog
	old.WaitDelay = 5 * time.Second
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Process.Kill(); _ = old.Wait() })
	refusal := "belongs to cluster " + saved.ClusterID + ", we are " + restored.ClusterID
	waitFor(t, 60*time.Second, "n1 or n2 to refuse the old n3", func() bool {
		for i := range 2 {
			if strings.Contains(c.logs[i].String(), "refusing peer") && strings.Contains(c.logs[i].String(), refusal) &&
				refusalsCounted(c.httpAdr[i]) {
				return true
			}
		}
		return false
	})
	got = map[string]lockState{}
	for _, l := range clusterLocks(t, c.endpoints()) {
		got[l.Name] = clientLockState(l)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the restored cluster's locks changed when the old n3 came up:\n got %+v\nwant %+v", got, want)
	}

	// The holder's lockctl kept its session through the restore; when it
	// ends (SIGTERM: it releases), the queued lockctl gets the lock.
	waitFor(t, 30*time.Second, "the holder's session kept alive by the restored cluster", func() bool {
		for _, l := range clusterLocks(t, c.endpoints()) {
			if l.Name == "restore/held" && len(l.Holders) == 1 && l.Holders[0].Session == heldSession {
				return true
			}
		}
		return false
	})
	if err := holder.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiterDone:
		waiterDone <- err
		if err != nil {
			t.Fatalf("the waiter: %v\n%s", err, waiterOut)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the waiter never got restore/held after the holder ended:\nholder: %s\nwaiter: %s", holderOut, waiterOut)
	}
	c.stop()
}

// refusalsCounted reports whether the node at httpAddr counted a peer
// refused for belonging to another cluster.
func refusalsCounted(httpAddr string) bool {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		return false
	}
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, `lockd_peers_refused_total{reason="cluster"} `) && !strings.HasSuffix(line, " 0") {
			return true
		}
	}
	return false
}

// runLoad takes and releases locks load/0..load/7 in one session until
// stop closes, counting operations.
func runLoad(eps string, stop <-chan struct{}, ops *atomic.Int64) error {
	cl, err := client.New(client.Config{Endpoints: strings.Split(eps, ",")})
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := cl.NewSession(ctx, client.WithTTL(time.Minute))
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		name := fmt.Sprintf("load/cycle/%d", i%5)
		if i < 3 {
			name = fmt.Sprintf("load/kept/%d", i) // these stay held, with their values
		}
		lk, err := s.Acquire(ctx, name, client.WithValue([]byte(fmt.Sprint(i))))
		if err != nil {
			return err
		}
		ops.Add(1)
		if i >= 3 {
			if err := lk.Release(ctx); err != nil {
				return err
			}
		}
	}
}

// The offline commands refuse a cut file with its reason (exit 1) and bad
// restore arguments (exit 2), and write nothing; inspect shows the header
// of a good file as a table.
func TestSnapshotInspectAndRestoreRefuseBadInput(t *testing.T) {
	bin := lockctlBinary(t)
	c := cluster(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "good.lockd")
	if code, _, stderr := c.run(t, "snapshot", "save", file); code != 0 {
		t.Fatalf("save: exit %d: %s", code, stderr)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.lockd")
	if err := os.WriteFile(cut, good[:len(good)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}
	code, out, _ := run("snapshot", "inspect", file)
	for _, want := range []string{"FORMAT VERSION", "CLUSTER ID", "SESSIONS", "WAITERS"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("inspect of a good file: exit %d, table lacks %q:\n%s", code, want, out)
		}
	}
	if code, _, stderr := run("snapshot", "inspect", cut); code != exitError || !strings.Contains(stderr, "truncated") {
		t.Fatalf("inspect of a cut file: exit %d: %s", code, stderr)
	}
	target := filepath.Join(dir, "restored")
	if code, _, stderr := run("snapshot", "restore", "--initial-cluster", "n1=127.0.0.1:1", "--out", target, cut); code != exitError ||
		!strings.Contains(stderr, "truncated") {
		t.Fatalf("restore of a cut file: exit %d: %s", code, stderr)
	}
	full := filepath.Join(dir, "full", "n1")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--initial-cluster", "n1=127.0.0.1:1", "--out", filepath.Join(dir, "full")},
		{"--out", target},
		{"--initial-cluster", "n1=127.0.0.1:1"},
		{"--initial-cluster", "n1=127.0.0.1:1", "--out", target, "--data-dir", target},
		{"--initial-cluster", "n1=127.0.0.1:1", "--data-dir-template", target},
		{"--initial-cluster", "n1=127.0.0.1:1", "--id", "n2", "--data-dir", target},
		{"--initial-cluster", "n1", "--out", target},
	} {
		if code, _, stderr := run(append(append([]string{"snapshot", "restore"}, args...), file)...); code != exitUsage {
			t.Fatalf("restore %v: exit %d, want %d: %s", args, code, exitUsage, stderr)
		}
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("a refused restore wrote %s (stat: %v)", target, err)
	}
}
