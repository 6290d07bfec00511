package fsm

import "errors"

// Errors of the state machine itself. A refused command's Result.Err
// matches one of ErrBadCommand and ErrEntryApplied, or a sentinel of
// package sessions or locks; the server maps each to its wire code.
var (
	// ErrBadCommand: an entry's bytes do not decode to a known command with
	// a valid body.
	ErrBadCommand = errors.New("fsm: bad command")
	// ErrEntryApplied: Apply was given an index at or below the applied
	// index; the entry was ignored.
	ErrEntryApplied = errors.New("fsm: entry already applied")
	// ErrCorruptSnapshot: FSM snapshot bytes do not decode or are
	// inconsistent.
	ErrCorruptSnapshot = errors.New("fsm: corrupt snapshot")
)
