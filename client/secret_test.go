package client

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockd/lockd/api"
)

// The fake cluster refuses, as the real one does, every request on a
// session without the session's secret; every other test of this package
// therefore also checks that the SDK sends it. Here: each session draws its
// own secret, the write headers carry it, and a session that lost it gets
// ErrBadSessionSecret.
func TestSessionSecretTravelsWithEveryRequest(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	c := newTestClient(t, testConfig(fc.addrs()...))
	s1, s2 := newTestSession(t, c), newTestSession(t, c)
	if len(s1.secret) != api.SessionSecretSize || bytes.Equal(s1.secret, s2.secret) {
		t.Fatalf("secrets %x and %x: want two distinct %d-byte secrets", s1.secret, s2.secret, api.SessionSecretSize)
	}
	l, err := s1.Acquire(testCtx(t), "secret/a")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, w := range fc.writesOf(api.MsgAcquire) {
		if !bytes.Equal(w.Secret, s1.secret) {
			t.Fatalf("acquire header %+v does not carry the session's secret", w)
		}
	}
	// A session whose secret is not the server's is refused with the typed
	// error (negative control of the fake's check).
	fc.set(func(fc *fakeCluster) { fc.sessions[s2.ID()].secret = bytes.Repeat([]byte{1}, api.SessionSecretSize) })
	if _, err := s2.Acquire(testCtx(t), "secret/b"); !errors.Is(err, ErrBadSessionSecret) {
		t.Fatalf("acquire with a wrong secret = %v, want %v", err, ErrBadSessionSecret)
	}
	if err := s2.Close(testCtx(t)); !errors.Is(err, ErrBadSessionSecret) {
		t.Fatalf("close with a wrong secret = %v, want %v", err, ErrBadSessionSecret)
	}
}

// The session codes map back to the SDK's sentinels.
func TestSessionRefusalCodesMapToSentinels(t *testing.T) {
	for code, want := range map[api.Code]error{
		api.CodeSessionNotOwned:    ErrSessionNotOwned,
		api.CodeBadSessionSecret:   ErrBadSessionSecret,
		api.CodeSequenceReused:     ErrSequenceReused,
		api.CodeSequenceOutOfRange: ErrSequenceOutOfRange,
	} {
		if err := api.FromCode(code, "m"); !errors.Is(err, want) {
			t.Errorf("code %d = %v, want %v", code, err, want)
		}
	}
}
