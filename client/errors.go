package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// Errors from the server: the api sentinels, re-exported. Every error the
// server sends maps back to one of them; match with errors.Is.
var (
	ErrLockHeld          = api.ErrLockHeld
	ErrSessionExpired    = api.ErrSessionExpired
	ErrSessionClosed     = api.ErrSessionClosed
	ErrUnknownSession    = api.ErrUnknownSession
	ErrNotHolder         = api.ErrNotHolder
	ErrNotWaiting        = api.ErrNotWaiting
	ErrAlreadyHolder     = api.ErrAlreadyHolder
	ErrAlreadyWaiting    = api.ErrAlreadyWaiting
	ErrInvalidName       = api.ErrInvalidName
	ErrValueTooLarge     = api.ErrValueTooLarge
	ErrInvalidMode       = api.ErrInvalidMode
	ErrInvalidLockDelay  = api.ErrInvalidLockDelay
	ErrResponseForgotten = api.ErrResponseForgotten
	ErrTooManyResponses  = api.ErrTooManyResponses
	ErrNotLeader         = api.ErrNotLeader
	ErrNoQuorum          = api.ErrNoQuorum
	ErrInvalidRequest    = api.ErrInvalidRequest
	ErrUnavailable       = api.ErrUnavailable
	ErrUnknownMember     = api.ErrUnknownMember
	ErrUnsafeChange      = api.ErrUnsafeChange
	ErrChangeInProgress  = api.ErrChangeInProgress
	ErrSnapshotGone      = api.ErrSnapshotGone
	ErrLimitExceeded     = api.ErrLimitExceeded
	// ErrPermissionDenied: the client's principal (the name in its
	// certificate) lacks the permission the request needs; retrying will
	// not help until an administrator grants it.
	ErrPermissionDenied = api.ErrPermissionDenied
	ErrUnknownCode      = api.ErrUnknownCode
	// ErrSessionNotOwned: the session was opened by another principal.
	ErrSessionNotOwned = api.ErrSessionNotOwned
	// ErrBadSessionSecret: the request did not carry the session's secret.
	ErrBadSessionSecret = api.ErrBadSessionSecret
	// ErrSequenceReused: a sequence number of the session answered a
	// different request (a client bug, or another party using the session).
	ErrSequenceReused = api.ErrSequenceReused
	// ErrSequenceOutOfRange: a sequence number far above the session's.
	ErrSequenceOutOfRange = api.ErrSequenceOutOfRange

	// ErrFenced: a lock's token is no longer current (released, lost with
	// its session, or replaced by a newer holder), so the server refused a
	// Release or Proclaim that named it. It is the same sentinel as
	// ErrNotHolder: errors.Is matches either name.
	ErrFenced = api.ErrNotHolder
)

// Errors of the SDK itself.
var (
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client: closed")
	// ErrInvalidConfig: New was given an unusable Config.
	ErrInvalidConfig = errors.New("client: invalid config")
	// ErrNoEndpoint: no endpoint could be reached in one round of attempts.
	ErrNoEndpoint = errors.New("client: no endpoint reachable")
	// ErrNoElectionLeader: an election has no leader at the moment.
	ErrNoElectionLeader = errors.New("client: election has no leader")
	// ErrNotElected: Proclaim by an Election that does not lead.
	ErrNotElected = errors.New("client: not the election leader")
	// ErrSnapshotCorrupt: a fetched backup does not match its checksum or
	// length.
	ErrSnapshotCorrupt = errors.New("client: snapshot corrupt")
	// ErrJeopardy: the cause of a Lock's Context cancelled because its
	// session went into jeopardy: the lock may no longer be held.
	ErrJeopardy = errors.New("client: session in jeopardy: the lock may no longer be held")
)

// remoteErr maps an error returned by rpc.ClientConn.Call to the api
// sentinel of its code; other errors are returned as they are.
func remoteErr(err error) error {
	var re *rpc.RemoteError
	if !errors.As(err, &re) {
		return err
	}
	switch re.Code {
	case rpc.CodeShuttingDown:
		return fmt.Errorf("%w: %s", ErrUnavailable, re.Message)
	case rpc.CodeCanceled:
		return fmt.Errorf("client: server: %w: %s", context.Canceled, re.Message)
	case rpc.CodeDeadlineExceeded:
		return fmt.Errorf("client: server: %w: %s", context.DeadlineExceeded, re.Message)
	case rpc.CodeInternal:
		return fmt.Errorf("client: server internal error: %s", re.Message)
	}
	return api.FromCode(api.Code(re.Code), re.Message)
}

// notLeaderHint returns the leader address a NotLeader error names, and
// whether err is one.
func notLeaderHint(err error) (string, bool) {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == api.CodeNotLeader {
		return ae.Message, true
	}
	return "", false
}

// retryable reports whether a failed attempt may be repeated (on another
// connection): the request was not applied, or is deduplicated by the
// server if it was. A broken connection is retryable by its class,
// rpc.ErrConnLost, whatever broke it (a test's fault injector included); a
// failed dial never reaches here unwrapped, the connector reports a round
// of them as ErrNoEndpoint.
func retryable(err error) bool {
	switch {
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoQuorum), errors.Is(err, ErrUnavailable):
		return true
	case errors.Is(err, rpc.ErrConnLost), errors.Is(err, ErrNoEndpoint):
		return true
	case errors.Is(err, errAttemptTimeout), errors.Is(err, errConnDropped):
		return true
	}
	return false
}

// Internal causes of a retry.
var (
	errAttemptTimeout = errors.New("client: attempt timed out")
	errConnDropped    = errors.New("client: connection dropped")
)
