package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestOperationsOnADedicatedCluster runs the membership and leadership
// commands and then takes the quorum away, on a cluster of its own so the
// other tests keep theirs.
func TestOperationsOnADedicatedCluster(t *testing.T) {
	lockctlBinary(t)
	c, err := startCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	status := func(args ...string) (int, statusDoc) {
		code, out, stderr := c.run(t, append([]string{"-o", "json"}, append(args, "status")...)...)
		var d statusDoc
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("status: exit %d, %v: %q %s", code, err, out, stderr)
		}
		return code, d
	}

	// Leadership moves to the member named.
	_, before := status()
	target := "n1"
	if before.Leader == "n1" {
		target = "n2"
	}
	code, out, stderr := c.run(t, "-o", "json", "leader", "transfer", target)
	var ch changeDoc
	if err := json.Unmarshal([]byte(out), &ch); code != 0 || err != nil || ch.Action != "transfer" || ch.Leader != target {
		t.Fatalf("leader transfer %s: exit %d %v %+v %s", target, code, err, ch, stderr)
	}
	waitFor(t, 30*time.Second, "status to show "+target+" leading", func() bool {
		code, d := status()
		return code == 0 && d.Leader == target
	})

	// A learner is added and removed; an unknown member is not found.
	if code, _, stderr := c.run(t, "members", "add", "n4", "127.0.0.1:1", "127.0.0.1:2"); code != 0 {
		t.Fatalf("members add: exit %d %s", code, stderr)
	}
	code, out, _ = c.run(t, "-o", "json", "members", "list")
	var ms membersDoc
	if err := json.Unmarshal([]byte(out), &ms); code != 0 || err != nil || len(ms.Members) != 4 || ms.Members[3].ID != "n4" || !ms.Members[3].Learner {
		t.Fatalf("members list after add: exit %d %v %+v", code, err, ms)
	}
	if code, _, stderr := c.run(t, "members", "remove", "n4"); code != 0 {
		t.Fatalf("members remove: exit %d %s", code, stderr)
	}
	if code, _, stderr := c.run(t, "members", "remove", "n9"); code != exitNotFound {
		t.Errorf("remove of an unknown member: exit %d, want %d; %s", code, exitNotFound, stderr)
	}

	// Without a quorum: status still shows what answers, and exits 5;
	// a linearizable read exits 5; a stale read still works.
	survivor := 0
	for i, s := range c.servers {
		if s.ID() != target {
			survivor = i
		}
	}
	for i, s := range c.servers {
		if i != survivor {
			_ = s.Close()
		}
	}
	code, d := status("--timeout", "3s")
	if code != exitNoQuorum {
		t.Fatalf("status without quorum: exit %d, want %d: %+v", code, exitNoQuorum, d)
	}
	answered := 0
	for _, n := range d.Nodes {
		if n.Error == "" {
			answered++
		}
	}
	if len(d.Nodes) != 3 || answered != 1 {
		t.Errorf("status without quorum: %+v", d)
	}
	if code, _, stderr := c.run(t, "--timeout", "2s", "locks", "list"); code != exitNoQuorum {
		t.Errorf("linearizable read without quorum: exit %d, want %d; %s", code, exitNoQuorum, stderr)
	}
	only := c.servers[survivor].ClientAddr()
	code, out, stderr = c.run(t, "--endpoints", only, "--stale", "--timeout", "3s", "members", "list")
	if code != 0 || !strings.Contains(out, "n1") {
		t.Errorf("stale members list from %s: exit %d\n%s\n%s", only, code, out, stderr)
	}
}
