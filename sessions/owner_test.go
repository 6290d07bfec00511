package sessions

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func ownerOf(principal, secret string) Owner {
	return Owner{Principal: principal, SecretHash: HashSecret([]byte(secret))}
}

func TestSessionActsOnlyForItsOwnerWithItsSecret(t *testing.T) {
	tb := newTestTable(t)
	alice := ownerOf("alice", "alice-secret")
	tb.Open(1, 0, "", 0, alice)
	cases := []struct {
		name string
		who  Owner
		want error
	}{
		{"owner with the secret", alice, nil},
		{"another principal with the secret", ownerOf("bob", "alice-secret"), ErrSessionNotOwned},
		{"root is no exception", ownerOf("root", "alice-secret"), ErrSessionNotOwned},
		{"owner with another secret", ownerOf("alice", "guess"), ErrBadSessionSecret},
		{"owner without a secret", Owner{Principal: "alice"}, ErrBadSessionSecret},
		{"owner with a truncated hash", Owner{Principal: "alice", SecretHash: alice.SecretHash[:16]}, ErrBadSessionSecret},
	}
	for _, c := range cases {
		if err := tb.Authorize(1, c.who); !errors.Is(err, c.want) {
			t.Errorf("%s: Authorize = %v, want %v", c.name, err, c.want)
		}
	}
	if err := tb.Authorize(2, alice); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("Authorize(unknown) = %v, want %v", err, ErrUnknownSession)
	}
	if info, _ := tb.Get(1); info.Owner != "alice" {
		t.Errorf("Info.Owner = %q, want alice", info.Owner)
	}
}

func TestRetriedOpenReturnsTheSessionOnlyToItsOwner(t *testing.T) {
	tb := newTestTable(t)
	alice := ownerOf("alice", "s")
	first, _, _ := tb.Open(3, 0, "k", 0, alice)
	if again, existing, err := tb.Open(4, 0, "k", 0, alice); err != nil || !existing || again.ID != first.ID {
		t.Fatalf("retry by the owner = %+v, %v, %v; want session %d", again, existing, err, first.ID)
	}
	if _, _, err := tb.Open(5, 0, "k", 0, ownerOf("bob", "s")); !errors.Is(err, ErrSessionNotOwned) {
		t.Errorf("open with alice's key by bob = %v, want %v", err, ErrSessionNotOwned)
	}
	if _, _, err := tb.Open(6, 0, "k", 0, ownerOf("alice", "other")); !errors.Is(err, ErrBadSessionSecret) {
		t.Errorf("open with alice's key and another secret = %v, want %v", err, ErrBadSessionSecret)
	}
	if tb.Len() != 1 || tb.LastID() != 3 {
		t.Errorf("refused opens changed the table: %d sessions, last ID %d", tb.Len(), tb.LastID())
	}
}

// A session restored from a snapshot written before sessions had owners
// has none: it accepts only requests without credentials (the replay of
// entries of that time), never a current request.
func TestSessionWithoutOwnerAcceptsNoCurrentRequest(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "", 0, Owner{})
	if err := tb.Authorize(1, Owner{}); err != nil {
		t.Errorf("replayed request without credentials = %v, want nil", err)
	}
	if err := tb.Authorize(1, Owner{SecretHash: HashSecret(nil)}); !errors.Is(err, ErrBadSessionSecret) {
		t.Errorf("current request with an empty secret = %v, want %v", err, ErrBadSessionSecret)
	}
}

func TestReusedSequenceNumberWithAnotherRequestIsRefused(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "", 0, Owner{})
	a, b := Digest{1}, Digest{2}
	tb.Record(1, 1, 1, a, []byte("answer to a"))
	before := mustSnapshot(t, tb)
	if _, _, err := tb.Begin(1, 1, 1, b); !errors.Is(err, ErrSequenceReused) {
		t.Fatalf("Begin(seq 1, other digest) = %v, want %v", err, ErrSequenceReused)
	}
	if resp, dup, err := tb.Begin(1, 1, 1, a); err != nil || !dup || string(resp) != "answer to a" {
		t.Fatalf("Begin(seq 1, same digest) = %q, %v, %v; want the kept answer", resp, dup, err)
	}
	if !bytes.Equal(before, mustSnapshot(t, tb)) {
		t.Fatal("a refused reuse changed the table")
	}
	// A response kept without a digest (restored from an older snapshot)
	// answers any retry.
	tb.Record(1, 2, 1, Digest{}, []byte("old"))
	if resp, dup, err := tb.Begin(1, 2, 1, b); err != nil || !dup || string(resp) != "old" {
		t.Errorf("Begin on a response without digest = %q, %v, %v; want the kept answer", resp, dup, err)
	}
}

