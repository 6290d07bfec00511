package server

import (
	"context"
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/peer"
)

// attacker is a peer transport that dials as node id with a certificate
// of the cluster's CA for that id: a valid identity, used to lie.
func attacker(t *testing.T, ca *testCA, id string) *peer.Transport {
	t.Helper()
	cfg := rpc.DefaultConfig()
	cfg.ClientTLS = ca.nodeTLS(id).Client
	tr, err := peer.New(consensus.NodeID(id), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func peerDrops(t *testing.T, s *Server, reason string) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.metrics.peerDrops.WithLabelValues(reason).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestForgedRaftMessagesWithValidCertificatesChangeNothing: a follower
// is sent heartbeats with a term near 2^64 "from the leader" by another
// member's certificate, and from a node of the CA outside the
// membership. Both are dropped and counted; the follower's term stays
// the cluster's, and the cluster serves.
func TestForgedRaftMessagesWithValidCertificatesChangeNothing(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader()
	var target, other *Server
	for _, id := range c.ids() {
		if s := c.servers[id]; s != lead && target == nil {
			target = s
		} else if s != lead {
			other = s
		}
	}
	forge := func(as string, from consensus.NodeID) {
		tr := attacker(t, ca, as)
		tr.SetPeers(map[consensus.NodeID]string{consensus.NodeID(target.ID()): target.PeerAddr()})
		tr.Send([]consensus.Message{{Type: consensus.MsgHeartbeat, From: from, To: consensus.NodeID(target.ID()),
			Term: 1<<64 - 2, Commit: 1 << 40}})
	}
	forge(other.ID(), consensus.NodeID(lead.ID())) // a member's certificate, claiming the leader
	forge("n9", "n9")                              // a stranger's certificate of the CA
	svcWait(t, "both forgeries dropped", 20*time.Second, func() bool {
		return peerDrops(t, target, peer.DropSender) >= 1 && peerDrops(t, target, peer.DropNotMember) >= 1
	})
	if term := target.node.Term(); term > 1<<20 {
		t.Fatalf("the follower took the forged term: %d", term)
	}
	cl := dialClientWith(t, c.leader().ClientAddr(), ca.clientRPC("root"))
	sess := cl.open(time.Minute)
	if r, err := cl.acquire(sess, "after-forgery", false); err != nil || !r.Granted {
		t.Fatalf("acquire after the forgeries: %+v, %v", r, err)
	}
	if term := target.node.Term(); term > 1<<20 {
		t.Fatalf("the follower's term is %d", term)
	}
}

// TestForgedNodeInfoDoesNotChangeAdvertisedAddresses: node info that
// would make a follower give out another client address for the leader
// (leader hints) is refused when it comes from another member's
// connection or from a stranger's, and a stranger's own address is not
// taken; the follower keeps the leader's real address.
func TestForgedNodeInfoDoesNotChangeAdvertisedAddresses(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader()
	var target, other *Server
	for _, id := range c.ids() {
		if s := c.servers[id]; s != lead && target == nil {
			target = s
		} else if s != lead {
			other = s
		}
	}
	leadID := consensus.NodeID(lead.ID())
	svcWait(t, "the follower to know the leader's client address", 20*time.Second, func() bool {
		return target.members.clientAddr(leadID) == lead.ClientAddr()
	})
	ask := func(as, from, clientAddr string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := attacker(t, ca, as).AskNodeInfo(ctx, target.PeerAddr(), &peer.NodeInfoRequest{From: from, ClientAddr: clientAddr})
		return err
	}
	if err := ask(other.ID(), lead.ID(), "127.0.0.1:1"); !errors.Is(err, peer.ErrRefused) {
		t.Fatalf("a member's node info about the leader: %v, want refused", err)
	}
	if err := ask("n9", lead.ID(), "127.0.0.1:2"); !errors.Is(err, peer.ErrRefused) {
		t.Fatalf("a stranger's node info about the leader: %v, want refused", err)
	}
	if err := ask("n9", "n9", "127.0.0.1:3"); err != nil {
		t.Fatalf("a stranger's node info about itself is answered (it is not a member): %v", err)
	}
	if got := target.members.clientAddr(leadID); got != lead.ClientAddr() {
		t.Fatalf("the follower gives %s for the leader, want %s", got, lead.ClientAddr())
	}
	if got := target.members.clientAddr("n9"); got != "" {
		t.Fatalf("the follower took the stranger's client address %s", got)
	}
	if d := peerDrops(t, target, peer.DropSender); d != 2 {
		t.Fatalf("%v sender drops, want 2", d)
	}
	if d := peerDrops(t, target, peer.DropNotMember); d < 1 {
		t.Fatalf("%v not_member drops, want at least 1", d)
	}
}
