package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
)

func render(t *testing.T, format string, doc any, table func(*tableWriter)) string {
	t.Helper()
	var b bytes.Buffer
	p, err := newPrinter(format, &b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.print(doc, table); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func threeNodes() []client.ClusterNode {
	return []client.ClusterNode{
		{ID: "n2", ClientAddr: "127.0.0.1:7002", Status: &client.NodeStatus{ID: "n2", Role: "follower", Term: 3, Leader: "n1", Commit: 40, Applied: 38, ClusterID: "c436067db1a58d41"}},
		{ID: "n1", ClientAddr: "127.0.0.1:7001", Status: &client.NodeStatus{ID: "n1", Role: "leader", Term: 3, Leader: "n1", Commit: 42, Applied: 42, ClusterID: "c436067db1a58d41",
			Progress: []client.MemberProgress{{ID: "n1", Match: 42}, {ID: "n2", Match: 40}, {ID: "n3", Learner: true}}}},
		{ID: "n3", ClientAddr: "127.0.0.1:7003", Error: "dial tcp: connection refused"},
	}
}

// TestStatusTableShowsLagAgainstLeaderCommit: lag is the leader's commit
// index minus each node's applied index; unreachable nodes show the error.
func TestStatusTableShowsLagAgainstLeaderCommit(t *testing.T) {
	doc := statusFrom(threeNodes())
	got := render(t, "table", doc, doc.table)
	want := `cluster c436067db1a58d41
ID  ADDRESS         ROLE      TERM  COMMIT  APPLIED  LAG  LEADER  ERROR
n1  127.0.0.1:7001  leader    3     42      42       0    n1      -
n2  127.0.0.1:7002  follower  3     40      38       4    n1      -
n3  127.0.0.1:7003  -         -     -       -        -    -       dial tcp: connection refused
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	if doc.health() != nil {
		t.Errorf("health with a leader = %v", doc.health())
	}
}

// TestStatusJSONSchema pins the keys of the status document.
func TestStatusJSONSchema(t *testing.T) {
	doc := statusFrom(threeNodes())
	var got map[string]any
	if err := json.Unmarshal([]byte(render(t, "json", doc, doc.table)), &got); err != nil {
		t.Fatal(err)
	}
	if got["leader"] != "n1" || got["cluster_id"] != "c436067db1a58d41" {
		t.Errorf("leader = %v, cluster_id = %v", got["leader"], got["cluster_id"])
	}
	nodes := got["nodes"].([]any)
	if len(nodes) != 3 {
		t.Fatalf("%d nodes", len(nodes))
	}
	wantKeys := []string{"applied", "client_addr", "cluster_id", "commit", "error", "id", "lag", "leader", "learner", "role", "term"}
	for _, n := range nodes {
		if keys := sortedKeys(n.(map[string]any)); !reflect.DeepEqual(keys, wantKeys) {
			t.Errorf("node keys %v, want %v", keys, wantKeys)
		}
	}
	n2 := nodes[1].(map[string]any)
	if n2["lag"] != 4.0 || n2["applied"] != 38.0 {
		t.Errorf("n2 = %v", n2)
	}
	if n3 := nodes[2].(map[string]any); n3["lag"] != nil || n3["learner"] != true || n3["error"] == "" {
		t.Errorf("n3 = %v", n3)
	}
}

// A node that answers with another cluster ID than the leader's is
// marked in the table, so an operator sees a node of another cluster.
func TestStatusTableMarksANodeOfAnotherCluster(t *testing.T) {
	nodes := threeNodes()
	nodes[0].Status.ClusterID = "0000000000000001"
	doc := statusFrom(nodes)
	got := render(t, "table", doc, doc.table)
	if !strings.Contains(got, "cluster c436067db1a58d41\n") || !strings.Contains(got, "in cluster 0000000000000001") {
		t.Errorf("table:\n%s", got)
	}
	same := statusFrom(threeNodes())
	if got := render(t, "table", same, same.table); strings.Contains(got, "in cluster") {
		t.Errorf("a cluster of one ID marked a node (negative control):\n%s", got)
	}
}

// TestStatusWithoutLeaderIsUnhealthy: no lag can be computed and the
// command exits 5.
func TestStatusWithoutLeaderIsUnhealthy(t *testing.T) {
	doc := statusFrom([]client.ClusterNode{{ID: "n1", Status: &client.NodeStatus{ID: "n1", Role: "candidate", Term: 9}}})
	if doc.Leader != "" || doc.Nodes[0].Lag != nil {
		t.Fatalf("doc = %+v", doc)
	}
	if code := exitCode(doc.health()); code != exitNoQuorum {
		t.Errorf("exit %d, want %d", code, exitNoQuorum)
	}
}

func testLock(now time.Time) client.LockInfo {
	return client.LockInfo{
		Name:     "jobs/nightly",
		Revision: 17,
		Holders:  []client.HolderInfo{{Session: 5, Mode: client.ModeExclusive, Token: 17, Value: []byte("host-a:8080"), AcquiredAt: now.Add(-90 * time.Second)}},
		Waiters: []client.WaiterInfo{
			{Session: 8, Mode: client.ModeExclusive, QueuedAt: now.Add(-2 * time.Second)},
			{Session: 6, Mode: client.ModeShared, QueuedAt: now.Add(-1500 * time.Millisecond)},
		},
	}
}

// TestLockShowListsWaitersInQueueOrder: the table and the JSON keep the
// server's FIFO order and number the positions from 1.
func TestLockShowListsWaitersInQueueOrder(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	doc := lockFrom(testLock(now), now)
	got := render(t, "table", doc, doc.table)
	want := `LOCK jobs/nightly (revision 17)
          SESSION  MODE       TOKEN  VALUE        SINCE
holder    5        exclusive  17     host-a:8080  1m30s ago
waiter 1  8        exclusive  -      -            2s ago
waiter 2  6        shared     -      -            1.5s ago
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	var back lockDoc
	if err := json.Unmarshal([]byte(render(t, "json", doc, doc.table)), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, doc) {
		t.Errorf("JSON round trip:\n%+v\nwant\n%+v", back, doc)
	}
	if back.Waiters[0].SessionID != 8 || back.Waiters[1].Position != 2 || back.Holders[0].AcquiredAt != "2026-01-02T03:02:35Z" ||
		back.Holders[0].ValueBase64 != "aG9zdC1hOjgwODA=" || back.Holders[0].AgeSeconds != 90 {
		t.Errorf("JSON = %+v", back)
	}
}

// TestLockJSONKeys pins the keys of the lock document.
func TestLockJSONKeys(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	doc := lockFrom(testLock(now), now)
	var got map[string]any
	if err := json.Unmarshal([]byte(render(t, "json", doc, doc.table)), &got); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "lock", got, "delay_until", "holders", "name", "revision", "waiters")
	checkKeys(t, "holder", got["holders"].([]any)[0].(map[string]any), "acquired_at", "age_seconds", "mode", "session_id", "token", "value", "value_base64")
	checkKeys(t, "waiter", got["waiters"].([]any)[0].(map[string]any), "age_seconds", "mode", "position", "queued_at", "session_id")
}

// TestFreeLockIsNotFound: a lock nobody holds or waits for and with no
// lock-delay is unknown to the cluster.
func TestFreeLockIsNotFound(t *testing.T) {
	now := time.Now()
	if !lockFrom(client.LockInfo{Name: "x"}, now).free() {
		t.Error("an empty lock is not free")
	}
	if lockFrom(client.LockInfo{Name: "x", DelayUntil: now.Add(time.Second)}, now).free() {
		t.Error("a lock in its lock-delay is free")
	}
	if lockFrom(testLock(now), now).free() {
		t.Error("a held lock is free")
	}
}

// TestLocksListTableAndEmptyJSON: one row per lock; an empty list is
// an empty JSON array, never null.
func TestLocksListTableAndEmptyJSON(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	doc := locksDoc{Locks: []lockDoc{lockFrom(testLock(now), now), lockFrom(client.LockInfo{Name: "b", DelayUntil: now}, now)}}
	got := render(t, "table", doc, doc.table)
	want := `NAME          MODE       HOLDER SESSIONS  TOKEN  VALUE        AGE    WAITERS
jobs/nightly  exclusive  5                17     host-a:8080  1m30s  2
b             delayed    -                -      -            -      0
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	empty := locksDoc{Locks: []lockDoc{}}
	if got := render(t, "json", empty, empty.table); got != "{\n  \"locks\": []\n}\n" {
		t.Errorf("empty JSON = %q", got)
	}
}

// TestSessionDocs: held and waiting are arrays even when empty; the owner
// is shown.
func TestSessionDocs(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := sessionFrom(client.SessionInfo{ID: 3, TTL: 10 * time.Second, OpenedAt: now.Add(-time.Minute), Held: []string{"a"}, Owner: "alice"}, now)
	var got map[string]any
	if err := json.Unmarshal([]byte(render(t, "json", s, s.table)), &got); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "session", got, "age_seconds", "held", "id", "opened_at", "owner", "ttl_seconds", "waiting")
	if got["owner"] != "alice" || got["ttl_seconds"] != 10.0 || got["age_seconds"] != 60.0 || len(got["waiting"].([]any)) != 0 {
		t.Errorf("session = %v", got)
	}
	list := sessionsDoc{Sessions: []sessionDoc{s}}
	table := render(t, "table", list, func(tw *tableWriter) { list.table(tw, now) })
	if want := "ID  OWNER  TTL  AGE   HELD  WAITING\n3   alice  10s  1m0s  a     -\n"; table != want {
		t.Errorf("table %q, want %q", table, want)
	}
}

// TestElectionDocs: an observed change with no leader says so.
func TestElectionDocs(t *testing.T) {
	d := leaderFrom("svc", client.LeaderInfo{Value: []byte("10.0.0.7:80"), Token: 9, Session: 4, Revision: 9})
	if d.text() != "svc: leader 10.0.0.7:80 (session 4, token 9, revision 9)" || !d.HasLeader {
		t.Errorf("text %q", d.text())
	}
	none := leaderFrom("svc", client.LeaderInfo{Revision: 12})
	if none.HasLeader || none.text() != "svc: no leader (revision 12)" {
		t.Errorf("no leader: %+v %q", none, none.text())
	}
	var b bytes.Buffer
	if err := (printer{json: true, w: &b}).line(none, none.text()); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Errorf("a JSON event is not one line: %q", b.String())
	}
}

// TestShowValueQuotesUnprintable keeps table cells on one line.
func TestShowValueQuotesUnprintable(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "-",
		"host:80":               "host:80",
		"two words":             `"two words"`,
		"line\nbreak":           `"line\nbreak"`,
		strings.Repeat("x", 50): strings.Repeat("x", 40) + "…",
	} {
		if got := showValue(in); got != want {
			t.Errorf("showValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slicesSort(keys)
	return keys
}

func checkKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	if got := sortedKeys(m); !reflect.DeepEqual(got, want) {
		t.Errorf("%s keys %v, want %v", what, got, want)
	}
}
