// Package sessions owns lockd's replicated session table: which client
// sessions are open, their TTLs, the idempotency keys of their opens, and
// the per-session window of responses that makes every write at most once
// (after dragonboat's internal/rsm/session.go).
//
// It is a deterministic data structure driven by committed commands. It
// never reads a clock (time is the leader's stamp carried by the command,
// unix nanoseconds), never does I/O, never starts a goroutine, and iterates
// maps only in sorted order. Keep-alives are not commands: the leader keeps
// deadlines in memory (Deadlines gives a new leader its starting set) and
// proposes ExpireSession when one passes.
//
// A session's ID is the log index of the entry that opened it. Each write a
// client makes on the session carries (seq, lowestUnanswered); the session
// keeps the response of every applied request with seq >= its mark, the
// highest lowestUnanswered seen so far. Only successful requests are
// recorded: a request that fails validation changed nothing, so applying
// its retry again is safe and gives the same or a later answer.
//
// Per session (S = open, T = ended with a tombstone, U = unknown or
// tombstone forgotten):
//
//	state  event                            → state  effects
//	U      Open(key not open)                 S      new ID = entry index, TTL clamped
//	S      Open(same key, same owner)         S      returns the same session
//	S      Open(same key, other owner)        S      ErrSessionNotOwned / ErrBadSessionSecret
//	S      Authorize(other principal)         S      ErrSessionNotOwned
//	S      Authorize(other secret hash)       S      ErrBadSessionSecret
//	S      Begin(seq < max(mark, low))        S      ErrResponseForgotten
//	S      Begin(seq >= mark + MaxSeqAhead)   S      ErrSequenceOutOfRange
//	S      Begin(seq kept, same digest)       S      returns kept response (no re-apply)
//	S      Begin(seq kept, other digest)      S      ErrSequenceReused
//	S      Begin(window full)                 S      ErrTooManyResponses
//	S      Begin(new seq) + Record            S      mark = max(mark, low), drop below mark, keep response
//	S      End(Expired | Closed)              T      drop responses and key, add tombstone
//	T      Begin / End                        T      ErrSessionExpired or ErrSessionClosed
//	T      more than MaxTombstones later ends U      tombstone forgotten
//	U      Begin / End                        U      ErrUnknownSession
//
// A session belongs to an Owner: the principal that opened it and the
// SHA-256 of the secret its client chose. The caller (package fsm) checks
// every request on a session with Authorize before anything else; the
// table never sees the secret itself. Each kept response carries the
// Digest of the request it answered, so that a sequence number reused for
// a different request is refused rather than answered with another
// request's response.
//
// A retried Open after its session ended opens a new session: the client
// never learnt the first one, which therefore held nothing.
package sessions
