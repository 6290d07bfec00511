package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/syncbuf"
	"github.com/lockd/lockd/server"
)

// The binary tests build lockctl once and run it against one in-process
// three-node cluster shared by the tests of this package (each test uses
// lock names of its own).

// testBinaries holds what TestMain built: the lockctl binary and its
// temporary directory.
type testBinaries struct {
	dir     string
	lockctl string
	err     error
}

// testEnv is the shared state of the binary tests: written once by
// TestMain and the cluster's sync.Once, then only read.
type testEnv struct {
	bins        testBinaries
	clusterOnce sync.Once
	cluster     *testCluster
	clusterErr  error
}

// shared is set by TestMain before any test runs and never replaced.
var shared = &testEnv{}

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Short() {
		shared.bins = buildLockctl()
	}
	code := m.Run()
	if shared.cluster != nil {
		shared.cluster.stop()
	}
	if shared.bins.dir != "" {
		_ = os.RemoveAll(shared.bins.dir)
	}
	os.Exit(code)
}

func buildLockctl() testBinaries {
	dir, err := os.MkdirTemp("", "lockctl-test-")
	if err != nil {
		return testBinaries{err: err}
	}
	bin := filepath.Join(dir, "lockctl")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return testBinaries{dir: dir, err: fmt.Errorf("go build: %v: %s", err, out)}
	}
	return testBinaries{dir: dir, lockctl: bin}
}

// lockctlBinary returns the built binary, skipping in -short mode.
func lockctlBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the lockctl binary")
	}
	if shared.bins.err != nil {
		t.Fatal(shared.bins.err)
	}
	return shared.bins.lockctl
}

// testCluster is a real lockd cluster of three nodes in this process.
type testCluster struct {
	servers []*server.Server
	dirs    []string
}

// startCluster starts n1..n3 on loopback ports with temporary data and
// waits for a leader. Ports are reserved and released before the servers
// bind them, so a start that loses a port to another process is retried.
func startCluster() (*testCluster, error) { return startClusterWith(nil) }

// startClusterWith is startCluster with tweak (if not nil) applied to
// each node's configuration.
func startClusterWith(tweak func(*server.Config)) (*testCluster, error) {
	var err error
	for range 5 {
		var c *testCluster
		if c, err = tryStartCluster(tweak); err == nil {
			return c, nil
		}
	}
	return nil, err
}

func tryStartCluster(tweak func(*server.Config)) (*testCluster, error) {
	var addrs []string
	for range 6 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, ln.Addr().String())
		_ = ln.Close()
	}
	c := &testCluster{}
	initial := map[string]string{"n1": addrs[0], "n2": addrs[2], "n3": addrs[4]}
	for i, id := range []string{"n1", "n2", "n3"} {
		dir, err := os.MkdirTemp("", "lockctl-test-node-")
		if err != nil {
			c.stop()
			return nil, err
		}
		c.dirs = append(c.dirs, dir)
		cfg := server.DefaultConfig()
		cfg.ID, cfg.DataDir = id, dir
		cfg.PeerAddr, cfg.ClientAddr = addrs[2*i], addrs[2*i+1]
		cfg.InitialCluster = initial
		cfg.Node.Seed = uint64(i+1) * 7919
		if tweak != nil {
			tweak(&cfg)
		}
		s, err := server.New(cfg)
		if err != nil {
			c.stop()
			return nil, err
		}
		if err := s.Start(); err != nil {
			_ = s.Close()
			c.stop()
			return nil, err
		}
		c.servers = append(c.servers, s)
	}
	if err := c.waitLeader(30 * time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitLeader polls until every node names the same leader.
func (c *testCluster) waitLeader(bound time.Duration) error {
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for ; time.Now().Before(deadline); <-tick.C {
		lead := ""
		agreed := true
		for _, s := range c.servers {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := s.Status(ctx)
			cancel()
			if err != nil || st.Leader == "" || (lead != "" && st.Leader != lead) {
				agreed = false
				break
			}
			lead = st.Leader
		}
		if agreed {
			return nil
		}
	}
	return errors.New("no agreed leader within the bound")
}

func (c *testCluster) stop() {
	for _, s := range c.servers {
		_ = s.Close()
	}
	for _, d := range c.dirs {
		_ = os.RemoveAll(d)
	}
}

func (c *testCluster) endpoints() string {
	var eps []string
	for _, s := range c.servers {
		eps = append(eps, s.ClientAddr())
	}
	return strings.Join(eps, ",")
}

// cluster returns the shared cluster, starting it on first use.
func cluster(t testing.TB) *testCluster {
	t.Helper()
	lockctlBinary(t)
	shared.clusterOnce.Do(func() { shared.cluster, shared.clusterErr = startCluster() })
	if shared.clusterErr != nil {
		t.Fatal(shared.clusterErr)
	}
	return shared.cluster
}

// sdk returns an SDK client of the cluster for checks from the test.
func (c *testCluster) sdk(t testing.TB) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: strings.Split(c.endpoints(), ",")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// proc is a running lockctl.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
	done   chan struct{}
}

// startLockctl runs the binary against c with args; LOCKD_ENDPOINTS
// names the cluster.
func (c *testCluster) start(t *testing.T, stdin *os.File, args ...string) *proc {
	t.Helper()
	return c.startOn(t, stdin, c.endpoints(), nil, args...)
}

// startWith runs the binary with LOCKD_ENDPOINTS set to endpoints and env
// added to its environment.
func (c *testCluster) startWith(t *testing.T, endpoints string, env []string, args ...string) *proc {
	t.Helper()
	return c.startOn(t, nil, endpoints, env, args...)
}

func (c *testCluster) startOn(t *testing.T, stdin *os.File, endpoints string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(lockctlBinary(t), args...)
	cmd.Env = append(append(os.Environ(), "LOCKD_ENDPOINTS="+endpoints), env...)
	p := &proc{t: t, cmd: cmd, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if stdin != nil {
		cmd.Stdin = stdin
	}
	// A grandchild left running must not hold Wait on its pipes forever.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits (bounded) for the process to exit and returns its exit code.
func (p *proc) wait(bound time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(bound):
		p.t.Fatalf("lockctl %v still running after %s\nstdout: %s\nstderr: %s", p.cmd.Args[1:], bound, p.stdout, p.stderr)
		return -1
	}
}

// run runs lockctl to completion (bounded) and returns its exit code and
// output.
func (c *testCluster) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := c.start(t, nil, args...)
	code = p.wait(60 * time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

// waitFor polls cond every 20 ms until it holds, failing the test after
// bound.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		<-tick.C
	}
}

// execOutput runs a program (bounded) and returns its stdout.
func execOutput(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return string(out), err
}
