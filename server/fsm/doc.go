// Package fsm is lockd's replicated state machine: the end of the data
// path (peer → raftnode → fsm). It composes packages sessions and locks
// behind one Machine that committed commands drive, and owns the command
// codec (the bytes of every log entry), the Result and Events of each
// applied entry, and the snapshot layout.
//
// It is deterministic: its only time is the leader's stamp on each
// Command, it iterates in sorted order, and it never does I/O, starts a
// goroutine, reads the wall clock or draws a random number. Apply decodes
// a Command, deduplicates writes through the session's response window,
// dispatches to the lock table, and returns a Result and the Events to act
// on: SessionOpened, SessionClosed, SessionExpired, Granted, Lost,
// HolderChanged. A refused command's Result.Err is a domain error (a
// sentinel of sessions, locks or this package); the package knows no wire
// codes: the server maps the errors to the client protocol's codes.
// The authorization policy (policy.go) is replicated state too: CmdGrant
// and CmdRevoke change it, and every lock write is checked against it at
// apply with the principal its Command carries, so no replica decides a
// request differently from another.
// Snapshot and Restore cover the whole state and give the same bytes for
// the same state.
//
// It must never change a stored layout (commands, bodies, stored Results,
// snapshots: entries written by one version are applied by the next), and
// never import the server, raftnode or the transport. It is not safe for
// concurrent use: its owner applies from one goroutine and serialises
// queries with it.
//
// Leader duties the Machine relies on, since nothing happens in it by
// itself: stamp every command with a time no earlier than the last applied
// one; keep session deadlines in memory (SessionDeadlines on election,
// then SessionOpened / SessionClosed / SessionExpired events of every
// applied entry) and propose CmdExpireSession when one passes; propose
// CmdTick at NextLockDeadline. (The server advances stamps from the last
// applied time by the real time elapsed on its monotonic clock, so the
// Machine's time, and every lock-delay, moves at the rate of real time.)
//
// A deduplicated write (Acquire, Release, CancelWait, Proclaim), by its
// session's sequence number:
//
//	state       event                          next        effect
//	new         applied, succeeds              answered    Result stored in the session's window
//	new         applied, refused               new         Result.Err; nothing stored, a retry applies afresh
//	new         principal lacks lock on Name   new         ErrPermissionDenied; nothing stored
//	answered    retried (same Seq)             answered    stored Result, Duplicate; nothing applied
//	answered    LowestUnanswered passes Seq    forgotten   window entry dropped
//	forgotten   retried                        forgotten   refused: sessions.ErrResponseForgotten
package fsm
