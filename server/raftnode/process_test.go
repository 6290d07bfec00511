package raftnode

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/peer"
	"github.com/lockd/lockd/wal"
)

// The process tests run each node as a child OS process (this test binary
// re-executed), so kill -9 is a real SIGKILL: nothing but what the WAL
// synced survives.

const (
	envChildNode = "LOCKD_TEST_CHILD_NODE" // "id|dir|ctrlAddr|n1=peer,n2=peer,..."
	ctrlPropose  = rpc.MsgType(1)
	ctrlDigest   = rpc.MsgType(2)
)

type ctrlDigestResp struct {
	Count     int
	Sum       uint32
	IsLeader  bool
	SnapIndex uint64 // index of the node's latest stored snapshot
	First     uint64 // first index still in the node's log
	Last      uint64 // last index in the node's log
}

// TestChildNode is the body of a child process; it does nothing in a normal
// test run.
func TestChildNode(t *testing.T) {
	spec := os.Getenv(envChildNode)
	if spec == "" {
		t.Skip("only runs as a child of TestProcessCluster*")
	}
	parts := strings.Split(spec, "|")
	id, dir, ctrlAddr := consensus.NodeID(parts[0]), parts[1], parts[2]
	conf := consensus.ConfState{Addrs: map[consensus.NodeID]string{}}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		conf.Voters = append(conf.Voters, consensus.NodeID(k))
		conf.Addrs[consensus.NodeID(k)] = v
	}
	wo := wal.DefaultOptions(dir)
	wo.KeepTail = 5 // so a restarted follower must catch up by snapshot
	w, err := wal.Open(wo)
	if err != nil {
		t.Fatal(err)
	}
	if err := Bootstrap(w, conf); err != nil {
		t.Fatal(err)
	}
	rc := rpc.DefaultConfig()
	tr, err := peer.New(id, rc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Listen(conf.Addrs[id]); err != nil {
		t.Fatal(err)
	}
	sm := &recordSM{}
	cfg := DefaultConfig(id)
	cfg.SnapshotEntries = 25
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: string(id), Level: hclog.Warn, Output: os.Stderr})
	node, err := New(cfg, w, sm, tr, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	tr.SetStepper(node)
	node.Start()
	ctrl, err := rpc.NewServer(rpc.DefaultConfig(), rpc.KindClient)
	if err != nil {
		t.Fatal(err)
	}
	_ = rpc.Register(ctrl, ctrlPropose, func(ctx context.Context, _ *rpc.Conn, data *[]byte) (any, error) {
		a, err := node.Propose(ctx, *data)
		if err != nil {
			return nil, rpc.Errorf(500, "%v", err)
		}
		return a.Index, nil
	})
	_ = rpc.Register(ctrl, ctrlDigest, func(context.Context, *rpc.Conn, *struct{}) (any, error) {
		n, sum := sm.digest()
		snap, err := w.Snapshot()
		if err != nil {
			return nil, rpc.Errorf(500, "%v", err)
		}
		first, _ := w.FirstIndex()
		last, _ := w.LastIndex()
		return ctrlDigestResp{Count: n, Sum: sum, IsLeader: node.IsLeader(), SnapIndex: snap.Meta.Index,
			First: first, Last: last}, nil
	})
	if _, err := ctrl.Listen(ctrlAddr); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	<-node.Done() // runs until killed
}

type childNode struct {
	id   string
	dir  string
	ctrl string
	cmd  *exec.Cmd
}

