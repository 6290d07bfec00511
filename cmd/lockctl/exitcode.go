package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/server"
)

// Exit codes of lockctl. They are part of its interface (docs/LOCKCTL.md):
// never renumber them. `lock` passes its command's own exit code on
// instead, and a lockctl stopped by a signal before its command started
// exits with 128+signal like a shell would.
const (
	exitOK        = 0 // success
	exitError     = 1 // any other failure
	exitUsage     = 2 // bad usage: unknown command or flag, missing or bad argument
	exitLockHeld  = 3 // the lock is held (--try, or --wait ran out)
	exitLockLost  = 4 // the lock or the election was lost while held
	exitNoQuorum  = 5 // no quorum, or the cluster did not answer in time
	exitNotFound  = 6 // unknown lock, session or member
	exitGaveUp    = 7 // the session ended while waiting: the lock (or leadership) was never held
	exitTLS       = 8 // a certificate or TLS problem: unusable files, a certificate refused, TLS on one side only
	exitDenied    = 9 // permission denied: the certificate's principal lacks a grant
	exitSignalled = 128
)

// Errors of lockctl itself; each maps to an exit code in exitCode. run
// prints every error with a "lockctl: " prefix.
var (
	// errUsage: the command line is wrong (exit 2).
	errUsage = errors.New("bad usage")
	// errLockLost: a held lock or leadership ended while held (exit 4).
	errLockLost = errors.New("lock lost")
	// errNotFound: the lock, session or member does not exist (exit 6).
	errNotFound = errors.New("not found")
	// errNoLeader: nodes answered but none of them knows a leader (exit 5).
	errNoLeader = errors.New("cluster has no leader")
	// errWaitExpired: --wait ran out while queued for the lock (exit 3).
	errWaitExpired = errors.New("lock still held when --wait ran out")
	// errGaveUpWaiting: the session ended (expired, e.g. without a quorum
	// for its TTL) while waiting for a lock or leadership that it never
	// held (exit 7). It wraps the SDK's error, which exitCode must not
	// take for a loss.
	errGaveUpWaiting = errors.New("gave up waiting")
)

// usagef returns a usage error (exit 2) with a message.
func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// exitStatus is an error that carries an exact exit code: a command's own
// code passed on by `lock`, or 128+signal.
type exitStatus struct {
	code int
	why  string
}

func (e *exitStatus) Error() string { return e.why }

// exitCode maps an error to lockctl's exit code. It matches sentinels with
// errors.Is only; the order puts the most specific outcome first.
func exitCode(err error) int {
	var es *exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &es):
		return es.code
	case errors.Is(err, client.ErrPermissionDenied):
		return exitDenied
	case errors.Is(err, errUsage),
		errors.Is(err, client.ErrInvalidConfig),
		errors.Is(err, client.ErrInvalidName),
		errors.Is(err, client.ErrValueTooLarge),
		errors.Is(err, client.ErrInvalidLockDelay),
		errors.Is(err, client.ErrInvalidMode),
		errors.Is(err, server.ErrRestore):
		return exitUsage
	case errors.Is(err, errGaveUpWaiting):
		return exitGaveUp
	case tlsProblem(err):
		// Before exitNoQuorum: the round that failed on certificates
		// is also an ErrNoEndpoint.
		return exitTLS
	case errors.Is(err, client.ErrLockHeld), errors.Is(err, errWaitExpired):
		return exitLockHeld
	case errors.Is(err, errLockLost),
		errors.Is(err, client.ErrSessionExpired),
		errors.Is(err, client.ErrFenced):
		return exitLockLost
	case errors.Is(err, errNotFound),
		errors.Is(err, client.ErrUnknownSession),
		errors.Is(err, client.ErrUnknownMember),
		errors.Is(err, client.ErrNoElectionLeader):
		return exitNotFound
	case errors.Is(err, client.ErrNoQuorum),
		errors.Is(err, client.ErrNoEndpoint),
		errors.Is(err, client.ErrNotLeader),
		errors.Is(err, client.ErrUnavailable),
		errors.Is(err, errNoLeader),
		// The client retries an unreachable cluster until the deadline
		// that --timeout sets, so a deadline means nobody answered.
		errors.Is(err, context.DeadlineExceeded):
		return exitNoQuorum
	}
	return exitError
}
