package server

import (
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// A leader cut off from the majority must not renew a lease: the majority
// may already have elected a new leader that counts the session's TTL from
// its own election, so a renewal from the old one would let the client
// believe in a lease the cluster no longer grants.
// Reference: Chubby §2.8 (master fail-over and leases); Raft thesis §6.4.
func TestPartitionedLeaderDoesNotRenewLeases(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	sess := cl.open(10 * time.Second)
	var ka api.KeepAliveResponse
	cl.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{sess}}, &ka)
	if len(ka.TTLs) != 1 || ka.TTLs[0] == 0 {
		t.Fatalf("keep-alive on the healthy leader: %+v", ka)
	}
	for _, id := range c.ids() {
		if id != lead.ID() {
			c.faults[lead.ID()].Block(id)
			c.faults[id].Block(lead.ID())
		}
	}
	// Right after the cut the old leader still believes it leads; the
	// renewal must fail anyway, not succeed.
	err := cl.call(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{sess}}, &ka)
	if err == nil {
		t.Fatalf("a leader cut off from the majority renewed the lease: %+v", ka)
	}
	if code := codeOf(t, err); code != api.CodeNotLeader && code != api.CodeNoQuorum {
		t.Fatalf("keep-alive on the cut-off leader: code %d (%v), want NotLeader or NoQuorum", code, err)
	}
}
