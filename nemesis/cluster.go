package nemesis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/freeport"
)

// ErrTimeout: a bounded wait of the harness ran out.
var ErrTimeout = errors.New("nemesis: timed out")

// ErrNodeExited: a lockd process exited that the harness did not stop.
var ErrNodeExited = errors.New("nemesis: node exited unexpectedly")

// ErrNoNode: the harness was asked about a node it does not run.
var ErrNoNode = errors.New("nemesis: no such node")

// ClusterConfig configures a Cluster of lockd processes.
type ClusterConfig struct {
	// Binary is the lockd executable.
	Binary string
	// Dir holds the nodes' data directories and logs.
	Dir string
	// Nodes is the number of founding members.
	Nodes int
	// Args are extra flags for every node (timings, limits).
	Args []string
	// WaitTimeout bounds every wait of the harness (start, leader, exit).
	WaitTimeout time.Duration
	// Logger receives the harness's actions. Nil: none.
	Logger hclog.Logger
	// Insecure runs the nodes without TLS. By default the cluster is
	// secured: NewCluster makes a CA in Dir/certs, every node runs with
	// mutual TLS (--cacert, --cert, --key) and the harness's clients
	// connect as the root principal (ClientTLS).
	Insecure bool
}

// DefaultClusterConfig returns three nodes with fast timings: a 10 ms tick,
// a 150–300 ms election timeout, a 1 s minimum session TTL, and a snapshot
// every 1000 entries keeping a tail of 200, so restarted, paused and
// partitioned nodes also catch up by InstallSnapshot.
func DefaultClusterConfig(binary, dir string) ClusterConfig {
	return ClusterConfig{
		Binary: binary, Dir: dir, Nodes: 3,
		Args: []string{"--tick", "10ms", "--election-ticks", "15", "--heartbeat-ticks", "5",
			"--snapshot-entries", "1000", "--keep-tail", "200", "--session-ttl-min", "1s", "--shutdown-timeout", "2s",
			"--log-level", "info"},
		WaitTimeout: 20 * time.Second,
	}
}

// Validate reports the first unusable field.
func (c ClusterConfig) Validate() error {
	switch {
	case c.Binary == "":
		return fmt.Errorf("nemesis: config: empty Binary")
	case c.Dir == "":
		return fmt.Errorf("nemesis: config: empty Dir")
	case c.Nodes < 1:
		return fmt.Errorf("nemesis: config: Nodes %d", c.Nodes)
	case c.WaitTimeout <= 0:
		return fmt.Errorf("nemesis: config: WaitTimeout %v", c.WaitTimeout)
	}
	return nil
}

// Node is one lockd process of a Cluster.
type Node struct {
	ID         string
	DataDir    string
	PeerAddr   string // where it listens for peers
	ClientAddr string
	HTTPAddr   string
	Proxy      *Proxy // where its peers reach it
	join       bool
	tlsArgs    []string // --cacert, --cert, --key; nil when insecure

	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	down   bool // killed on purpose
}

// Running reports whether the process is up (possibly paused).
func (n *Node) Running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Cluster runs lockd processes on loopback, their peer traffic through a
// Network of proxies.
type Cluster struct {
	cfg   ClusterConfig
	log   hclog.Logger
	Net   *Network
	certs *certs // nil when insecure

	mu    sync.Mutex
	nodes map[string]*Node
	next  int // number for the next node ID

	// founding is --initial-cluster, fixed at the first start.
	founding     string
	foundingOnce sync.Once
}

// NewCluster prepares the founding nodes (ports, proxies, data dirs)
// without starting them.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	c := &Cluster{cfg: cfg, log: log, Net: NewNetwork(), nodes: map[string]*Node{}}
	if !cfg.Insecure {
		var err error
		if c.certs, err = newCerts(filepath.Join(cfg.Dir, "certs")); err != nil {
			c.Net.Close()
			return nil, err
		}
		c.Net.UseTLS(c.certs.proxyTLS())
	}
	for i := 0; i < cfg.Nodes; i++ {
		if _, err := c.newNode(false); err != nil {
			c.Net.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) newNode(join bool) (*Node, error) {
	c.mu.Lock()
	c.next++
	id := fmt.Sprintf("n%d", c.next)
	c.mu.Unlock()
	var tlsArgs []string
	if c.certs != nil {
		var err error
		if tlsArgs, err = c.certs.node(id); err != nil {
			return nil, err
		}
	}
	var addrs [3]string
	for i := range addrs {
		a, err := freeport.Addr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	p, err := c.Net.Listen(id, addrs[0])
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, DataDir: filepath.Join(c.cfg.Dir, id), PeerAddr: addrs[0], ClientAddr: addrs[1],
		HTTPAddr: addrs[2], Proxy: p, join: join, tlsArgs: tlsArgs}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n, nil
}

// Nodes returns the nodes by ID.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Node returns node id.
func (c *Cluster) Node(id string) (*Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	if n == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoNode, id)
	}
	return n, nil
}

