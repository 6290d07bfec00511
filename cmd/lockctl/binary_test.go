package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/server"
)

// envLine matches what the commands below print of their environment.
var envLine = regexp.MustCompile(`name=(\S+) token=(\d+) session=(\d+)`)

const printEnv = `echo "name=$LOCKD_LOCK_NAME token=$LOCKD_FENCING_TOKEN session=$LOCKD_SESSION_ID"`

// TestLockPassesCommandExitCodeAndEnvironment: `lock NAME -- CMD` runs
// CMD with the lock's name, token and session, exits with CMD's code and
// releases the lock.
func TestLockPassesCommandExitCodeAndEnvironment(t *testing.T) {
	c := cluster(t)
	code, out, stderr := c.run(t, "lock", "bin/exit7", "--", "sh", "-c", printEnv+"; exit 7")
	if code != 7 {
		t.Fatalf("exit %d, want 7; stderr %s", code, stderr)
	}
	m := envLine.FindStringSubmatch(out)
	if m == nil || m[1] != "bin/exit7" {
		t.Fatalf("command output %q lacks the environment", out)
	}
	if tok, _ := strconv.ParseUint(m[2], 10, 64); tok == 0 {
		t.Errorf("fencing token %q", m[2])
	}
	if sid, _ := strconv.ParseUint(m[3], 10, 64); sid == 0 {
		t.Errorf("session id %q", m[3])
	}
	// Released: a try now succeeds, and a command killed by a signal
	// reports 128+signal.
	code, _, stderr = c.run(t, "lock", "--try", "bin/exit7", "--", "sh", "-c", "kill -TERM $$")
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("signalled command: exit %d, want %d; stderr %s", code, 128+int(syscall.SIGTERM), stderr)
	}
	code, _, _ = c.run(t, "lock", "bin/exit7", "--", "/nonexistent/command")
	if code != exitNotFoundCmd {
		t.Errorf("missing command: exit %d, want %d", code, exitNotFoundCmd)
	}
}

// holdLock starts `lockctl lock NAME -- CMD` whose CMD prints its
// environment and then waits for its stdin to close; it returns the
// process, the write end of the stdin (close it to let CMD finish) and
// the CMD's session.
func holdLock(t *testing.T, c *testCluster, args ...string) (*proc, *os.File, uint64) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	full := append(append([]string{"lock"}, args...), "--", "sh", "-c", printEnv+"; cat >/dev/null")
	p := c.start(t, r, full...)
	_ = r.Close()
	var sid uint64
	waitFor(t, 30*time.Second, "the command to start holding "+args[len(args)-1], func() bool {
		m := envLine.FindStringSubmatch(p.stdout.String())
		if m != nil {
			sid, _ = strconv.ParseUint(m[3], 10, 64)
		}
		return m != nil
	})
	return p, w, sid
}

// TestLockTryOnHeldLockExitsThree: --try fails at once with the "lock
// held" code; --wait gives up with it too.
func TestLockTryOnHeldLockExitsThree(t *testing.T) {
	c := cluster(t)
	holder, release, _ := holdLock(t, c, "bin/try")
	code, _, stderr := c.run(t, "lock", "--try", "bin/try", "--", "true")
	if code != exitLockHeld {
		t.Fatalf("--try exit %d, want %d; stderr %s", code, exitLockHeld, stderr)
	}
	code, _, stderr = c.run(t, "lock", "--wait", "200ms", "bin/try", "--", "true")
	if code != exitLockHeld {
		t.Fatalf("--wait exit %d, want %d; stderr %s", code, exitLockHeld, stderr)
	}
	_ = release.Close()
	if code := holder.wait(30 * time.Second); code != 0 {
		t.Fatalf("holder exit %d; stderr %s", code, holder.stderr)
	}
}

