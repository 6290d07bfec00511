package server

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/raftnode"
	"github.com/lockd/lockd/sessions"
)

// Every row's code is one the client knows, and means on the client what
// the row's sentinel means on the server; every refusal code the client
// knows (100..199) has a row.
func TestWireCodesMeanWhatTheClientSentinelsSay(t *testing.T) {
	meaning := map[error]error{
		fsm.ErrBadCommand:               api.ErrBadCommand,
		sessions.ErrUnknownSession:      api.ErrUnknownSession,
		sessions.ErrSessionExpired:      api.ErrSessionExpired,
		sessions.ErrSessionClosed:       api.ErrSessionClosed,
		sessions.ErrResponseForgotten:   api.ErrResponseForgotten,
		sessions.ErrTooManyResponses:    api.ErrTooManyResponses,
		sessions.ErrInvalidKey:          api.ErrInvalidKey,
		sessions.ErrSessionNotOwned:     api.ErrSessionNotOwned,
		sessions.ErrBadSessionSecret:    api.ErrBadSessionSecret,
		sessions.ErrSequenceReused:      api.ErrSequenceReused,
		sessions.ErrSequenceOutOfRange:  api.ErrSequenceOutOfRange,
		locks.ErrInvalidName:            api.ErrInvalidName,
		locks.ErrValueTooLarge:          api.ErrValueTooLarge,
		locks.ErrInvalidMode:            api.ErrInvalidMode,
		locks.ErrInvalidLockDelay:       api.ErrInvalidLockDelay,
		locks.ErrLockHeld:               api.ErrLockHeld,
		locks.ErrNotHolder:              api.ErrNotHolder,
		locks.ErrNotWaiting:             api.ErrNotWaiting,
		locks.ErrAlreadyHolder:          api.ErrAlreadyHolder,
		locks.ErrAlreadyWaiting:         api.ErrAlreadyWaiting,
		locks.ErrTooManyWaiters:         api.ErrLimitExceeded,
		fsm.ErrPermissionDenied:         api.ErrPermissionDenied,
		fsm.ErrInvalidGrant:             api.ErrInvalidRequest,
		fsm.ErrTooManyGrants:            api.ErrLimitExceeded,
		raftnode.ErrProposalLost:        api.ErrNotLeader,
		raftnode.ErrReadDropped:         api.ErrNotLeader,
		consensus.ErrNotLeader:          api.ErrNotLeader,
		consensus.ErrNoLeader:           api.ErrNotLeader,
		consensus.ErrTransferInProgress: api.ErrNotLeader,
		consensus.ErrProposalDropped:    api.ErrNotLeader,
		raftnode.ErrStopped:             api.ErrUnavailable,
		consensus.ErrConfChangePending:  api.ErrChangeInProgress,
		consensus.ErrUnknownNode:        api.ErrUnknownMember,
		consensus.ErrInvalidConfChange:  api.ErrInvalidRequest,
	}
	client := api.Codes()
	rowOf := map[api.Code]bool{}
	for _, r := range wireCodes {
		rowOf[r.code] = true
		want, ok := meaning[r.err]
		if !ok {
			t.Errorf("row %v -> %d has no client meaning in this test", r.err, r.code)
			continue
		}
		if got := client[r.code]; got != want {
			t.Errorf("code %d is %v on the server but %v on the client", r.code, r.err, got)
		}
		// The client rebuilds the error from the wire code.
		if err := api.FromCode(r.code, "m"); !errors.Is(err, want) {
			t.Errorf("api.FromCode(%d) = %v, want %v", r.code, err, want)
		}
		// An error matches no row of another code.
		wrapped := fmt.Errorf("context: %w", r.err)
		if got, ok := wireCode(wrapped); !ok || got.code != r.code {
			t.Errorf("wireCode(%v) = %+v %v, want code %d", wrapped, got, ok, r.code)
		}
		for _, other := range wireCodes {
			if other.code != r.code && errors.Is(wrapped, other.err) {
				t.Errorf("%v also matches %v (code %d)", r.err, other.err, other.code)
			}
		}
	}
	if len(meaning) != len(wireCodes) {
		t.Errorf("%d rows, %d meanings: a row is listed twice", len(wireCodes), len(meaning))
	}
	for code := range client {
		if code >= 100 && code < 200 && !rowOf[code] {
			t.Errorf("client code %d has no row", code)
		}
	}
	if _, ok := wireCode(errors.New("other")); ok {
		t.Error("an error of no domain package has a wire code")
	}
}

// A refused command's error reaches the client as its code and the
// message without the code's sentinel, which the client's own sentinel
// for the code replaces: "lockd: invalid lock delay: 1m1s not in
// [0, 1m0s]", not "lockd: invalid lock delay: locks: invalid lock delay:
// ...".
func TestRefusalDetailOmitsTheSentinel(t *testing.T) {
	for _, r := range wireCodes {
		got := refusal(fmt.Errorf("%w: session 7 on %q", r.err, "a"))
		if got.Code != r.code || got.Message != `session 7 on "a"` {
			t.Errorf("%v: refusal %+v, want code %d and the detail alone", r.err, got, r.code)
		}
		if got := refusal(r.err); got.Code != r.code || got.Message != "" {
			t.Errorf("%v, the bare sentinel: refusal %+v, want no message", r.err, got)
		}
	}
	got := refusal(fmt.Errorf("%w: %v not in [0, %v]", locks.ErrInvalidLockDelay, 61*time.Second, time.Minute))
	if want := "lockd: invalid lock delay: 1m1s not in [0, 1m0s]"; got.Error() != want {
		t.Errorf("lock-delay: %q, want %q", got.Error(), want)
	}
	if got := refusal(fmt.Errorf("in other words: %w", locks.ErrLockHeld)); got.Code != api.CodeLockHeld ||
		got.Message != "in other words: locks: lock held" {
		t.Errorf("a message not led by the sentinel: %+v, want it whole", got)
	}
	if got := refusal(errors.New("no sentinel")); got.Code != api.CodeUnavailable {
		t.Errorf("a refusal without a row: %+v, want CodeUnavailable", got)
	}
}
