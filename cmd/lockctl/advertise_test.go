package main

import (
	"encoding/json"
	"net"
	"testing"
)

// Real lockd processes that advertise a client address other than the one
// they listen on (here localhost:PORT for 127.0.0.1:PORT, as a container
// advertises its published port): lockctl given only a follower's address
// follows the leader hint, which names the leader's advertised address,
// and status lists every member at its advertised address.
func TestLockctlThroughAFollowerFollowsTheAdvertisedLeaderAddress(t *testing.T) {
	c := newProcCluster(t)
	advertised := func(i int) string {
		_, port, err := net.SplitHostPort(c.client[i])
		if err != nil {
			t.Fatal(err)
		}
		return net.JoinHostPort("localhost", port)
	}
	c.extra = func(i int) []string { return []string{"--advertise-client-addr", advertised(i)} }
	c.start()

	_, out, _ := c.run("-o", "json", "status")
	var st statusDoc
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Leader == "" {
		t.Fatalf("status: %v: %s", err, out)
	}
	follower := -1
	for i, id := range c.ids {
		if id != st.Leader {
			follower = i
		}
	}
	index := map[string]int{}
	for i, id := range c.ids {
		index[id] = i
	}
	for _, n := range st.Nodes {
		idx, ok := index[n.ID]
		if !ok {
			t.Fatalf("status lists an unknown node %+v", n)
		}
		if n.ClientAddr != advertised(idx) || n.Error != "" {
			t.Fatalf("status lists %s at %q (error %q), want its advertised %s", n.ID, n.ClientAddr, n.Error, advertised(idx))
		}
	}
	code, _, stderr := c.run("-e", c.client[follower], "lock", "--try", "advertise/through-follower", "--", "true")
	if code != 0 {
		t.Fatalf("lock through the follower %s: exit %d: %s", c.ids[follower], code, stderr)
	}
	code, out, stderr = c.run("-e", c.client[follower], "-o", "json", "status")
	var fst statusDoc
	if err := json.Unmarshal([]byte(out), &fst); code != 0 || err != nil || fst.Leader != st.Leader {
		t.Fatalf("status through the follower: exit %d, %v: %s %s", code, err, out, stderr)
	}
	c.stop()
}
