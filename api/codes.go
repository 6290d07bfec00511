package api

import (
	"errors"
	"fmt"
	"maps"
)

// Code is an error's number on the wire (an rpc remote-error code). rpc
// reserves codes below 100; the replicated state machine's refusals use
// 100..199 (101 is reserved: it was a server-internal code) and other
// server errors 200 and up. The server maps its domain errors to these
// codes in one table (server/codes.go); the client maps them back to the
// sentinels below. Never renumber.
type Code uint32

const (
	CodeOK                Code = 0
	CodeBadCommand        Code = 100
	CodeUnknownSession    Code = 110
	CodeSessionExpired    Code = 111
	CodeSessionClosed     Code = 112
	CodeResponseForgotten Code = 113
	CodeTooManyResponses  Code = 114
	CodeInvalidKey        Code = 115
	CodeInvalidName       Code = 120
	CodeValueTooLarge     Code = 121
	CodeInvalidMode       Code = 122
	CodeInvalidLockDelay  Code = 123
	CodeLockHeld          Code = 124
	CodeNotHolder         Code = 125
	CodeNotWaiting        Code = 126
	CodeAlreadyHolder     Code = 127
	CodeAlreadyWaiting    Code = 128

	// CodeNotLeader: this node is not the leader; the message is the
	// leader's client address, or empty if no leader is known.
	CodeNotLeader Code = 200
	// CodeNoQuorum: the request could not be committed or confirmed in
	// time; the cluster may lack a quorum.
	CodeNoQuorum Code = 201
	// CodeInvalidRequest: a malformed request (bad TTL, empty name, ...).
	CodeInvalidRequest Code = 202
	// CodeUnavailable: the node is shutting down or has failed.
	CodeUnavailable Code = 203
	// CodeUnknownMember: a membership request names no member.
	CodeUnknownMember Code = 204
	// CodeUnsafeChange: a membership change would lose the quorum or
	// promote a learner that has not caught up; Force overrides.
	CodeUnsafeChange Code = 205
	// CodeChangeInProgress: another membership change is not yet applied.
	CodeChangeInProgress Code = 206
	// CodeSnapshotGone: the backup being fetched was replaced; start over.
	CodeSnapshotGone Code = 207
	// CodeLimitExceeded: the cluster holds as many sessions, the session
	// as many locks, or the lock as many waiters, as the server allows;
	// close some first.
	CodeLimitExceeded Code = 208
	// CodePermissionDenied: the client's principal lacks the permission
	// the request needs (docs/SECURITY.md).
	CodePermissionDenied Code = 209
	// CodeSessionNotOwned: the session was opened by another principal;
	// nothing was done.
	CodeSessionNotOwned Code = 210
	// CodeBadSessionSecret: the request did not carry the session's
	// secret; nothing was done.
	CodeBadSessionSecret Code = 211
	// CodeSequenceReused: the sequence number already answered a different
	// request in this session; nothing was done.
	CodeSequenceReused Code = 212
	// CodeSequenceOutOfRange: the sequence number lies 2^32 or more above
	// the session's lowest kept one; nothing was done.
	CodeSequenceOutOfRange Code = 213
)

// Sentinel errors the codes map to. The client SDK re-exports them; match
// them with errors.Is.
var (
	ErrBadCommand        = errors.New("lockd: bad command")
	ErrUnknownSession    = errors.New("lockd: unknown session")
	ErrSessionExpired    = errors.New("lockd: session expired")
	ErrSessionClosed     = errors.New("lockd: session closed")
	ErrResponseForgotten = errors.New("lockd: response already forgotten")
	ErrTooManyResponses  = errors.New("lockd: too many unanswered requests in session")
	ErrInvalidKey        = errors.New("lockd: invalid idempotency key")
	ErrInvalidName       = errors.New("lockd: invalid lock name")
	ErrValueTooLarge     = errors.New("lockd: value too large")
	ErrInvalidMode       = errors.New("lockd: invalid lock mode")
	ErrInvalidLockDelay  = errors.New("lockd: invalid lock delay")
	ErrLockHeld          = errors.New("lockd: lock held")
	ErrNotHolder         = errors.New("lockd: not the lock holder")
	ErrNotWaiting        = errors.New("lockd: not waiting for the lock")
	ErrAlreadyHolder     = errors.New("lockd: already holds the lock")
	ErrAlreadyWaiting    = errors.New("lockd: already waiting for the lock")
	ErrNotLeader         = errors.New("lockd: not the leader")
	ErrNoQuorum          = errors.New("lockd: no quorum")
	ErrInvalidRequest    = errors.New("lockd: invalid request")
	ErrUnavailable       = errors.New("lockd: node unavailable")
	ErrUnknownMember     = errors.New("lockd: unknown member")
	ErrUnsafeChange      = errors.New("lockd: unsafe membership change")
	ErrChangeInProgress  = errors.New("lockd: membership change in progress")
	ErrSnapshotGone      = errors.New("lockd: snapshot replaced")
	ErrLimitExceeded     = errors.New("lockd: limit exceeded")
	ErrPermissionDenied  = errors.New("lockd: permission denied")
	ErrUnknownCode       = errors.New("lockd: unknown error code")
)