// ClientTLS is the TLS configuration of the root client (nil for an
// insecure cluster): give it to client.Config.TLS.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.certs == nil {
		return nil
	}
	return c.certs.client
}

// ClientConfig is client.DefaultConfig for this cluster: every node's
// client address, and ClientTLS.
func (c *Cluster) ClientConfig() client.Config {
	cfg := client.DefaultConfig()
	cfg.Endpoints = c.ClientAddrs()
	cfg.TLS = c.ClientTLS()
	return cfg
}

// ClientAddrs are the client addresses of every node.
func (c *Cluster) ClientAddrs() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.ClientAddr)
	}
	return out
}

// initialCluster lists every founding member at its proxy. Each node
// listens on its real --peer-addr and advertises its proxy
// (--advertise-peer-addr), so every node's membership names only proxies:
// one a follower adopts from a leader's snapshot, or a joining node from
// the leader's node info, still routes every link through a proxy.
//
// It is the founding members, as first computed: a restarted node must
// name the cluster its data directory was bootstrapped for, even after
// a founding member was replaced.
func (c *Cluster) initialCluster() string {
	c.foundingOnce.Do(func() {
		var parts []string
		for _, n := range c.Nodes() {
			if !n.join {
				parts = append(parts, n.ID+"="+n.Proxy.Addr())
			}
		}
		c.founding = strings.Join(parts, ",")
	})
	return c.founding
}

