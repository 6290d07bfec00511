package server

import (
	"errors"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
)

// A node's advertised client address is what the other members give out
// for it: a follower's leader hint and the member list name it, not the
// address the leader listens on.
func TestFollowersHintTheLeadersAdvertisedClientAddress(t *testing.T) {
	advertised := func(id string) string { return "lockd-" + id + ".example:7000" }
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.AdvertiseClientAddr = advertised(cfg.ID) })
	lead := c.leader()
	f := c.follower()
	svcWait(t, "the follower to learn the leader's client address", 20*time.Second, func() bool {
		return f.members.clientAddr(consensus.NodeID(lead.ID())) != ""
	})
	fc := dialClient(t, f.ClientAddr())
	re := wantCode(t, fc.callRaw(api.MsgOpenSession, &api.OpenSessionRequest{TTL: int64(time.Minute)}, nil), api.CodeNotLeader)
	if re.Message != advertised(lead.ID()) {
		t.Fatalf("leader hint %q, want the leader's advertised %q (it listens on %s)", re.Message, advertised(lead.ID()), lead.ClientAddr())
	}
	var members api.MembersResponse
	if err := fc.callRaw(api.MsgMembers, &api.MembersRequest{}, &members); err != nil {
		t.Fatal(err)
	}
	for _, m := range members.Members {
		if m.ClientAddr != "" && m.ClientAddr != advertised(m.ID) {
			t.Fatalf("member %s listed at %q, want %q", m.ID, m.ClientAddr, advertised(m.ID))
		}
	}
	// The advertised addresses are not dialable from the members (as a
	// container's published port is not from inside another container):
	// cluster status asks each member over its peer address instead.
	var cs api.ClusterStatusResponse
	if err := fc.callRaw(api.MsgClusterStatus, &api.ClusterStatusRequest{}, &cs); err != nil {
		t.Fatal(err)
	}
	for _, n := range cs.Nodes {
		if n.Status == nil || n.Error != "" || n.ClientAddr != advertised(n.ID) {
			t.Fatalf("cluster status of %s: %+v, want its status and its advertised address", n.ID, n)
		}
	}
}

// An unspecified or port-0 address cannot be advertised.
func TestAdvertisedClientAddressMustBeDialable(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7000", "[::]:7000", ":7000", "h:0", "nohost"} {
		cfg := DefaultConfig()
		cfg.ID, cfg.DataDir, cfg.PeerAddr, cfg.ClientAddr = "n1", "d", "127.0.0.1:1", "127.0.0.1:2"
		cfg.AdvertiseClientAddr = addr
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("AdvertiseClientAddr %q: Validate = %v, want ErrInvalidConfig", addr, err)
		}
	}
}
