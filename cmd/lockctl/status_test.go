package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// startFakeNode serves, on a loopback client port, what a lockd node
// answers to Status (st) and ClusterStatus (members, each asked at
// advertised: here every member advertises the same address, as nodes
// listening on 0.0.0.0:7000 in containers do, so every member's status is
// the answering node's own).
func startFakeNode(t *testing.T, st api.NodeStatus, members []string, advertised string) string {
	t.Helper()
	cfg := rpc.DefaultConfig()
	cfg.NodeID = st.ID
	srv, err := rpc.NewServer(cfg, rpc.KindClient)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	err = rpc.Register(srv, rpc.MsgType(api.MsgStatus), func(context.Context, *rpc.Conn, *api.StatusRequest) (any, error) {
		return &st, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = rpc.Register(srv, rpc.MsgType(api.MsgClusterStatus), func(context.Context, *rpc.Conn, *api.ClusterStatusRequest) (any, error) {
		resp := &api.ClusterStatusResponse{}
		for _, id := range members {
			own := st
			resp.Nodes = append(resp.Nodes, api.ClusterNode{ID: id, ClientAddr: advertised, Status: &own})
		}
		return resp, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return addr.String()
}

// TestStatusAttributesEachStatusToTheNodeThatGaveIt: members that all
// advertise [::]:7000 reach whoever asks; their statuses are not shown as
// theirs (which made a follower report three followers, a leader three
// leaders) but marked unknown with who answered, and filled from the
// endpoints given, each counted for the ID it answered with.
func TestStatusAttributesEachStatusToTheNodeThatGaveIt(t *testing.T) {
	members := []string{"n1", "n2", "n3"}
	const adv = "[::]:7000"
	n1 := startFakeNode(t, api.NodeStatus{ID: "n1", Role: "follower", Term: 3, Leader: "n2", Commit: 9, Applied: 9}, members, adv)
	n2 := startFakeNode(t, api.NodeStatus{ID: "n2", Role: "leader", Term: 3, Leader: "n2", Commit: 10, Applied: 10}, members, adv)

	status := func(endpoints ...string) (statusDoc, int, string) {
		t.Helper()
		code, out, stderr := runArgs(t, "-e", strings.Join(endpoints, ","), "-o", "json", "status")
		var doc statusDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v: %s (stderr %s)", err, out, stderr)
		}
		return doc, code, stderr
	}
	roles := func(doc statusDoc) string {
		var rs []string
		for _, n := range doc.Nodes {
			rs = append(rs, n.ID+"="+orDash(n.Role))
		}
		return strings.Join(rs, " ")
	}

	// Through the follower alone: n1 is itself; n2 and n3 are unknown,
	// and no leader answered, which is said with the leader n1 names.
	doc, code, stderr := status(n1)
	if code != exitNoQuorum || doc.Leader != "" || roles(doc) != "n1=follower n2=- n3=-" {
		t.Fatalf("via n1: exit %d, leader %q, roles %s; stderr %s", code, doc.Leader, roles(doc), stderr)
	}
	if want := "cluster has no leader among the nodes that answered (n1 names n2, whose status is unknown)"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	want := "status unknown: address [::]:7000 answered as n1 ([::]:7000 is an unspecified address"
	for _, n := range doc.Nodes[1:] {
		if !strings.Contains(n.Error, want) {
			t.Errorf("%s: error %q lacks %q", n.ID, n.Error, want)
		}
	}

	// Through both: n2's status comes from its own endpoint.
	doc, code, stderr = status(n1, n2)
	if code != exitOK || doc.Leader != "n2" || roles(doc) != "n1=follower n2=leader n3=-" {
		t.Fatalf("via n1,n2: exit %d, leader %q, roles %s; stderr %s", code, doc.Leader, roles(doc), stderr)
	}
	if got := doc.Nodes[1]; got.ClientAddr != n2 || got.Error != "" || got.Lag == nil || *got.Lag != 0 {
		t.Errorf("n2 = %+v, want its endpoint's status", got)
	}
	if got := doc.Nodes[0]; got.Lag == nil || *got.Lag != 1 {
		t.Errorf("n1 = %+v, want lag 1 behind n2's commit", got)
	}
}
