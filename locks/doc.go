// Package locks owns lockd's replicated lock table: who holds each named
// lock and in which mode (exclusive or shared), with which fencing token and
// value; the FIFO queue of waiters; lock-delays after a holder's session
// expired; and a per-lock revision for observers and elections.
//
// It is a deterministic data structure driven by committed commands. It
// never reads a clock (time is the leader's stamp on the command), never
// does I/O, never starts a goroutine, and iterates maps only in sorted
// order. It does not know whether a session is open: the caller checks that
// first (package sessions) and calls ReleaseSession when one ends.
//
// Rules:
//   - A request is granted at once only if no waiter is queued (FIFO, no
//     barging), no lock-delay runs, and it is compatible with the holders
//     (shared with shared). Otherwise it waits (Acquire with Wait) or gets
//     ErrLockHeld. When holders go, the head of the queue is granted: one
//     exclusive waiter, or the whole run of consecutive shared waiters.
//     Each grant is reported once, as a Grant, so the server pushes exactly
//     one wake-up per grant; a grant made in the Acquire's own answer is not
//     reported again.
//   - The fencing token of a grant is the index of the entry that made it
//     (an Acquire, Release, CancelWait, session end or Tick). Tokens of one
//     lock strictly increase from holder to holder; grants made by the same
//     entry share its index (a shared run, or locks freed by one expiry).
//   - A lock queues at most Config.MaxWaitersPerLock waiters; one more
//     waiting Acquire gets ErrTooManyWaiters. Each queue is indexed by
//     session, so finding, queuing, cancelling and granting a waiter take
//     O(1) however long the queue.
//   - A session holds or waits for a lock at most once: a second Acquire
//     gets ErrAlreadyHolder or ErrAlreadyWaiting (retries are deduplicated
//     by package sessions before they reach the table, so a retry never
//     sees these).
//   - Release and Proclaim name the token: a stale or repeated one gets
//     ErrNotHolder and changes nothing.
//   - Lock-delay: each Acquire states its delay in [0, MaxLockDelay] (there
//     is no server default; the SDK uses DefaultLockDelay, 15 s). When a
//     holder's session expires, the lock grants nothing until now + delay.
//     A closed session or a Release frees at once. The delay ends at the
//     first command applied at or after its end; the leader proposes a Tick
//     at NextDeadline so waiters are not left waiting for other traffic.
//   - The revision of a lock is the index of the last entry that changed
//     its holders or a holder's value; every such change is reported once as
//     a Change. A lock with no holders, waiters or delay is dropped; the
//     table remembers the revision of the last MaxFreed dropped locks.
//
// Per lock (F = free, not in the table; H = held, no waiters; Q = held
// with waiters, or waiting behind a lock-delay; D = in lock-delay, no
// waiters):
//
//	state  event                                → state  effects
//	F      Acquire                                H      grant, token = index, Change
//	H      Acquire compatible (shared + shared)   H      grant, Change
//	H      Acquire conflicting, try               H      ErrLockHeld
//	H      Acquire conflicting, wait              Q      queued at the tail
//	Q      Acquire (any mode)                     Q      queued at the tail (try: ErrLockHeld)
//	Q      Acquire, wait, queue at the limit      Q      ErrTooManyWaiters
//	H      Release (last holder)                  F      Change (free)
//	Q      Release / CancelWait / session end     H|Q    head run granted, one Grant each, Change
//	H      Proclaim by holder                     H      value replaced, Change
//	H|Q    session end, Closed                    F|H|Q  Lost, then as Release
//	H|Q    session end, Expired, delay > 0        D|Q    Lost, Change, no grant until now+delay
//	D|Q    Tick / any command at or after delay   F|H|Q  delay cleared, head run granted
//	any    Release/Proclaim with wrong token      same   ErrNotHolder
//	any    CancelWait by a non-waiter             same   ErrNotWaiting
//	any    bad name, value, mode or delay         same   ErrInvalidName, ErrValueTooLarge, ...
package locks