// TestLockLostTerminatesCommandAndExitsFour: the session of a held lock
// expires while lockctl is stopped (SIGSTOP past the TTL); once it runs
// again it learns the loss, stops CMD (SIGTERM, then SIGKILL at once, the
// earliest new grant being past) and exits 4.
func TestLockLostTerminatesCommandAndExitsFour(t *testing.T) {
	c := cluster(t)
	script := `trap 'echo got-sigterm; kill $p; exit 0' TERM; ` + printEnv + `; sleep 30 & p=$!; wait $p; echo not-terminated`
	p := c.start(t, nil, "lock", "--ttl", "1s", "--grace", "5s", "bin/lost", "--", "sh", "-c", script)
	var sid uint64
	waitFor(t, 30*time.Second, "the command to start", func() bool {
		m := envLine.FindStringSubmatch(p.stdout.String())
		if m != nil {
			sid, _ = strconv.ParseUint(m[3], 10, 64)
		}
		return m != nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	sdk := c.sdk(t)
	waitFor(t, 30*time.Second, "the server to expire the stopped session", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := sdk.GetSession(ctx, sid)
		return errors.Is(err, client.ErrUnknownSession)
	})
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	if code := p.wait(30 * time.Second); code != exitLockLost {
		t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, exitLockLost, p.stdout, p.stderr)
	}
	// Woken long after the earliest moment the lock could be granted
	// again, lockctl sends SIGTERM and SIGKILL at once: the command may
	// not get to run its trap, but it must not run on.
	if out := p.stdout.String(); strings.Contains(out, "not-terminated") {
		t.Errorf("command ran on after the loss: %q", out)
	}
	if !strings.Contains(p.stderr.String(), "SIGTERM") {
		t.Errorf("stderr does not report the SIGTERM: %q", p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "lost") {
		t.Errorf("stderr does not report the loss: %q", p.stderr)
	}
}

// TestLockForwardsSignalToCommand: SIGTERM to lockctl reaches CMD, whose
// exit code lockctl passes on.
func TestLockForwardsSignalToCommand(t *testing.T) {
	c := cluster(t)
	// The trap is set before the line the test waits for is printed.
	script := `trap 'echo forwarded; kill $p; exit 42' TERM; ` + printEnv + `; sleep 30 & p=$!; wait $p`
	p := c.start(t, nil, "lock", "bin/forward", "--", "sh", "-c", script)
	waitFor(t, 30*time.Second, "the command to start", func() bool { return envLine.MatchString(p.stdout.String()) })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 42 {
		t.Fatalf("exit %d, want 42; stdout %s stderr %s", code, p.stdout, p.stderr)
	}
	if !strings.Contains(p.stdout.String(), "forwarded") {
		t.Errorf("stdout %q", p.stdout)
	}
}

// TestStatusJSONListsThreeNodes: `status -o json` parses, lists n1..n3
// and names one leader.
func TestStatusJSONListsThreeNodes(t *testing.T) {
	c := cluster(t)
	code, out, stderr := c.run(t, "-o", "json", "status")
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(doc.Nodes) != 3 || doc.Leader == "" {
		t.Fatalf("status %+v", doc)
	}
	leaders := 0
	for i, n := range doc.Nodes {
		if want := "n" + strconv.Itoa(i+1); n.ID != want || n.Error != "" || n.Lag == nil {
			t.Errorf("node %d = %+v", i, n)
		}
		if n.Role == "leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders", leaders)
	}
	code, out, _ = c.run(t, "-o", "json", "members", "list")
	var ms membersDoc
	if err := json.Unmarshal([]byte(out), &ms); code != 0 || err != nil || len(ms.Members) != 3 {
		t.Errorf("members list: exit %d, %v, %s", code, err, out)
	}
}