func TestSequenceNumbersAreBoundedAboveTheMark(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "", 0, Owner{})
	for _, c := range []struct{ seq, low uint64 }{
		{MaxSeqAhead, 1},
		{math.MaxUint64, 1},
		{math.MaxUint64, math.MaxUint64},
		{MaxSeqAhead, MaxSeqAhead},
	} {
		if _, _, err := tb.Begin(1, c.seq, c.low, Digest{}); !errors.Is(err, ErrSequenceOutOfRange) {
			t.Errorf("Begin(seq %d, low %d) = %v, want %v", c.seq, c.low, err, ErrSequenceOutOfRange)
		}
	}
	// The highest seq in range is accepted and moves the mark at most to
	// itself: the next window starts there.
	top := uint64(MaxSeqAhead - 1)
	if _, _, err := tb.Begin(1, top, top, Digest{}); err != nil {
		t.Fatalf("Begin(seq %d) = %v, want accepted", top, err)
	}
	tb.Record(1, top, top, Digest{3}, nil)
	if info, _ := tb.Get(1); info.Mark != top {
		t.Fatalf("mark = %d, want %d", info.Mark, top)
	}
	if _, _, err := tb.Begin(1, top+MaxSeqAhead, top+1, Digest{}); !errors.Is(err, ErrSequenceOutOfRange) {
		t.Errorf("Begin beyond the moved window = %v, want %v", err, ErrSequenceOutOfRange)
	}
}

func TestSnapshotKeepsOwnersAndDigests(t *testing.T) {
	tb := newTestTable(t)
	alice := ownerOf("alice", "s")
	tb.Open(1, 0, "k", 0, alice)
	tb.Record(1, 1, 1, Digest{7}, []byte("r"))
	snap := mustSnapshot(t, tb)
	restored := newTestTable(t)
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if err := restored.Authorize(1, alice); err != nil {
		t.Errorf("owner after restore: %v", err)
	}
	if err := restored.Authorize(1, ownerOf("alice", "x")); !errors.Is(err, ErrBadSessionSecret) {
		t.Errorf("wrong secret after restore = %v, want %v", err, ErrBadSessionSecret)
	}
	if _, _, err := restored.Begin(1, 1, 1, Digest{8}); !errors.Is(err, ErrSequenceReused) {
		t.Errorf("reuse after restore = %v, want %v", err, ErrSequenceReused)
	}
	if !bytes.Equal(snap, mustSnapshot(t, restored)) {
		t.Error("restored table snapshots to other bytes")
	}
}

// Snapshots written before owners and digests existed still restore: their
// sessions have no owner, their responses no digest.
func TestSnapshotWithoutOwnersRestores(t *testing.T) {
	type oldResponse struct {
		Seq  uint64
		Data []byte
	}
	type oldSession struct {
		ID        uint64
		Key       string
		TTL       int64
		OpenedAt  int64
		Mark      uint64
		Responses []oldResponse
	}
	type oldTable struct {
		Version  uint8
		LastID   uint64
		Sessions []oldSession
		Ended    []snapTombstone
	}
	var old []byte
	st := oldTable{Version: 1, LastID: 4, Sessions: []oldSession{{ID: 4, TTL: int64(DefaultConfig().DefaultTTL), Mark: 1,
		Responses: []oldResponse{{Seq: 1, Data: []byte("r")}}}}}
	if err := newEncoder(&old).Encode(&st); err != nil {
		t.Fatal(err)
	}
	tb := newTestTable(t)
	if err := tb.Restore(old); err != nil {
		t.Fatalf("restore of an old snapshot: %v", err)
	}
	if info, ok := tb.Get(4); !ok || info.Owner != "" {
		t.Fatalf("restored session = %+v, %v", info, ok)
	}
	if resp, dup, err := tb.Begin(4, 1, 1, Digest{9}); err != nil || !dup || string(resp) != "r" {
		t.Errorf("old response = %q, %v, %v; want kept", resp, dup, err)
	}
	if err := tb.Authorize(4, ownerOf("", "any")); !errors.Is(err, ErrBadSessionSecret) {
		t.Errorf("current request on an old session = %v, want %v", err, ErrBadSessionSecret)
	}
}

func TestSnapshotWithBadSecretHashIsCorrupt(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "", 0, Owner{})
	tb.sessions[1].owner.SecretHash = []byte{1, 2, 3}
	if err := newTestTable(t).Restore(mustSnapshot(t, tb)); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("restore = %v, want %v", err, ErrCorruptSnapshot)
	}
}

func TestOpenRefusesAMalformedSecretHash(t *testing.T) {
	tb := newTestTable(t)
	if _, _, err := tb.Open(1, 0, "", 0, Owner{SecretHash: []byte{1, 2, 3}}); !errors.Is(err, ErrBadSessionSecret) {
		t.Fatalf("Open = %v, want %v", err, ErrBadSessionSecret)
	}
	if tb.Len() != 0 {
		t.Fatal("a refused open opened a session")
	}
}
