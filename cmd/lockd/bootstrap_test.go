package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/server"
)

// testSessionSecret is the session secret of the sessions these tests
// open with raw requests.
var testSessionSecret = bytes.Repeat([]byte{0x5e}, api.SessionSecretSize)

// takeLock opens a session on clientAddr and takes name in it.
func takeLock(t *testing.T, clientAddr, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opened api.OpenSessionResponse
	if err := clientCall(ctx, clientAddr, api.MsgOpenSession, &api.OpenSessionRequest{TTL: int64(time.Minute), Secret: testSessionSecret}, &opened); err != nil {
		t.Fatalf("open session on %s: %v", clientAddr, err)
	}
	var acq api.AcquireResponse
	req := &api.AcquireRequest{Write: api.Write{Session: opened.Session, Secret: testSessionSecret, Seq: 1, LowestUnanswered: 1},
		Name: name, Mode: api.ModeExclusive}
	if err := clientCall(ctx, clientAddr, api.MsgAcquire, req, &acq); err != nil || !acq.Granted {
		t.Fatalf("acquire %s on %s: %+v, %v", name, clientAddr, acq, err)
	}
}

// sigterm stops p and wants exit 0.
func sigterm(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, stopTimeout); code != 0 {
		t.Fatalf("%s exited %d after SIGTERM, want 0", p.name, code)
	}
}

// waitLeading waits until the node behind httpAddr leads and returns its
// status.
func waitLeading(t *testing.T, p *proc, httpAddr string) api.NodeStatus {
	t.Helper()
	var st api.NodeStatus
	waitUntil(t, startTimeout, p.name+" leading", func() (bool, string) {
		if p.exited() {
			t.Fatalf("%s exited early: %v", p.name, p.err)
		}
		var err error
		if st, err = httpStatus(httpAddr); err != nil {
			return false, err.Error()
		}
		return st.Role == "leader", fmt.Sprintf("%+v", st)
	})
	return st
}

