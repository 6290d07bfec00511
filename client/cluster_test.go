package client

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server"
)

// testCluster is a real in-process lockd cluster on 127.0.0.1 with WALs in
// temporary directories.
type testCluster struct {
	t       testing.TB
	cfgs    map[string]server.Config
	servers map[string]*server.Server // nil while stopped
	tweak   func(*server.Config)      // applied to every node's config; may be nil
}

// newTestCluster starts nodes n1..nN that bootstrap one cluster and waits
// for a leader.
func newTestCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	return newTestClusterWith(t, n, nil)
}

// newTestClusterWith is newTestCluster with tweak applied to every node's
// config (an injected clock, for example).
func newTestClusterWith(t testing.TB, n int, tweak func(*server.Config)) *testCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an in-process cluster")
	}
	c := &testCluster{t: t, servers: map[string]*server.Server{}, tweak: tweak}
	// Reserved ports can be taken by another process between reservation
	// and bind; then start over with new ones.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = c.startAll(n); err == nil {
			break
		}
		for id := range c.servers {
			c.stop(id)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	c.leader()
	return c
}

// freeAddrs reserves n loopback addresses (listen on port 0, then close).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		srv, err := rpc.NewServer(rpc.DefaultConfig(), rpc.KindClient)
		if err != nil {
			t.Fatal(err)
		}
		a, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a.String())
		_ = srv.Close()
	}
	return out
}

func (c *testCluster) startAll(n int) error {
	c.cfgs = map[string]server.Config{}
	addrs := freeAddrs(c.t, 2*n)
	initial := map[string]string{}
	for i := 1; i <= n; i++ {
		initial[fmt.Sprintf("n%d", i)] = addrs[2*(i-1)]
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		cfg := server.DefaultConfig()
		cfg.ID = id
		cfg.DataDir = c.t.TempDir()
		cfg.PeerAddr, cfg.ClientAddr = addrs[2*(i-1)], addrs[2*(i-1)+1]
		cfg.InitialCluster = initial
		cfg.Node.Seed = uint64(i) * 7919
		if c.tweak != nil {
			c.tweak(&cfg)
		}
		c.cfgs[id] = cfg
	}
	// Registered after TempDir: cleanups run last-in first-out, and the
	// servers must stop before their directories are removed.
	c.t.Cleanup(func() {
		for id := range c.servers {
			c.stop(id)
		}
	})
	for _, id := range c.ids() {
		if err := c.tryStart(id); err != nil {
			return err
		}
	}
	return nil
}

func (c *testCluster) ids() []string {
	var ids []string
	for id := range c.cfgs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (c *testCluster) tryStart(id string) error {
	s, err := server.New(c.cfgs[id])
	if err != nil {
		return fmt.Errorf("new %s: %w", id, err)
	}
	if err := s.Start(); err != nil {
		_ = s.Close()
		return fmt.Errorf("start %s: %w", id, err)
	}
	c.servers[id] = s
	return nil
}

// stop stops node id abruptly (no leadership hand-off).
func (c *testCluster) stop(id string) {
	if s := c.servers[id]; s != nil {
		_ = s.Close()
		c.servers[id] = nil
	}
}

func (c *testCluster) endpoints() []string {
	var out []string
	for _, id := range c.ids() {
		out = append(out, c.cfgs[id].ClientAddr)
	}
	return out
}

// leader waits until the running nodes agree on a leader and returns its
// ID. The bound fails the test; it is not a timing expectation.
func (c *testCluster) leader() string {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if id := c.agreedLeader(); id != "" {
			return id
		}
		if time.Now().After(deadline) {
			c.t.Fatal("no agreed leader within 30s")
		}
		<-tick.C
	}
}

func (c *testCluster) agreedLeader() string {
	lead := ""
	for id, s := range c.servers {
		if s == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := s.Status(ctx)
		cancel()
		if err != nil || st.Leader == "" {
			return ""
		}
		if lead != "" && st.Leader != lead {
			return ""
		}
		lead = st.Leader
		if st.Leader == id && st.Role != "leader" {
			return ""
		}
	}
	if c.servers[lead] == nil {
		return "" // the stopped leader, not yet noticed
	}
	return lead
}
