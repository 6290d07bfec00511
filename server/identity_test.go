package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oneNodeConfig is a node n1 alone at peer address peer.
func oneNodeConfig(t *testing.T, dir, peer, client string) Config {
	cfg := DefaultConfig()
	cfg.ID, cfg.DataDir = "n1", dir
	cfg.PeerAddr, cfg.ClientAddr = peer, client
	cfg.InitialCluster = map[string]string{"n1": peer}
	return cfg
}

// runUntilLeader starts cfg, waits until it leads, checks its status names
// wantID and closes it.
func runUntilLeader(t *testing.T, cfg Config, wantID string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svcWait(t, "n1 to lead", 20*time.Second, s.node.IsLeader)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil || st.ClusterID != wantID || s.ClusterID() != wantID {
		t.Fatalf("status %+v, %v; ClusterID %q; want cluster ID %q", st, err, s.ClusterID(), wantID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A data directory remembers the cluster it was bootstrapped for: a
// restart whose InitialCluster names another cluster (the same node
// with two more members, or another token) is refused, with nothing
// started; a restart with the same InitialCluster or none runs.
func TestDataDirectoryRefusesAnotherInitialCluster(t *testing.T) {
	a := svcFreeAddrs(t, 4)
	dir := filepath.Join(t.TempDir(), "d1")
	cfg := oneNodeConfig(t, dir, a[0], a[1])
	id := ClusterID(cfg.InitialCluster, "")
	runUntilLeader(t, cfg, id)

	grown := cfg
	grown.InitialCluster = map[string]string{"n1": a[0], "n2": a[2], "n3": a[3]}
	_, err := New(grown)
	var me *ClusterMismatchError
	if !errors.Is(err, ErrClusterMismatch) || !errors.As(err, &me) {
		t.Fatalf("New with a grown InitialCluster: %v, want a *ClusterMismatchError", err)
	}
	if me.RecordedID != id || FormatMembers(me.Recorded) != "n1="+a[0] || me.TokenOnly() ||
		!strings.Contains(err.Error(), "bootstrapped for cluster n1="+a[0]) {
		t.Fatalf("mismatch %+v: %v", me, err)
	}
	// The refused start let go of its ports.
	for _, addr := range a[:2] {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %s still taken after a refused start: %v", addr, err)
		}
		ln.Close()
	}

	tokened := cfg
	tokened.InitialClusterToken = "other"
	if _, err := New(tokened); !errors.As(err, &me) || !me.TokenOnly() {
		t.Fatalf("New with another token: %v, want a token-only mismatch", err)
	}

	runUntilLeader(t, cfg, id) // the same InitialCluster
	bare := cfg
	bare.InitialCluster = nil
	runUntilLeader(t, bare, id) // none
}

// Founding members compute the same cluster ID from the same members in
// any order; the token and every address change it.
func TestClusterIDIsDerivedFromMembersAndToken(t *testing.T) {
	m := map[string]string{"n1": "h1:7100", "n2": "h2:7100", "n3": "h3:7100"}
	same := map[string]string{"n3": "h3:7100", "n1": "h1:7100", "n2": "h2:7100"}
	if ClusterID(m, "") != ClusterID(same, "") {
		t.Fatal("the same members give different IDs")
	}
	moved := map[string]string{"n1": "h1:7100", "n2": "h2:7100", "n3": "h4:7100"}
	for name, other := range map[string]string{
		"token": ClusterID(m, "t"), "address": ClusterID(moved, ""), "fewer": ClusterID(map[string]string{"n1": "h1:7100"}, ""),
	} {
		if other == ClusterID(m, "") {
			t.Errorf("another %s gives the same ID", name)
		}
	}
	if got := ClusterID(m, ""); len(got) != 16 {
		t.Fatalf("ClusterID %q, want 16 hex digits", got)
	}
}

// Both ports are bound before anything is written: a taken peer port
// fails New with the data directory never created, and a retry once the
// port is free bootstraps.
func TestTakenPortFailsBeforeTheDataDirectoryIsWritten(t *testing.T) {
	a := svcFreeAddrs(t, 2)
	taken, err := net.Listen("tcp", a[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "d1")
	cfg := oneNodeConfig(t, dir, a[0], a[1])
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "peer listener") {
		t.Fatalf("New on a taken peer port: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory exists after a failed start (stat: %v)", err)
	}
	taken.Close()
	runUntilLeader(t, cfg, ClusterID(cfg.InitialCluster, ""))
}

// A lone node without InitialCluster or Join refuses an empty data
// directory without creating it.
func TestLoneNodeWithoutInitialClusterIsRefusedAndWritesNothing(t *testing.T) {
	a := svcFreeAddrs(t, 2)
	dir := filepath.Join(t.TempDir(), "d1")
	cfg := oneNodeConfig(t, dir, a[0], a[1])
	cfg.InitialCluster = nil
	if _, err := New(cfg); !errors.Is(err, ErrNoBootstrap) {
		t.Fatalf("New: %v, want ErrNoBootstrap", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory exists after a refused start (stat: %v)", err)
	}
}

// After membership changes, an InitialCluster that lists the members as
// they are now passes too; one that lists neither them nor the founding
// members does not.
func TestInitialClusterOfTheCurrentMembersPasses(t *testing.T) {
	cfg := Config{DataDir: "d1", InitialCluster: map[string]string{"n1": "a:1", "n3": "c:1", "n4": "d:1"}}
	rec := &clusterRecord{ClusterID: ClusterID(map[string]string{"n1": "a:1", "n2": "b:1", "n3": "c:1"}, ""),
		Members: map[string]string{"n1": "a:1", "n2": "b:1", "n3": "c:1"}}
	if err := cfg.checkClusterRecord(rec, map[string]string{"n1": "a:1", "n3": "c:1", "n4": "d:1"}); err != nil {
		t.Fatalf("the current members: %v", err)
	}
	if err := cfg.checkClusterRecord(rec, map[string]string{"n1": "a:1", "n3": "c:1"}); !errors.Is(err, ErrClusterMismatch) {
		t.Fatalf("neither founding nor current: %v, want ErrClusterMismatch", err)
	}
}