// TestLocksShowListsHolderAndWaitersInOrder: the holder with its token and
// value, then the waiters in the order they queued, who are then granted
// in that order.
func TestLocksShowListsHolderAndWaitersInOrder(t *testing.T) {
	c := cluster(t)
	const name = "bin/queue"
	holder, releaseHolder, holderSID := holdLock(t, c, "--value", "worker-a", name)
	show := func() lockDoc {
		code, out, stderr := c.run(t, "-o", "json", "locks", "show", name)
		if code != 0 {
			t.Fatalf("locks show: exit %d, stderr %s", code, stderr)
		}
		var d lockDoc
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := c.start(t, nil, "lock", name, "--", "sh", "-c", printEnv)
	waitFor(t, 30*time.Second, "the first waiter to queue", func() bool { return len(show().Waiters) == 1 })
	second := c.start(t, nil, "lock", "--shared", name, "--", "sh", "-c", printEnv)
	waitFor(t, 30*time.Second, "the second waiter to queue", func() bool { return len(show().Waiters) == 2 })

	d := show()
	if len(d.Holders) != 1 || d.Holders[0].SessionID != holderSID || d.Holders[0].Value != "worker-a" || d.Holders[0].Token == 0 {
		t.Fatalf("holder %+v", d.Holders)
	}
	if d.Waiters[0].Mode != "exclusive" || d.Waiters[1].Mode != "shared" || d.Waiters[0].Position != 1 || d.Waiters[1].Position != 2 {
		t.Fatalf("waiters %+v", d.Waiters)
	}
	code, table, _ := c.run(t, "locks", "show", name)
	if code != 0 || !regexp.MustCompile(`(?s)holder\s+\d+\s+exclusive\s+\d+\s+worker-a.*waiter 1\s+\d+\s+exclusive.*waiter 2\s+\d+\s+shared`).MatchString(table) {
		t.Errorf("table (exit %d):\n%s", code, table)
	}
	code, list, _ := c.run(t, "locks", "list", "bin/queue")
	if code != 0 || !strings.Contains(list, name) || !strings.Contains(list, "worker-a") {
		t.Errorf("locks list (exit %d):\n%s", code, list)
	}

	_ = releaseHolder.Close()
	for i, p := range []*proc{holder, first, second} {
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("process %d exit %d; stderr %s", i, code, p.stderr)
		}
	}
	// The first waiter was granted first: its token is the smaller.
	tok := func(p *proc) uint64 {
		m := envLine.FindStringSubmatch(p.stdout.String())
		if m == nil {
			t.Fatalf("no environment in %q", p.stdout)
		}
		n, _ := strconv.ParseUint(m[2], 10, 64)
		return n
	}
	if a, b := tok(first), tok(second); a >= b {
		t.Errorf("first waiter token %d, second %d: not granted in queue order", a, b)
	}
	if code, _, _ := c.run(t, "locks", "show", name); code != exitNotFound {
		t.Errorf("locks show of a free lock: exit %d, want %d", code, exitNotFound)
	}
	if code, _, _ := c.run(t, "sessions", "show", "999999999"); code != exitNotFound {
		t.Errorf("sessions show of an unknown session: exit %d, want %d", code, exitNotFound)
	}
}

// TestElectAndObserve: a campaign prints when elected and resigns on
// SIGTERM; the next candidate takes over; an observer sees both leaders
// in order.
func TestElectAndObserve(t *testing.T) {
	c := cluster(t)
	const name = "bin/election"
	obs := c.start(t, nil, "-o", "json", "elect", "--observe", name)
	alpha := c.start(t, nil, "-o", "json", "elect", name, "alpha")
	waitFor(t, 30*time.Second, "alpha to be elected", func() bool { return strings.Contains(alpha.stdout.String(), `"event":"elected"`) })
	beta := c.start(t, nil, "elect", name, "beta")
	waitFor(t, 30*time.Second, "beta to queue", func() bool {
		code, out, _ := c.run(t, "-o", "json", "locks", "show", name)
		var d lockDoc
		return code == 0 && json.Unmarshal([]byte(out), &d) == nil && len(d.Waiters) == 1
	})
	if strings.Contains(beta.stdout.String(), "elected") {
		t.Fatal("beta elected while alpha leads")
	}
	if err := alpha.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := alpha.wait(30 * time.Second); code != 0 {
		t.Fatalf("alpha exit %d; stderr %s", code, alpha.stderr)
	}
	if !strings.Contains(alpha.stdout.String(), `"event":"resigned"`) {
		t.Errorf("alpha output %q", alpha.stdout)
	}
	waitFor(t, 30*time.Second, "beta to be elected", func() bool { return strings.Contains(beta.stdout.String(), "elected: bin/election = beta") })
	waitFor(t, 30*time.Second, "the observer to see beta", func() bool { return strings.Contains(obs.stdout.String(), `"value":"beta"`) })
	if err := beta.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := beta.wait(30 * time.Second); code != 0 {
		t.Fatalf("beta exit %d; stderr %s", code, beta.stderr)
	}
	if err := obs.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := obs.wait(30 * time.Second); code != 0 {
		t.Fatalf("observer exit %d; stderr %s", code, obs.stderr)
	}
	var values []string
	for _, line := range strings.Split(strings.TrimSpace(obs.stdout.String()), "\n") {
		var d leaderDoc
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("observer line %q: %v", line, err)
		}
		if d.HasLeader && (len(values) == 0 || values[len(values)-1] != d.Value) {
			values = append(values, d.Value)
		}
	}
	if strings.Join(values, ",") != "alpha,beta" {
		t.Errorf("observed leaders %v, want alpha then beta", values)
	}
}