// Start starts every node that is not running.
func (c *Cluster) Start() error {
	for _, n := range c.Nodes() {
		if !n.Running() {
			if err := c.start(n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cluster) start(n *Node) error {
	args := []string{"--id", n.ID, "--data-dir", n.DataDir, "--peer-addr", n.PeerAddr,
		"--advertise-peer-addr", n.Proxy.Addr(), "--client-addr", n.ClientAddr, "--http-addr", n.HTTPAddr}
	if n.join {
		args = append(args, "--join")
	} else {
		args = append(args, "--initial-cluster", c.initialCluster())
	}
	args = append(args, n.tlsArgs...)
	args = append(args, c.cfg.Args...)
	logf, err := os.OpenFile(filepath.Join(c.cfg.Dir, n.ID+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test process dies without its Cleanup (a go test timeout),
	// the kernel kills the node too.
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("nemesis: start %s: %w", n.ID, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	c.mu.Lock()
	n.cmd, n.exited, n.paused, n.down = cmd, exited, false, false
	c.mu.Unlock()
	c.log.Info("started", "node", n.ID, "pid", cmd.Process.Pid)
	return nil
}

func (c *Cluster) signal(id string, sig syscall.Signal) (*Node, error) {
	n, err := c.Node(id)
	if err != nil {
		return nil, err
	}
	if !n.Running() {
		return n, fmt.Errorf("%w: %s is not running", ErrNoNode, id)
	}
	return n, n.cmd.Process.Signal(sig)
}

// flags returns whether n was killed on purpose and whether it is paused.
func (c *Cluster) flags(n *Node) (down, paused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.down, n.paused
}

// Paused reports whether node n is stopped by SIGSTOP.
func (c *Cluster) Paused(n *Node) bool {
	_, p := c.flags(n)
	return p
}

// Kill sends SIGKILL to node id and waits for it to exit.
func (c *Cluster) Kill(id string) error {
	n, err := c.signal(id, syscall.SIGKILL)
	if err != nil {
		return err
	}
	c.mu.Lock()
	n.down = true
	c.mu.Unlock()
	select {
	case <-n.exited:
	case <-time.After(c.cfg.WaitTimeout):
		return fmt.Errorf("%w: %s did not exit after SIGKILL", ErrTimeout, id)
	}
	c.log.Info("killed", "node", id)
	return nil
}

// Restart starts node id again on its data directory.
func (c *Cluster) Restart(id string) error {
	n, err := c.Node(id)
	if err != nil {
		return err
	}
	return c.start(n)
}

// Pause stops node id with SIGSTOP.
func (c *Cluster) Pause(id string) error {
	n, err := c.signal(id, syscall.SIGSTOP)
	if err == nil {
		c.mu.Lock()
		n.paused = true
		c.mu.Unlock()
		c.log.Info("paused", "node", id)
	}
	return err
}

// Resume continues node id with SIGCONT.
func (c *Cluster) Resume(id string) error {
	n, err := c.signal(id, syscall.SIGCONT)
	if err == nil {
		c.mu.Lock()
		n.paused = false
		c.mu.Unlock()
		c.log.Info("resumed", "node", id)
	}
	return err
}

// Close kills every process and stops the proxies. It always cleans up
// everything and reports the first problem.
func (c *Cluster) Close() error {
	var first error
	for _, n := range c.Nodes() {
		if n.Running() {
			if err := c.Kill(n.ID); err != nil && first == nil {
				first = err
			}
		}
	}
	c.Net.Close()
	return first
}

// Status asks every running node about itself, each bounded by ctx.
func (c *Cluster) Status(ctx context.Context, cl *client.Client) map[string]client.NodeStatus {
	out := map[string]client.NodeStatus{}
	for _, n := range c.Nodes() {
		if _, paused := c.flags(n); !n.Running() || paused {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cl.EndpointStatus(sctx, n.ClientAddr)
		cancel()
		if err == nil {
			out[n.ID] = st
		}
	}
	return out
}

// Leader returns the ID of the node that says it leads in the highest
// term, waiting (bounded) for one. If parent ends first, its error is
// returned rather than ErrTimeout: the caller stopped waiting, the cluster
// did not fail to elect.
func (c *Cluster) Leader(parent context.Context, cl *client.Client) (string, error) {
	ctx, cancel := context.WithTimeout(parent, c.cfg.WaitTimeout)
	defer cancel()
	for {
		best, term := "", uint64(0)
		for id, st := range c.Status(ctx, cl) {
			if st.Role == "leader" && st.Term >= term {
				best, term = id, st.Term
			}
		}
		if best != "" {
			return best, nil
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return "", err
			}
			return "", fmt.Errorf("%w: no leader within %v", ErrTimeout, c.cfg.WaitTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitReady waits (bounded) until every running, unpaused node answers
// /readyz with 200.
func (c *Cluster) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.WaitTimeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		notReady := ""
		for _, n := range c.Nodes() {
			down, paused := c.flags(n)
			if !n.Running() && !down {
				return fmt.Errorf("%w: %s exited by itself (see %s)", ErrNodeExited, n.ID, filepath.Join(c.cfg.Dir, n.ID+".log"))
			}
			if down || paused {
				continue
			}
			if !httpOK(ctx, hc, "http://"+n.HTTPAddr+"/readyz") {
				notReady = n.ID
				break
			}
		}
		if notReady == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s not ready", ErrTimeout, notReady)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func httpOK(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// ReplaceMember removes member id from the cluster (it exits by itself),
// then starts a fresh node with --join, adds it as a learner and promotes
// it once caught up. It returns the new node's ID. Every step is bounded.
func (c *Cluster) ReplaceMember(ctx context.Context, cl *client.Client, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*c.cfg.WaitTimeout)
	defer cancel()
	old, err := c.Node(id)
	if err != nil {
		return "", err
	}
	remove := func() error {
		err := cl.RemoveMember(ctx, id, false)
		if errors.Is(err, client.ErrUnknownMember) {
			return nil // a retry of a removal that was applied
		}
		return err
	}
	if err := retry(ctx, remove); err != nil {
		return "", fmt.Errorf("nemesis: remove %s: %w", id, err)
	}
	select {
	case <-old.exited:
	case <-time.After(c.cfg.WaitTimeout):
		c.log.Warn("removed node did not exit; killing it", "node", id)
		if err := c.Kill(id); err != nil {
			return "", err
		}
	}
	c.mu.Lock()
	delete(c.nodes, id)
	c.mu.Unlock()
	c.Net.Remove(id)
	n, err := c.newNode(true)
	if err != nil {
		return "", err
	}
	if err := c.start(n); err != nil {
		return "", err
	}
	add := func() error {
		err := cl.AddLearner(ctx, n.ID, n.Proxy.Addr(), n.ClientAddr)
		if err != nil && c.isMember(ctx, cl, n.ID) {
			return nil // a retry of an addition that was applied
		}
		return err
	}
	if err := retry(ctx, add); err != nil {
		return "", fmt.Errorf("nemesis: add learner %s: %w", n.ID, err)
	}
	if err := retry(ctx, func() error { return cl.Promote(ctx, n.ID, false) }); err != nil {
		return "", fmt.Errorf("nemesis: promote %s: %w", n.ID, err)
	}
	c.log.Info("replaced member", "old", id, "new", n.ID)
	return n.ID, nil
}

func (c *Cluster) isMember(ctx context.Context, cl *client.Client, id string) bool {
	ms, err := cl.Members(ctx)
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

// retry calls f every 100 ms until it succeeds or ctx ends.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ErrTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
