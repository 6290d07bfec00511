package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/freeport"
	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/internal/syncbuf"
	"github.com/lockd/lockd/rpc"
)

// The process tests build lockd with CGO_ENABLED=0 (as the scratch image
// does) and run it as child processes on free loopback ports.

const (
	startTimeout = 60 * time.Second // generous: the machine is shared
	stopTimeout  = 30 * time.Second
	pollEvery    = 50 * time.Millisecond
)

// buildLockd builds the binary once per test binary run.
var buildLockd = sync.OnceValues(func() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "lockd-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "lockd")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := buildLockd(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func lockdBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs lockd processes")
	}
	bin, err := buildLockd()
	if err != nil {
		t.Fatalf("build lockd: %v", err)
	}
	return bin
}

// proc is one running lockd process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	done chan struct{}
	err  error // set before done closes
}

// cleanEnv is the test's environment without LOCKD_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOCKD_") {
			env = append(env, kv)
		}
	}
	return env
}

// startProc starts bin; stdout, if not nil, receives the child's stdout
// (stderr always goes to the log). Cleanup kills a child still running
// and prints its log if the test failed.
func startProc(t *testing.T, name, bin string, args, env []string, stdout io.Writer) *proc {
	t.Helper()
	p := &proc{name: name, log: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stderr = p.log
	p.cmd.Stdout = p.log
	if stdout != nil {
		p.cmd.Stdout = io.MultiWriter(p.log, stdout)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, tail(p.log.String(), 60))
		}
	})
	return p
}