// TestElectLockDelayReachesTheServer: the campaign's lock carries the
// --lock-delay asked for: when the leader's session expires (its lockctl
// killed, so it never resigns), the lock stays ungrantable until the
// expiry plus that delay. A delay outside the server's range is refused
// with exit 2 before anyone is elected.
func TestElectLockDelayReachesTheServer(t *testing.T) {
	c := cluster(t)
	const name = "bin/election-delay"
	const delay = 40 * time.Second // neither 0 nor the 15s default
	leader := c.start(t, nil, "-o", "json", "elect", "--ttl", "1s", "--lock-delay", delay.String(), name, "alpha")
	var elected electDoc
	waitFor(t, 30*time.Second, "alpha to be elected", func() bool {
		if isClosed(leader.done) {
			t.Fatalf("elect exited %d before being elected: %s", leader.cmd.ProcessState.ExitCode(), leader.stderr)
		}
		line, _, _ := strings.Cut(leader.stdout.String(), "\n")
		return json.Unmarshal([]byte(line), &elected) == nil && elected.Event == "elected"
	})
	// The expiry is stamped by the leader when it commits it, which is
	// after the kill and before the session is seen gone.
	killedAt := time.Now()
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	sdk := c.sdk(t)
	waitFor(t, 30*time.Second, "the server to expire the leader's session", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := sdk.GetSession(ctx, elected.SessionID)
		return errors.Is(err, client.ErrUnknownSession)
	})
	goneAt := time.Now()
	code, out, stderr := c.run(t, "-o", "json", "locks", "show", name)
	var d lockDoc
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil {
		t.Fatalf("locks show: exit %d, %v: %q %s", code, err, out, stderr)
	}
	until, err := time.Parse(time.RFC3339Nano, d.DelayUntil)
	if err != nil || len(d.Holders) != 0 {
		t.Fatalf("after the leader expired: %+v (%v); want no holder and a lock-delay", d, err)
	}
	if expiredAt := until.Add(-delay); expiredAt.Before(killedAt) || expiredAt.After(goneAt) {
		t.Errorf("lock-delay until %v: %v after the kill, %v after the expiry was seen; want %v after a moment between them",
			until, until.Sub(killedAt), until.Sub(goneAt), delay)
	}

	for _, bad := range []time.Duration{61 * time.Second, -time.Second} {
		code, out, stderr := c.run(t, "elect", "--lock-delay", bad.String(), "bin/election-bad-delay", "beta")
		// The server's refusal, said once: not "lockd: invalid lock
		// delay: locks: invalid lock delay: ...".
		want := "lockctl: lockd: invalid lock delay: " + bad.String() + " not in [0, 1m0s]"
		if code != exitUsage || !strings.Contains(stderr, want) || strings.Count(stderr, "invalid lock delay") != 1 {
			t.Errorf("--lock-delay %v: exit %d, stderr %q; want exit %d and %q once", bad, code, stderr, exitUsage, want)
		}
		if strings.Contains(out, "elected") {
			t.Errorf("--lock-delay %v: elected anyway: %q", bad, out)
		}
	}
}

