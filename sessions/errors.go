package sessions

import "errors"

// Errors returned to callers. They are matched with errors.Is; the server
// maps each to a numeric code on the wire and the client maps it back.
var (
	// ErrUnknownSession: no session with that ID is open, and the table does
	// not remember one ending.
	ErrUnknownSession = errors.New("sessions: unknown session")
	// ErrSessionExpired: the session ended because its TTL ran out.
	ErrSessionExpired = errors.New("sessions: session expired")
	// ErrSessionClosed: the session ended because its client closed it.
	ErrSessionClosed = errors.New("sessions: session closed")
	// ErrResponseForgotten: the request's sequence number is below the
	// session's acknowledged mark, so its response was dropped; the request
	// may or may not have been applied, and it will not be applied now.
	ErrResponseForgotten = errors.New("sessions: response forgotten")
	// ErrTooManyResponses: the session already keeps Config.MaxResponses
	// unacknowledged responses; the request was not applied.
	ErrTooManyResponses = errors.New("sessions: too many unacknowledged responses")
	// ErrSessionNotOwned: the request comes from another principal than
	// the one that opened the session; it changed nothing.
	ErrSessionNotOwned = errors.New("sessions: session not owned by the caller")
	// ErrBadSessionSecret: the request does not carry the session's secret;
	// it changed nothing.
	ErrBadSessionSecret = errors.New("sessions: wrong session secret")
	// ErrSequenceReused: the sequence number already answered a different
	// request in this session; the request was not applied.
	ErrSequenceReused = errors.New("sessions: sequence number reused for a different request")
	// ErrSequenceOutOfRange: the sequence number lies MaxSeqAhead or more
	// above the session's mark; the request was not applied.
	ErrSequenceOutOfRange = errors.New("sessions: sequence number out of range")
	// ErrInvalidKey: the idempotency key of an open is too long.
	ErrInvalidKey = errors.New("sessions: invalid idempotency key")
	// ErrInvalidConfig: a Config field is out of range.
	ErrInvalidConfig = errors.New("sessions: invalid config")
	// ErrCorruptSnapshot: snapshot bytes do not decode or break an invariant.
	ErrCorruptSnapshot = errors.New("sessions: corrupt snapshot")
)
