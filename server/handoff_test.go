package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/internal/syncbuf"
)

// loggedCluster is a svcCluster whose nodes log into buffers, each tweaked
// further by tweak (may be nil).
func loggedCluster(t *testing.T, n int, tweak func(*Config)) (*svcCluster, map[string]*syncbuf.Buffer) {
	logs := map[string]*syncbuf.Buffer{}
	var mu sync.Mutex
	c := newSvcCluster(t, n, func(cfg *Config) {
		mu.Lock()
		b := logs[cfg.ID]
		if b == nil {
			b = &syncbuf.Buffer{}
			logs[cfg.ID] = b
		}
		mu.Unlock()
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: cfg.ID, Output: b, Level: hclog.Debug})
		if tweak != nil {
			tweak(cfg)
		}
	})
	return c, logs
}

// Stopping the last running node of a cluster returns at once: its
// followers stopped a moment ago, so the core still counts them active,
// but none answers, and the leader says so instead of waiting out its
// shutdown timeout on a transfer to a dead node.
func TestShutdownOfTheLastNodeDoesNotWaitForADeadFollower(t *testing.T) {
	// An election timeout of a second keeps the stopped followers
	// "recently active" while Shutdown starts.
	c, logs := loggedCluster(t, 3, func(cfg *Config) { cfg.Node.ElectionTick = 100 })
	lead := c.leader()
	for _, id := range c.ids() {
		if id != lead.ID() {
			c.stop(id)
		}
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- lead.Shutdown(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown of the last node still waits after 30s (its timeout is a minute)")
	}
	c.servers[lead.ID()] = nil
	log := logs[lead.ID()].String()
	switch {
	case err == nil:
		// It stopped leading before it looked (a slow machine): nothing to
		// hand over.
		if !strings.Contains(log, "no longer leading") {
			t.Fatalf("Shutdown succeeded without a live follower; log:\n%s", log)
		}
	case !errors.Is(err, ErrNoHandOff):
		t.Fatalf("Shutdown: %v, want ErrNoHandOff; log:\n%s", err, log)
	case !strings.Contains(log, "stopping without a leadership hand-off: reason=") ||
		!strings.Contains(log, "no follower can take over") && !strings.Contains(log, "no longer leading"):
		t.Fatalf("the log does not say why there was no hand-off:\n%s", log)
	}
	if strings.Contains(log, "shutdown timeout") {
		t.Fatalf("the hand-off waited for the shutdown timeout:\n%s", log)
	}
}

// With its followers up, a stopping leader still hands over.
func TestShutdownHandsLeadershipToALiveFollower(t *testing.T) {
	c, logs := loggedCluster(t, 3, nil)
	lead := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := lead.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v\n%s", err, logs[lead.ID()].String())
	}
	c.servers[lead.ID()] = nil
	if log := logs[lead.ID()].String(); !strings.Contains(log, "handed leadership over before shutdown") &&
		!strings.Contains(log, "no longer leading") {
		t.Fatalf("no hand-off logged:\n%s", log)
	}
	next := c.leader()
	if next.ID() == lead.ID() {
		t.Fatal("the stopped node still leads")
	}
}