// TestRestartWithAnotherInitialClusterIsRefusedNotSplit replays what a new
// user did: start n1 alone, take a lock, stop it, then restart it with a
// three-node --initial-cluster and start n2 and n3 with it. Before, n1
// ignored the flag and led a one-node cluster of its own while n2 and n3
// led another, both granting the same lock. Now a lone start without
// --initial-cluster is refused, n1 founds its one-node cluster only when
// --initial-cluster names it alone, and the restart that contradicts its
// data directory is refused (exit 2) with what to do instead; a restart
// without the flag still runs n1's own cluster, under another cluster ID.
func TestRestartWithAnotherInitialClusterIsRefusedNotSplit(t *testing.T) {
	bin := lockdBinary(t)
	c := newThreeNodeCluster(t)
	root := t.TempDir()
	d1 := filepath.Join(root, "n1")
	n1Args := []string{"--id", "n1", "--data-dir", d1, "--peer-addr", c.peer[0], "--client-addr", c.client[0],
		"--http-addr", c.httpAdr[0]}

	lone := startProc(t, "n1 lone", bin, n1Args, nil, nil)
	if code := lone.waitExit(t, stopTimeout); code != exitUsage {
		t.Fatalf("n1 without --initial-cluster on an empty data directory exited %d, want %d", code, exitUsage)
	}
	if out := lone.log.String(); !strings.Contains(out, "for a one-node cluster give --initial-cluster n1="+c.peer[0]) {
		t.Fatalf("the refusal does not say how to found a one-node cluster:\n%s", out)
	}
	if _, err := os.Stat(d1); !os.IsNotExist(err) {
		t.Fatalf("a refused start created its data directory (stat: %v)", err)
	}

	solo := startProc(t, "n1 solo", bin, append(n1Args, "--initial-cluster", "n1="+c.peer[0]), nil, nil)
	soloID := server.ClusterID(map[string]string{"n1": c.peer[0]}, "")
	if st := waitLeading(t, solo, c.httpAdr[0]); st.ClusterID != soloID {
		t.Fatalf("n1's cluster ID %q, want %q", st.ClusterID, soloID)
	}
	takeLock(t, c.client[0], "solo")
	sigterm(t, solo)

	grown := startProc(t, "n1 grown", bin, append(n1Args, "--initial-cluster", c.initial), nil, nil)
	if code := grown.waitExit(t, stopTimeout); code != exitUsage {
		t.Fatalf("n1 restarted with another --initial-cluster exited %d, want %d", code, exitUsage)
	}
	out := grown.log.String()
	for _, want := range []string{
		"data directory " + d1 + " was bootstrapped for cluster n1=" + c.peer[0] + "; --initial-cluster says " + c.initial,
		"lockctl members add", "empty --data-dir",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("the refusal lacks %q:\n%s", want, out)
		}
	}

	// n2 and n3, started as told, found the three-node cluster; n1 is not
	// part of it and grants nothing there.
	var others []*proc
	for i := 1; i < 3; i++ {
		id := c.ids[i]
		others = append(others, startProc(t, id, bin, []string{"--id", id, "--data-dir", filepath.Join(root, id),
			"--peer-addr", c.peer[i], "--client-addr", c.client[i], "--http-addr", c.httpAdr[i],
			"--initial-cluster", c.initial}, nil, nil))
	}
	threeID := server.ClusterID(map[string]string{"n1": c.peer[0], "n2": c.peer[1], "n3": c.peer[2]}, "")
	for i, p := range others {
		waitUntil(t, startTimeout, p.name+" /readyz", func() (bool, string) {
			if p.exited() {
				t.Fatalf("%s exited early: %v", p.name, p.err)
			}
			return readyz(c.httpAdr[i+1])
		})
		if st, err := httpStatus(c.httpAdr[i+1]); err != nil || st.ClusterID != threeID || st.Leader == "n1" {
			t.Fatalf("%s status %+v, %v; want cluster %s led by n2 or n3", p.name, st, err, threeID)
		}
	}

	// Without the flag n1 restarts into its own cluster, lock and all.
	again := startProc(t, "n1 again", bin, n1Args, nil, nil)
	if st := waitLeading(t, again, c.httpAdr[0]); st.ClusterID != soloID || st.ClusterID == threeID {
		t.Fatalf("n1 restarted without flags: cluster ID %q, want %q", st.ClusterID, soloID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var held api.LockInfo
	if err := clientCall(ctx, c.client[0], api.MsgGetLock, &api.GetLockRequest{Name: "solo"}, &held); err != nil || len(held.Holders) != 1 {
		t.Fatalf("solo on n1 after its restart: %+v, %v; want it still held", held, err)
	}
	// n2 and n3 still list n1 at its address: n1 refuses them as members
	// of another cluster instead of following their leader.
	waitUntil(t, startTimeout, "n1 refusing the other cluster's nodes", func() (bool, string) {
		l := again.log.String()
		return strings.Contains(l, "refusing peer") && strings.Contains(l, "belongs to cluster "+threeID+", we are "+soloID), tail(l, 5)
	})
	// ... and counts the refusals by their reason, for an alert.
	waitUntil(t, startTimeout, "n1 counting the refusals", func() (bool, string) {
		code, body, err := httpGet("http://" + c.httpAdr[0] + "/metrics")
		if err != nil || code != 200 {
			return false, fmt.Sprintf("/metrics: %d %v", code, err)
		}
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, `lockd_peers_refused_total{reason="cluster"} `) && !strings.HasSuffix(line, " 0") {
				return true, line
			}
		}
		return false, "no lockd_peers_refused_total{reason=\"cluster\"} above 0"
	})
	if st, err := httpStatus(c.httpAdr[0]); err != nil || st.Role != "leader" || st.ClusterID != soloID {
		t.Fatalf("n1 after meeting the other cluster: %+v, %v", st, err)
	}
	sigterm(t, again)
	for _, p := range others {
		sigterm(t, p)
	}
}
