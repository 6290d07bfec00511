package server

import (
	"errors"
	"strings"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/server/raftnode"
	"github.com/lockd/lockd/sessions"
)

// codeRow pairs a sentinel error of a package the server builds on with
// the client protocol's code for it.
type codeRow struct {
	err  error
	code api.Code
}

// wireCodes is lockd's one table from the sentinel errors of the domain
// packages (the state machine's refusals from fsm, sessions and locks;
// the failures of raftnode and consensus) to the wire codes of the client
// protocol (package api). The client maps each code back to its own
// sentinel (api.Codes). The first row an error matches (errors.Is) gives
// its code, so no error may match two rows of different codes. It is
// built once, at package initialization, and never written.
var wireCodes = [...]codeRow{
	{fsm.ErrBadCommand, api.CodeBadCommand},
	{sessions.ErrUnknownSession, api.CodeUnknownSession},
	{sessions.ErrSessionExpired, api.CodeSessionExpired},
	{sessions.ErrSessionClosed, api.CodeSessionClosed},
	{sessions.ErrResponseForgotten, api.CodeResponseForgotten},
	{sessions.ErrTooManyResponses, api.CodeTooManyResponses},
	{sessions.ErrInvalidKey, api.CodeInvalidKey},
	{sessions.ErrSessionNotOwned, api.CodeSessionNotOwned},
	{sessions.ErrBadSessionSecret, api.CodeBadSessionSecret},
	{sessions.ErrSequenceReused, api.CodeSequenceReused},
	{sessions.ErrSequenceOutOfRange, api.CodeSequenceOutOfRange},
	{locks.ErrInvalidName, api.CodeInvalidName},
	{locks.ErrValueTooLarge, api.CodeValueTooLarge},
	{locks.ErrInvalidMode, api.CodeInvalidMode},
	{locks.ErrInvalidLockDelay, api.CodeInvalidLockDelay},
	{locks.ErrLockHeld, api.CodeLockHeld},
	{locks.ErrNotHolder, api.CodeNotHolder},
	{locks.ErrNotWaiting, api.CodeNotWaiting},
	{locks.ErrAlreadyHolder, api.CodeAlreadyHolder},
	{locks.ErrAlreadyWaiting, api.CodeAlreadyWaiting},
	{locks.ErrTooManyWaiters, api.CodeLimitExceeded},
	{fsm.ErrPermissionDenied, api.CodePermissionDenied},
	{fsm.ErrInvalidGrant, api.CodeInvalidRequest},
	{fsm.ErrTooManyGrants, api.CodeLimitExceeded},

	// Not applied, or not confirmed, because leadership moved: the client
	// retries at the leader the answer names.
	{raftnode.ErrProposalLost, api.CodeNotLeader},
	{raftnode.ErrReadDropped, api.CodeNotLeader},
	{consensus.ErrNotLeader, api.CodeNotLeader},
	{consensus.ErrNoLeader, api.CodeNotLeader},
	{consensus.ErrTransferInProgress, api.CodeNotLeader},
	{consensus.ErrProposalDropped, api.CodeNotLeader},
	{raftnode.ErrStopped, api.CodeUnavailable},
	{consensus.ErrConfChangePending, api.CodeChangeInProgress},
	{consensus.ErrUnknownNode, api.CodeUnknownMember},
	{consensus.ErrInvalidConfChange, api.CodeInvalidRequest},
}

// wireCode returns the row of wireCodes that err matches.
func wireCode(err error) (codeRow, bool) {
	for _, r := range wireCodes {
		if errors.Is(err, r.err) {
			return r, true
		}
	}
	return codeRow{}, false
}

// refusal is the client's error for a command the state machine refused
// (fsm.Result.Err): the code, and the message without the text of the
// code's sentinel, which the client's sentinel for the code replaces
// ("lockd: invalid lock delay: 1m1s not in [0, 1m0s]", not "lockd:
// invalid lock delay: locks: invalid lock delay: 1m1s ..."). A message
// that does not begin with the sentinel is kept whole.
func refusal(err error) *api.Error {
	r, ok := wireCode(err)
	if !ok {
		// Every refusal matches a row (TestWireCodesMeanWhatTheClient-
		// SentinelsSay) but fsm.ErrEntryApplied, which no proposer sees
		// (the node applies each index once): a miss is a bug, answered
		// as a failure of this node.
		return api.Errorf(api.CodeUnavailable, "refused without a wire code: %v", err)
	}
	msg, s := err.Error(), r.err.Error()
	if msg == s {
		msg = ""
	}
	return &api.Error{Code: r.code, Message: strings.TrimPrefix(msg, s+": ")}
}