// Sentinels of the refusals of a request on a session that is not the
// caller's, or that misuses the session's sequence numbers.
var (
	ErrSessionNotOwned    = errors.New("lockd: session not owned by the caller")
	ErrBadSessionSecret   = errors.New("lockd: wrong session secret")
	ErrSequenceReused     = errors.New("lockd: sequence number reused for a different request")
	ErrSequenceOutOfRange = errors.New("lockd: sequence number out of range")
)

// sentinels maps every code to its sentinel. It is built once, at package
// initialization, and never written: Codes hands out copies.
var sentinels = map[Code]error{
	CodeBadCommand: ErrBadCommand, CodeUnknownSession: ErrUnknownSession,
	CodeSessionExpired: ErrSessionExpired, CodeSessionClosed: ErrSessionClosed,
	CodeResponseForgotten: ErrResponseForgotten, CodeTooManyResponses: ErrTooManyResponses,
	CodeInvalidKey: ErrInvalidKey, CodeInvalidName: ErrInvalidName,
	CodeValueTooLarge: ErrValueTooLarge, CodeInvalidMode: ErrInvalidMode,
	CodeInvalidLockDelay: ErrInvalidLockDelay, CodeLockHeld: ErrLockHeld,
	CodeNotHolder: ErrNotHolder, CodeNotWaiting: ErrNotWaiting,
	CodeAlreadyHolder: ErrAlreadyHolder, CodeAlreadyWaiting: ErrAlreadyWaiting,
	CodeNotLeader: ErrNotLeader, CodeNoQuorum: ErrNoQuorum,
	CodeInvalidRequest: ErrInvalidRequest, CodeUnavailable: ErrUnavailable,
	CodeUnknownMember: ErrUnknownMember, CodeUnsafeChange: ErrUnsafeChange,
	CodeChangeInProgress: ErrChangeInProgress, CodeSnapshotGone: ErrSnapshotGone,
	CodeLimitExceeded:    ErrLimitExceeded,
	CodePermissionDenied: ErrPermissionDenied,
	CodeSessionNotOwned:  ErrSessionNotOwned, CodeBadSessionSecret: ErrBadSessionSecret,
	CodeSequenceReused: ErrSequenceReused, CodeSequenceOutOfRange: ErrSequenceOutOfRange,
}

// Codes returns every code with its sentinel, in a map of the caller's
// own.
func Codes() map[Code]error { return maps.Clone(sentinels) }

// Error is a remote error as the client sees it: it matches its code's
// sentinel with errors.Is and keeps the server's message.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if s, ok := sentinels[e.Code]; ok {
		if e.Message == "" {
			return s.Error()
		}
		return fmt.Sprintf("%s: %s", s.Error(), e.Message)
	}
	return fmt.Sprintf("%v %d: %s", ErrUnknownCode, e.Code, e.Message)
}

// Unwrap returns the code's sentinel, or ErrUnknownCode.
func (e *Error) Unwrap() error {
	if s, ok := sentinels[e.Code]; ok {
		return s
	}
	return ErrUnknownCode
}

// RPCCode lets rpc send e with its code (rpc.Coder).
func (e *Error) RPCCode() uint32 { return uint32(e.Code) }

// Errorf returns an *Error with code c.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// FromCode rebuilds the error for a wire code and message; nil for CodeOK.
func FromCode(c Code, message string) error {
	if c == CodeOK {
		return nil
	}
	return &Error{Code: c, Message: message}
}
