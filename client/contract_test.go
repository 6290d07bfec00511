package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// The API of issue 5 is a contract other code is written against: these
// assignments stop compiling if a name or signature changes.
var (
	_ func(Config) (*Client, error)                                           = New
	_ func(*Client) error                                                     = (*Client).Close
	_ func(*Client, context.Context, ...SessionOption) (*Session, error)      = (*Client).NewSession
	_ func(time.Duration) SessionOption                                       = WithTTL
	_ func(*Session) uint64                                                   = (*Session).ID
	_ func(*Session, context.Context, string, ...LockOption) (*Lock, error)   = (*Session).Acquire
	_ func(*Session, context.Context, string, ...LockOption) (*Lock, error)   = (*Session).TryAcquire
	_ func() LockOption                                                       = Shared
	_ func([]byte) LockOption                                                 = WithValue
	_ func(time.Duration) LockOption                                          = WithLockDelay
	_ func(*Lock) uint64                                                      = (*Lock).Token
	_ func(*Lock) <-chan struct{}                                             = (*Lock).Lost
	_ func(*Lock, context.Context) error                                      = (*Lock).Release
	_ func(*Client, context.Context, string, uint64) (bool, error)            = (*Client).CheckToken
	_ func(*Session, string, ...ElectionOption) *Election                     = (*Session).Election
	_ func(*Election, context.Context, []byte) error                          = (*Election).Campaign
	_ func(*Election, context.Context, []byte) error                          = (*Election).Proclaim
	_ func(*Election, context.Context) error                                  = (*Election).Resign
	_ func(*Election, context.Context) (LeaderInfo, error)                    = (*Election).Leader
	_ func(*Election, context.Context) <-chan LeaderInfo                      = (*Election).Observe
	_ func(*Session) <-chan struct{}                                          = (*Session).Done
	_ func(*Session, context.Context) error                                   = (*Session).Close
	_ func(*Session) SessionState                                             = (*Session).State
	_ func(*Session, context.Context, SessionState) (SessionState, error)     = (*Session).WaitState
	_ func() ReadOption                                                       = WithStale
	_ func(*Client, context.Context, string, ...ReadOption) (LockInfo, error) = (*Client).GetLock
)

// The re-exported sentinels are the api's, so errors.Is matches either.
func TestSentinelsAreTheAPISentinels(t *testing.T) {
	for _, tc := range []struct{ ours, theirs error }{
		{ErrLockHeld, api.ErrLockHeld}, {ErrSessionExpired, api.ErrSessionExpired},
		{ErrNotLeader, api.ErrNotLeader}, {ErrNoQuorum, api.ErrNoQuorum},
		{ErrFenced, api.ErrNotHolder}, {ErrUnknownMember, api.ErrUnknownMember},
	} {
		if tc.ours != tc.theirs {
			t.Errorf("%v is not the api sentinel %v", tc.ours, tc.theirs)
		}
	}
	// Every code the server may send maps back to its sentinel.
	for code, sentinel := range api.Codes() {
		err := remoteErr(&rpc.RemoteError{Code: uint32(code), Message: "m"})
		if !errors.Is(err, sentinel) {
			t.Errorf("code %d maps to %v, want %v", code, err, sentinel)
		}
	}
}
