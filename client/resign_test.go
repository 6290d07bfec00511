package client

import (
	"context"
	"testing"
	"time"
)

// Resign hands leadership over in one commit: the next candidate's
// fencing token (the index of the entry that granted it) is the entry
// right after the last one committed before Resign, which is the Release
// itself. No lock-delay, tick or second write stands in between.
func TestIntegrationResignHandsOverInOneCommit(t *testing.T) {
	tc := newTestCluster(t, 1)
	ca := newTestClient(t, integrationConfig(tc))
	cb := newTestClient(t, integrationConfig(tc))
	a, b := newTestSession(t, ca), newTestSession(t, cb)
	ea := a.Election("one-commit")
	if err := ea.Campaign(testCtx(t), []byte("a")); err != nil {
		t.Fatal(err)
	}
	eb := b.Election("one-commit")
	won := goCampaign(testCtx(t), eb, "b")
	waitWaiters(t, cb, "one-commit", 1)

	srv := tc.servers[tc.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	st, err := srv.Status(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ea.Resign(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := waitCampaign(t, won); err != nil {
		t.Fatal(err)
	}
	if got, want := eb.Lock().Token(), st.Commit+1; got != want {
		t.Fatalf("next leader's token %d, want %d: the entry after the last committed before Resign (commit %d)", got, want, st.Commit)
	}
}