// waitExit waits for the process to end and returns its exit code.
func (p *proc) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.name, timeout)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("%s: wait: %v", p.name, p.err)
		return -1
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// freeAddrs returns n distinct free loopback addresses, below the
// ephemeral port range (see internal/freeport).
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		a, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// waitUntil polls cond until it holds or timeout passes; cond returns why
// it does not hold yet, for the failure message.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		time.Sleep(pollEvery)
	}
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// httpCode GETs a URL and returns the status and body.
func httpGet(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func readyz(httpAddr string) (bool, string) {
	code, body, err := httpGet("http://" + httpAddr + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
}

func httpStatus(httpAddr string) (api.NodeStatus, error) {
	var st api.NodeStatus
	code, body, err := httpGet("http://" + httpAddr + "/status")
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status %d: %s", code, body)
	}
	return st, json.Unmarshal([]byte(body), &st)
}

// ignorePushes accepts the events a server pushes on a client connection
// (a LeaderChanged announcement may arrive at any time), which a
// connection without a push handler would fail on.
func ignorePushes() rpc.DialOption {
	return rpc.WithPushHandler(func(rpc.MsgType, rpc.Body) {})
}

// rpcStatus asks a client address for the node's status over the client
// protocol, as lockctl and the SDK would.
func rpcStatus(ctx context.Context, clientAddr string) (api.NodeStatus, error) {
	return rpcStatusWith(ctx, clientAddr, rpc.DefaultConfig())
}

// rpcStatusWith is rpcStatus with the given rpc configuration (TLS).
func rpcStatusWith(ctx context.Context, clientAddr string, cfg rpc.Config) (api.NodeStatus, error) {
	var st api.NodeStatus
	conn, err := rpc.Dial(ctx, clientAddr, rpc.KindClient, cfg, ignorePushes())
	if err != nil {
		return st, err
	}
	defer conn.Close()
	err = conn.Call(ctx, rpc.MsgType(api.MsgStatus), api.StatusRequest{}, &st)
	return st, err
}

// threeNodeCluster is the addresses of one test cluster.
type threeNodeCluster struct {
	ids                   []string
	peer, client, httpAdr []string
	initial               string
}

func newThreeNodeCluster(t *testing.T) threeNodeCluster {
	a := freeAddrs(t, 9)
	c := threeNodeCluster{ids: []string{"n1", "n2", "n3"}, peer: a[0:3], client: a[3:6], httpAdr: a[6:9]}
	var parts []string
	for i, id := range c.ids {
		parts = append(parts, id+"="+c.peer[i])
	}
	c.initial = strings.Join(parts, ",")
	return c
}

// startCluster starts the three nodes of c with the documented flag form
// (with envN3, n3 is configured through LOCKD_* variables alone, logging
// debug JSON) and waits until every /readyz answers 200.
func startCluster(t *testing.T, bin string, c threeNodeCluster, envN3 bool) map[string]*proc {
	t.Helper()
	root := t.TempDir()
	procs := make(map[string]*proc)
	for i, id := range c.ids {
		dir := filepath.Join(root, id)
		if id == "n3" && envN3 {
			env := []string{"LOCKD_ID=" + id, "LOCKD_DATA_DIR=" + dir, "LOCKD_PEER_ADDR=" + c.peer[i],
				"LOCKD_CLIENT_ADDR=" + c.client[i], "LOCKD_HTTP_ADDR=" + c.httpAdr[i],
				"LOCKD_INITIAL_CLUSTER=" + c.initial, "LOCKD_LOG_LEVEL=debug", "LOCKD_LOG_JSON=true"}
			procs[id] = startProc(t, id, bin, nil, env, nil)
			continue
		}
		args := []string{"--id", id, "--data-dir", dir, "--peer-addr", c.peer[i], "--client-addr", c.client[i],
			"--http-addr", c.httpAdr[i], "--initial-cluster", c.initial}
		procs[id] = startProc(t, id, bin, args, nil, nil)
	}
	for i, id := range c.ids {
		waitUntil(t, startTimeout, id+" /readyz", func() (bool, string) {
			if procs[id].exited() {
				t.Fatalf("%s exited early: %v", id, procs[id].err)
			}
			return readyz(c.httpAdr[i])
		})
	}
	return procs
}

// TestThreeProcessesElectServeAndHandOffOnSIGTERM starts three lockd
// processes with the documented flag form (the third configured only
// through LOCKD_* variables), waits until all are ready and answer clients,
// then SIGTERMs the leader: it exits 0 and another node leads.
func TestThreeProcessesElectServeAndHandOffOnSIGTERM(t *testing.T) {
	bin := lockdBinary(t)
	c := newThreeNodeCluster(t)
	procs := startCluster(t, bin, c, true)
	// Every client address answers the client protocol with the same leader.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leaders := map[string]bool{}
	for i, id := range c.ids {
		st, err := rpcStatus(ctx, c.client[i])
		if err != nil {
			t.Fatalf("%s client address %s: %v", id, c.client[i], err)
		}
		if st.ID != id || st.Leader == "" {
			t.Fatalf("%s client status = %+v", id, st)
		}
		leaders[st.Leader] = true
	}
	if len(leaders) != 1 {
		t.Fatalf("nodes disagree on the leader: %v", leaders)
	}
	// n3 ran from the environment alone: JSON logs at debug level.
	if log := procs["n3"].log.String(); !strings.Contains(log, `"@level":"debug"`) {
		t.Fatalf("n3 (LOCKD_LOG_JSON, LOCKD_LOG_LEVEL=debug) did not log debug JSON:\n%s", tail(log, 10))
	}

	var old string
	for l := range leaders {
		old = l
	}
	if err := procs[old].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := procs[old].waitExit(t, stopTimeout); code != 0 {
		t.Fatalf("leader %s exited %d after SIGTERM, want 0", old, code)
	}
	var survivors []int
	for i, id := range c.ids {
		if id != old {
			survivors = append(survivors, i)
		}
	}
	waitUntil(t, startTimeout, "a new leader among the survivors", func() (bool, string) {
		var views []string
		for _, i := range survivors {
			st, err := httpStatus(c.httpAdr[i])
			if err != nil {
				return false, err.Error()
			}
			if st.Role == "leader" && st.ID != old {
				return true, ""
			}
			views = append(views, fmt.Sprintf("%s: role %s leader %q", st.ID, st.Role, st.Leader))
		}
		return false, strings.Join(views, "; ")
	})

	// A follower stops cleanly too.
	for _, i := range survivors {
		st, err := httpStatus(c.httpAdr[i])
		if err != nil {
			t.Fatal(err)
		}
		if st.Role != "leader" {
			p := procs[c.ids[i]]
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := p.waitExit(t, stopTimeout); code != 0 {
				t.Fatalf("follower %s exited %d after SIGTERM, want 0", p.name, code)
			}
			break
		}
	}
}

// TestDevClusterPrintsEndpointsAndStopsOnSIGTERM runs `lockd --dev`, reads
// the printed endpoints and certificate files, checks every node is ready
// and answers a client with the printed certificate (principal root) and
// refuses one without, then SIGTERMs it: it exits 0 and its temporary
// data and certificates are gone.
func TestDevClusterPrintsEndpointsAndStopsOnSIGTERM(t *testing.T) {
	bin := lockdBinary(t)
	pr, pw := io.Pipe()
	p := startProc(t, "dev", bin, []string{"--dev", "--log-level", "warn"}, nil, pw)
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select { // never block the child's stdout once the test stops reading
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { <-p.done; pw.Close() }()

	var endpoints, httpAddrs []string
	var dataDir string
	tlsFiles := map[string]string{}
	timeout := time.After(startTimeout)
	for len(tlsFiles) == 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("--dev ended before printing its endpoints: %v", p.err)
			}
			if _, rest, ok := strings.Cut(line, " data in "); ok {
				dataDir, _, _ = strings.Cut(rest, " ")
			}
			if _, rest, ok := strings.Cut(line, " http http://"); ok {
				httpAddrs = append(httpAddrs, strings.TrimSuffix(rest, "/"))
			}
			if v, ok := strings.CutPrefix(line, "export LOCKD_ENDPOINTS="); ok {
				endpoints = strings.Split(v, ",")
			}
			if v, ok := strings.CutPrefix(line, "export "); ok && strings.HasPrefix(v, "LOCKD_CACERT=") {
				for _, kv := range strings.Fields(v) {
					k, v, _ := strings.Cut(kv, "=")
					tlsFiles[k] = v
				}
			}
		case <-timeout:
			t.Fatalf("no endpoints printed within %s", startTimeout)
		}
	}
	if len(endpoints) != 3 || len(httpAddrs) != 3 || dataDir == "" {
		t.Fatalf("endpoints %v, http %v, data dir %q", endpoints, httpAddrs, dataDir)
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Fatalf("printed data dir: %v", err)
	}
	for _, h := range httpAddrs {
		waitUntil(t, startTimeout, h+" /readyz", func() (bool, string) { return readyz(h) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tlsCfg, err := pki.ClientConfig(tlsFiles["LOCKD_CACERT"], tlsFiles["LOCKD_CERT"], tlsFiles["LOCKD_KEY"], "")
	if err != nil {
		t.Fatalf("the printed certificate files %v: %v", tlsFiles, err)
	}
	if p, err := pki.Principal(tlsCfg.Certificates[0].Leaf); err != nil || p != "root" {
		t.Fatalf("the printed client certificate is principal %q (%v), want root", p, err)
	}
	root := rpc.DefaultConfig()
	root.TLS = tlsCfg
	for _, e := range endpoints {
		if st, err := rpcStatusWith(ctx, e, root); err != nil || st.Leader == "" {
			t.Fatalf("endpoint %s: status %+v, %v", e, st, err)
		}
		if _, err := rpcStatus(ctx, e); !errors.Is(err, rpc.ErrTLSRequired) {
			t.Fatalf("endpoint %s answered a client without TLS: %v", e, err)
		}
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, stopTimeout); code != 0 {
		t.Fatalf("--dev exited %d after SIGTERM, want 0", code)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("dev data %s still there after exit (stat: %v)", dataDir, err)
	}
}

// TestJoinedNodeIsAddedPromotedAndExitsZeroWhenRemoved starts a fourth
// process with --join: it is live but not ready until the cluster adds it;
// once added and promoted, removing it makes the process log the removal
// and exit 0 on its own.
func TestJoinedNodeIsAddedPromotedAndExitsZeroWhenRemoved(t *testing.T) {
	bin := lockdBinary(t)
	c := newThreeNodeCluster(t)
	startCluster(t, bin, c, false)

	a := freeAddrs(t, 3)
	peer4, client4, http4 := a[0], a[1], a[2]
	n4 := startProc(t, "n4", bin, []string{"--id", "n4", "--data-dir", filepath.Join(t.TempDir(), "n4"),
		"--peer-addr", peer4, "--client-addr", client4, "--http-addr", http4, "--join"}, nil, nil)
	waitUntil(t, startTimeout, "n4 /livez", func() (bool, string) {
		code, body, err := httpGet("http://" + http4 + "/livez")
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, body
	})
	if ok, why := readyz(http4); ok {
		t.Fatalf("a joining node nobody added is ready: %s", why)
	}

	cl, err := client.New(client.Config{Endpoints: c.client})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := cl.AddLearner(ctx, "n4", peer4, client4); err != nil {
		t.Fatalf("add learner: %v", err)
	}
	waitUntil(t, startTimeout, "n4 ready as a learner", func() (bool, string) { return readyz(http4) })
	var promoteErr error
	waitUntil(t, startTimeout, "n4 promoted", func() (bool, string) {
		promoteErr = cl.Promote(ctx, "n4", false)
		return promoteErr == nil, fmt.Sprint(promoteErr)
	})
	members, err := cl.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	voter := false
	for _, m := range members {
		voter = voter || m.ID == "n4" && !m.Learner
	}
	if !voter {
		t.Fatalf("n4 is not a voter after promotion: %+v", members)
	}

	if err := cl.RemoveMember(ctx, "n4", false); err != nil {
		t.Fatalf("remove n4: %v", err)
	}
	if code := n4.waitExit(t, stopTimeout); code != 0 {
		t.Fatalf("removed n4 exited %d, want 0", code)
	}
	if log := n4.log.String(); !strings.Contains(log, "removed from the cluster; stopping") {
		t.Fatalf("n4 did not log its removal:\n%s", tail(log, 20))
	}
}