// TestSnapshotSaveWritesFile: the backup lands in FILE whole (no .tmp
// left) and its size is what lockctl reports.
func TestSnapshotSaveWritesFile(t *testing.T) {
	c := cluster(t)
	file := filepath.Join(t.TempDir(), "backup.snap")
	code, out, stderr := c.run(t, "-o", "json", "snapshot", "save", file)
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	var d snapshotDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	h, data, err := server.ReadBackupFile(file)
	if err != nil {
		t.Fatalf("the saved file does not read back: %v", err)
	}
	if d.Bytes == 0 || uint64(len(data)) != d.Bytes || uint64(fi.Size()) <= d.Bytes ||
		h.Index != d.Index || h.Term != d.Term || h.ClusterID != d.ClusterID || d.ClusterID == "" ||
		fmt.Sprintf("%x", h.SHA256) != d.SHA256 {
		t.Errorf("doc %+v, file %d bytes with header %+v", d, fi.Size(), h)
	}
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

// TestBenchPrintsPercentiles runs both modes briefly.
func TestBenchPrintsPercentiles(t *testing.T) {
	c := cluster(t)
	code, out, stderr := c.run(t, "bench", "--clients", "2", "--duration", "2s")
	if code != 0 || !strings.Contains(out, "P50") || !strings.Contains(out, "P99") || !strings.Contains(out, "uncontended: 2 clients") {
		t.Fatalf("bench: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("progress drawn on a non-terminal: %q", out)
	}
	code, out, stderr = c.run(t, "-o", "json", "bench", "--clients", "3", "--duration", "1s", "--mode", "contended")
	var d benchDoc
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil {
		t.Fatalf("contended: exit %d, %v\n%s\n%s", code, err, out, stderr)
	}
	if d.Ops == 0 || d.Mode != "contended" || d.Conns != 3 || d.LatencyMS.P50 <= 0 || d.LatencyMS.P99 < d.LatencyMS.P50 || d.LatencyMS.Max < d.LatencyMS.P99 {
		t.Errorf("contended doc %+v", d)
	}
	code, out, stderr = c.run(t, "-o", "json", "bench", "--clients", "4", "--conns", "2", "--duration", "1s")
	d = benchDoc{}
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || d.Ops == 0 || d.Clients != 4 || d.Conns != 2 {
		t.Fatalf("shared connections: exit %d, %v, doc %+v\n%s", code, err, d, stderr)
	}
}

// TestBenchClientsShareConnections: with --conns, the clients are spread
// round robin over that many SDK clients, each with a session of its own.
func TestBenchClientsShareConnections(t *testing.T) {
	c := cluster(t)
	l := &lockctl{env: env{stdout: io.Discard, stderr: io.Discard},
		g: globals{endpoints: strings.Split(c.endpoints(), ","), timeout: 10 * time.Second}}
	cfg := benchConfig{clients: 5, conns: 2, mode: benchUncontended, ttl: 10 * time.Second, prefix: "share-test/"}
	workers, conns, err := l.benchSetup(context.Background(), cfg)
	t.Cleanup(func() {
		for _, w := range workers {
			l.closeSession(w.s)
		}
		for _, cl := range conns {
			_ = cl.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 2 || len(workers) != 5 {
		t.Fatalf("%d clients for %d workers, want 2 for 5", len(conns), len(workers))
	}
	sessions := map[uint64]bool{}
	names := map[string]bool{}
	for i, w := range workers {
		if w.cl != conns[i%2] {
			t.Errorf("worker %d not on client %d", i, i%2)
		}
		sessions[w.s.ID()] = true
		names[w.name] = true
	}
	if len(sessions) != 5 || len(names) != 5 {
		t.Errorf("%d sessions and %d lock names for 5 workers", len(sessions), len(names))
	}
}

// TestBinaryCompletesCommands: urfave/cli's completion protocol lists the
// commands and a command's subcommands.
func TestBinaryCompletesCommands(t *testing.T) {
	bin := lockctlBinary(t)
	out, err := execOutput(bin, "--generate-bash-completion")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"status", "members", "lock", "elect", "bench", "completion"} {
		if !strings.Contains(out, cmd+"\n") {
			t.Errorf("completion lacks %q: %q", cmd, out)
		}
	}
	out, err = execOutput(bin, "members", "--generate-bash-completion")
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"list", "add", "promote", "remove"} {
		if !strings.Contains(out, sub+"\n") {
			t.Errorf("members completion lacks %q: %q", sub, out)
		}
	}
}

// sleeperLine is what the command below prints of its background child.
var sleeperLine = regexp.MustCompile(`sleeper=(\d+)`)

// TestLockSignalsReachTheCommandsChildren: without a terminal, CMD runs
// in a process group of its own and a forwarded signal reaches the
// programs it started too, not only the shell.
func TestLockSignalsReachTheCommandsChildren(t *testing.T) {
	c := cluster(t)
	p := c.start(t, nil, "lock", "bin/group", "--", "sh", "-c", "sleep 30 & echo sleeper=$!; wait")
	var pid int
	waitFor(t, 30*time.Second, "the command to start", func() bool {
		m := sleeperLine.FindStringSubmatch(p.stdout.String())
		if m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		return m != nil
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d, want %d; stderr %s", code, 128+int(syscall.SIGTERM), p.stderr)
	}
	waitFor(t, 30*time.Second, "the background sleep to be terminated", func() bool { return !running(pid) })
}

// running reports whether pid is a live (not zombie) process.
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// TestBashCompletionScriptCompletes sources `completion bash` in bash and
// completes a subcommand and a flag through it.
func TestBashCompletionScriptCompletes(t *testing.T) {
	bin := lockctlBinary(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := `source <(lockctl completion bash)
COMP_WORDS=(lockctl members pro); COMP_CWORD=2; _lockctl_complete; echo "${COMPREPLY[*]}"
COMP_WORDS=(lockctl lock --sh); COMP_CWORD=2; _lockctl_complete; echo "${COMPREPLY[*]}"`
	cmd := exec.Command(bash, "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if string(out) != "promote\n--shared\n" {
		t.Errorf("completions %q, want promote and --shared", out)
	}
}

// TestLockTTLOutsideTheServerRangeIsClamped: a positive --ttl is the
// server's to clamp (1s..5m by default), never refused; --ttl 0 is bad
// usage (TestBadUsageExitsTwo).
func TestLockTTLOutsideTheServerRangeIsClamped(t *testing.T) {
	c := cluster(t)
	for _, ttl := range []string{"1ms", "1h"} {
		code, out, stderr := c.run(t, "lock", "--ttl", ttl, "bin/clamp", "--", "sh", "-c", "echo ran")
		if code != 0 || out != "ran\n" {
			t.Errorf("--ttl %s: exit %d, stdout %q, stderr %s", ttl, code, out, stderr)
		}
	}
}

// TestWaiterWhoseSessionExpiresGaveUpNotLost: a `lock` that is still
// queued when its session expires (here: stopped with SIGSTOP past its
// TTL, as it would be without a quorum) never held the lock: it exits 7,
// "gave up waiting for lock NAME", not 4 ("lock lost"), and runs nothing.
func TestWaiterWhoseSessionExpiresGaveUpNotLost(t *testing.T) {
	c := cluster(t)
	const name = "bin/waiter-expires"
	holder, release, _ := holdLock(t, c, name)
	sdk := c.sdk(t)
	p := c.start(t, nil, "lock", "--ttl", "1s", name, "--", "echo", "ran")
	var sid uint64
	waitFor(t, 30*time.Second, "the second lock to queue", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		in, err := sdk.GetLock(ctx, name)
		if err != nil || len(in.Waiters) != 1 {
			return false
		}
		sid = in.Waiters[0].Session
		return true
	})
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			_ = p.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	waitFor(t, 30*time.Second, "the server to expire the stopped waiter's session", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := sdk.GetSession(ctx, sid)
		return errors.Is(err, client.ErrUnknownSession)
	})
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	if code := p.wait(30 * time.Second); code != exitGaveUp {
		t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, exitGaveUp, p.stdout, p.stderr)
	}
	if want := `gave up waiting for lock "` + name + `": lockd: session expired`; !strings.Contains(p.stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", p.stderr, want)
	}
	if strings.Contains(p.stderr.String(), "lost") || p.stdout.String() != "" {
		t.Errorf("stdout %q, stderr %q", p.stdout, p.stderr)
	}
	_ = release.Close()
	if code := holder.wait(30 * time.Second); code != 0 {
		t.Fatalf("holder exit %d; stderr %s", code, holder.stderr)
	}
}
