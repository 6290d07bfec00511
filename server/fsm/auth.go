package fsm

import (
	"crypto/sha256"

	"github.com/lockd/lockd/sessions"
)

// Who may act on a session, and which request a kept answer belongs to.
//
// Every client command on a session (close, and the deduplicated writes)
// is checked at apply against the session's owner: the proposing
// principal and the hash of the secret, both carried by the envelope,
// must be the ones the session was opened with. The check is part of the
// replicated state machine, so every replica decides it alike, and a
// refused command changes nothing but the applied index and time.

// ownerOf is the proposer of cmd, as the session table compares it.
func ownerOf(cmd Command) sessions.Owner {
	return sessions.Owner{Principal: cmd.Principal, SecretHash: cmd.SecretHash}
}

// digestOf identifies a deduplicated request by its type and body (the
// body's encoding is deterministic): the first 16 bytes of the SHA-256 of
// the type byte followed by the body. A retry has the same digest; another
// request with the same sequence number has another.
func digestOf(cmd Command) sessions.Digest {
	var scratch [512]byte // most bodies fit: no allocation on the apply path
	b := append(append(scratch[:0], byte(cmd.Type)), cmd.Body...)
	sum := sha256.Sum256(b)
	var d sessions.Digest
	copy(d[:], sum[:])
	return d
}

// AuthorizeSession reports whether who may act on session id, by the
// applied state: nil, the session's Check error if it is not open, or
// sessions.ErrSessionNotOwned or sessions.ErrBadSessionSecret. The server
// uses it for what is not logged (keep-alives, attaching a session's
// events to a connection) and to refuse a stranger early.
func (f *Machine) AuthorizeSession(id uint64, who sessions.Owner) error {
	return f.sessions.Authorize(sessions.ID(id), who)
}