func (c *childNode) start(t *testing.T, peers string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildNode$", "-test.v")
	cmd.Env = append(os.Environ(), envChildNode+"="+strings.Join([]string{c.id, c.dir, c.ctrl, peers}, "|"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "ready" {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	c.cmd = cmd
}

func (c *childNode) kill9() {
	if c.cmd != nil {
		_ = c.cmd.Process.Kill() // SIGKILL
		_ = c.cmd.Wait()
		c.cmd = nil
	}
}

func (c *childNode) call(typ rpc.MsgType, req, resp any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := rpc.Dial(ctx, c.ctrl, rpc.KindClient, rpc.DefaultConfig())
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Call(ctx, typ, req, resp)
}

// Reference: Raft §5.6, §7 — nodes killed with SIGKILL (including the
// leader) lose nothing they acknowledged and catch up after restart; with
// snapshots every 25 entries and a tail of 5, a node that missed more than
// that catches up by InstallSnapshot.
func TestProcessClusterSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	addrs := freeAddrs(t, 6)
	var nodes []*childNode
	var peers []string
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("n%d", i+1)
		nodes = append(nodes, &childNode{id: id, dir: t.TempDir(), ctrl: addrs[3+i]})
		peers = append(peers, id+"="+addrs[i])
	}
	peerSpec := strings.Join(peers, ",")
	for _, n := range nodes {
		n.start(t, peerSpec)
	}
	defer func() {
		for _, n := range nodes {
			n.kill9()
		}
	}()
	acked := 0
	propose := func(count int) {
		for i := 0; i < count; i++ {
			data := []byte(fmt.Sprintf("entry-%d", acked))
			deadline := time.Now().Add(30 * time.Second)
			for {
				var idx uint64
				var err error = fmt.Errorf("no leader")
				for _, n := range nodes {
					var d ctrlDigestResp
					if n.cmd != nil && n.call(ctrlDigest, &struct{}{}, &d) == nil && d.IsLeader {
						err = n.call(ctrlPropose, &data, &idx)
						break
					}
				}
				if err == nil {
					acked++
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("proposal %d not acknowledged: %v", acked, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	converged := func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, first, seen := true, uint32(0), false
			for _, n := range nodes {
				var d ctrlDigestResp
				if err := n.call(ctrlDigest, &struct{}{}, &d); err != nil || d.Count < acked {
					ok = false
					break
				}
				if seen && d.Sum != first {
					t.Fatalf("%s applied different records", n.id)
				}
				first, seen = d.Sum, true
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster did not converge on %d records", acked)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	leaderIndex := func() int {
		for i, n := range nodes {
			var d ctrlDigestResp
			if n.call(ctrlDigest, &struct{}{}, &d) == nil && d.IsLeader {
				return i
			}
		}
		return -1
	}
	propose(30)
	converged()
	bySnapshot := 0
	for round := 0; round < 3; round++ {
		// Kill the leader on even rounds, a follower on odd ones.
		victim := leaderIndex()
		if victim < 0 || round%2 == 1 {
			victim = (max(victim, 0) + 1) % 3
		}
		var before ctrlDigestResp
		if err := nodes[victim].call(ctrlDigest, &struct{}{}, &before); err != nil {
			t.Fatal(err)
		}
		nodes[victim].kill9()
		propose(40)
		lead := nodes[leaderIndex()]
		var ld ctrlDigestResp
		if err := lead.call(ctrlDigest, &struct{}{}, &ld); err != nil {
			t.Fatal(err)
		}
		nodes[victim].start(t, peerSpec)
		converged()
		if ld.First > before.Last+1 {
			// The leader no longer had the entries the victim missed, so
			// converging proves it installed the leader's snapshot.
			var d ctrlDigestResp
			if err := nodes[victim].call(ctrlDigest, &struct{}{}, &d); err != nil {
				t.Fatal(err)
			}
			if d.SnapIndex < ld.First-1 {
				t.Fatalf("round %d: %s converged but holds snapshot %d below the leader's first index %d",
					round, nodes[victim].id, d.SnapIndex, ld.First)
			}
			bySnapshot++
		}
	}
	if bySnapshot == 0 {
		t.Fatal("no restarted node had to catch up by snapshot; the test lost its point")
	}
	t.Logf("%d of 3 restarts caught up by InstallSnapshot", bySnapshot)
}
