package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
)

// topScene holds a lock with a hostile name (a terminal escape) and a
// value, with two sessions queued for it in order.
type topScene struct {
	name           string
	holder, w1, w2 uint64
	token          uint64
}

func newTopScene(t *testing.T, c *testCluster) topScene {
	t.Helper()
	sdk := c.sdk(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	sc := topScene{name: fmt.Sprintf("top/\x1b[2J%d", time.Now().UnixNano())}
	open := func() *client.Session {
		s, err := sdk.NewSession(ctx, client.WithTTL(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		return s
	}
	h := open()
	l, err := h.TryAcquire(ctx, sc.name, client.WithValue([]byte("owner-a")))
	if err != nil {
		t.Fatal(err)
	}
	sc.holder, sc.token = h.ID(), l.Token()
	for i, id := range []*uint64{&sc.w1, &sc.w2} {
		s := open()
		*id = s.ID()
		go func() { _, _ = s.Acquire(ctx, sc.name) }()
		waitFor(t, 20*time.Second, "the waiter to queue", func() bool {
			in, err := sdk.GetLock(ctx, sc.name)
			return err == nil && len(in.Waiters) == i+1
		})
	}
	return sc
}

// lockctl top --once --json shows the members with the leader, counts the
// sessions, and lists the lock with its holder, token, value and waiters
// in queue order.
func TestTopOnceJSONShowsMembersSessionsAndQueues(t *testing.T) {
	c := cluster(t)
	sc := newTopScene(t, c)
	code, out, stderr := c.run(t, "top", "--once", "--json", "--limit", "10000")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	var d topDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if d.Status.Leader == "" || len(d.Status.Nodes) != 3 {
		t.Fatalf("status %+v", d.Status)
	}
	if d.Sessions.Total < 3 || d.Sessions.Holding < 1 || d.Locks.Held < 1 || d.Locks.Waiters < 2 {
		t.Fatalf("counts: sessions %+v locks total %d held %d waiters %d", d.Sessions, d.Locks.Total, d.Locks.Held, d.Locks.Waiters)
	}
	for _, l := range d.Locks.List {
		if l.Name != sc.name {
			continue
		}
		if len(l.Holders) != 1 || l.Holders[0].SessionID != sc.holder || l.Holders[0].Token != sc.token || l.Holders[0].Value != "owner-a" {
			t.Fatalf("holders %+v, want session %d token %d", l.Holders, sc.holder, sc.token)
		}
		if len(l.Waiters) != 2 || l.Waiters[0].SessionID != sc.w1 || l.Waiters[1].SessionID != sc.w2 {
			t.Fatalf("waiters %+v, want %d then %d", l.Waiters, sc.w1, sc.w2)
		}
		return
	}
	t.Fatalf("lock %q not listed:\n%s", sc.name, out)
}

// The table shows the queue in order and a hostile lock name quoted: no
// escape sequence reaches the terminal.
func TestTopTableQuotesHostileNamesAndShowsTheQueue(t *testing.T) {
	c := cluster(t)
	sc := newTopScene(t, c)
	code, out, stderr := c.run(t, "top", "--once", "--limit", "10000")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.ContainsRune(out, '\x1b') {
		t.Fatalf("the table carries a raw escape:\n%q", out)
	}
	var row string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, fmt.Sprintf("%q", sc.name)) {
			row = line
		}
	}
	want := []string{fmt.Sprintf("%d:%d", sc.holder, sc.token), "owner-a", fmt.Sprintf("%d,%d", sc.w1, sc.w2), "exclusive"}
	for _, w := range want {
		if !strings.Contains(row, w) {
			t.Fatalf("the row of %q lacks %q:\n%s", sc.name, w, out)
		}
	}
	for _, w := range []string{"leader", "SESSIONS:", "LOCKS:", "waiting requests"} {
		if !strings.Contains(out, w) {
			t.Errorf("top lacks %q:\n%s", w, out)
		}
	}
}

// Without --once, top refreshes every --interval until interrupted, then
// exits 0; a bad interval is bad usage.
func TestTopRefreshesUntilInterrupted(t *testing.T) {
	c := cluster(t)
	p := c.start(t, nil, "top", "--interval", "50ms")
	waitFor(t, 30*time.Second, "three frames", func() bool {
		return strings.Count(p.stdout.String(), "lockd cluster at") >= 3
	})
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d after an interrupt\n%s", code, p.stderr)
	}
	if code, _, _ := c.run(t, "top", "--interval", "0s"); code != exitUsage {
		t.Fatalf("--interval 0s exit %d, want %d", code, exitUsage)
	}
}

// Sessions are counted per owner, owners sorted and quoted like names.
func TestTopCountsSessionsPerOwner(t *testing.T) {
	if got := owners(map[string]int{"bob": 1, "alice": 2, "e\x1bvil": 1}); got != ` — alice 2, bob 1, "e\x1bvil" 1` {
		t.Fatalf("owners = %q", got)
	}
	if got := owners(nil); got != "" {
		t.Fatalf("owners(nil) = %q", got)
	}
}
