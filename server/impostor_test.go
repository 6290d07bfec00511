package server

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/internal/syncbuf"
)

// A second node n1, at another address, with n2 and n3 in its
// --initial-cluster: the members refuse it (it claims n1, whose peer
// address they know to be elsewhere), both sides log why, the refusals
// are counted, and the real cluster goes on serving with n1's real
// client address in every member's book.
func TestImpostorWithAMembersIDIsRefusedAndTheClusterServes(t *testing.T) {
	c, logs := loggedCluster(t, 3, nil)
	lead := c.leader()

	a := svcFreeAddrs(t, 2)
	impLog := &syncbuf.Buffer{}
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir = "n1", filepath.Join(t.TempDir(), "impostor")
	cfg.PeerAddr, cfg.ClientAddr = a[0], a[1]
	cfg.InitialCluster = map[string]string{"n1": a[0], "n2": c.cfgs["n2"].PeerAddr, "n3": c.cfgs["n3"].PeerAddr}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "impostor", Output: impLog, Level: hclog.Debug})
	imp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	defer imp.Close()

	realPeer := c.cfgs["n1"].PeerAddr
	want := "member n1's peer address is " + realPeer + " but it advertises " + a[0] + ": two nodes with the same ID?"
	svcWait(t, "a member to refuse the impostor, and the impostor to hear it", 20*time.Second, func() bool {
		refused := false
		for _, id := range []string{"n2", "n3"} {
			l := logs[id].String()
			refused = refused || strings.Contains(l, "refusing peer: claims=n1 remote=") && strings.Contains(l, want)
		}
		return refused && strings.Contains(impLog.String(), "peer refused this node") && strings.Contains(impLog.String(), want)
	})
	counted := 0.0
	for _, id := range []string{"n2", "n3"} {
		var m dto.Metric
		if err := c.servers[id].metrics.peersRefused.WithLabelValues("address").Write(&m); err != nil {
			t.Fatal(err)
		}
		counted += m.GetCounter().GetValue()
	}
	if counted == 0 {
		t.Fatal("no refusal counted in lockd_peers_refused_total{reason=\"address\"}")
	}

	// The cluster serves, led by one of its own, and nobody took the
	// impostor's client address for n1's.
	cl := dialClient(t, lead.ClientAddr())
	sess := cl.open(time.Minute)
	if r, err := cl.acquire(sess, "after-impostor", false); err != nil || !r.Granted {
		t.Fatalf("acquire: %+v, %v", r, err)
	}
	if l := c.leader(); l == nil || l.ClusterID() != ClusterID(c.cfgs["n1"].InitialCluster, "") {
		t.Fatalf("leader %v of another cluster", l)
	}
	for _, id := range c.ids() {
		svcWait(t, id+" to know n1's real client address", 20*time.Second, func() bool {
			got := c.servers[id].members.clientAddr(consensus.NodeID("n1"))
			if got == a[1] {
				t.Fatalf("%s has the impostor's client address %s for n1", id, got)
			}
			return got == c.servers["n1"].ClientAddr()
		})
	}
	if imp.node.IsLeader() {
		t.Fatal("the impostor leads")
	}
}
