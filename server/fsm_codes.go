package server

import (
	"errors"
	"fmt"
	"github.com/lockd/lockd/api"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// Errors of the state machine itself.
var (
	// ErrBadCommand: an entry's bytes do not decode to a known command with
	// a valid body.
	ErrBadCommand = errors.New("server: bad command")
	// ErrEntryApplied: Apply was given an index at or below the applied
	// index; the entry was ignored.
	ErrEntryApplied = errors.New("server: entry already applied")
	// ErrCorruptSnapshot: FSM snapshot bytes do not decode or are
	// inconsistent.
	ErrCorruptSnapshot = errors.New("server: corrupt snapshot")
	// ErrUnknownCode: a result carried a code this version does not know.
	ErrUnknownCode = errors.New("server: unknown error code")
)

// Code is the numeric form of a command's outcome, carried on the wire (it
// is an rpc user code: rpc reserves codes below 100). Codes are stable:
// never renumber them. The FSM uses 100..199; other server errors should
// take codes from 200 up.
type Code uint32

// Outcome codes. Each non-zero code maps to exactly one sentinel error.
// The numbers are the client protocol's (package api), so a result's code
// goes on the wire unchanged; CodeEntryApplied never leaves the server.
const (
	CodeOK                     = Code(api.CodeOK)
	CodeBadCommand             = Code(api.CodeBadCommand)
	CodeEntryApplied      Code = 101
	CodeUnknownSession         = Code(api.CodeUnknownSession)
	CodeSessionExpired         = Code(api.CodeSessionExpired)
	CodeSessionClosed          = Code(api.CodeSessionClosed)
	CodeResponseForgotten      = Code(api.CodeResponseForgotten)
	CodeTooManyResponses       = Code(api.CodeTooManyResponses)
	CodeInvalidKey             = Code(api.CodeInvalidKey)
	CodeInvalidName            = Code(api.CodeInvalidName)
	CodeValueTooLarge          = Code(api.CodeValueTooLarge)
	CodeInvalidMode            = Code(api.CodeInvalidMode)
	CodeInvalidLockDelay       = Code(api.CodeInvalidLockDelay)
	CodeLockHeld               = Code(api.CodeLockHeld)
	CodeNotHolder              = Code(api.CodeNotHolder)
	CodeNotWaiting             = Code(api.CodeNotWaiting)
	CodeAlreadyHolder          = Code(api.CodeAlreadyHolder)
	CodeAlreadyWaiting         = Code(api.CodeAlreadyWaiting)
)

// codeTable pairs every code with its sentinel. It is a function, not a
// package variable, so there is no package-level mutable state.
func codeTable() []struct {
	code Code
	err  error
} {
	return []struct {
		code Code
		err  error
	}{
		{CodeBadCommand, ErrBadCommand},
		{CodeEntryApplied, ErrEntryApplied},
		{CodeUnknownSession, sessions.ErrUnknownSession},
		{CodeSessionExpired, sessions.ErrSessionExpired},
		{CodeSessionClosed, sessions.ErrSessionClosed},
		{CodeResponseForgotten, sessions.ErrResponseForgotten},
		{CodeTooManyResponses, sessions.ErrTooManyResponses},
		{CodeInvalidKey, sessions.ErrInvalidKey},
		{CodeInvalidName, locks.ErrInvalidName},
		{CodeValueTooLarge, locks.ErrValueTooLarge},
		{CodeInvalidMode, locks.ErrInvalidMode},
		{CodeInvalidLockDelay, locks.ErrInvalidLockDelay},
		{CodeLockHeld, locks.ErrLockHeld},
		{CodeNotHolder, locks.ErrNotHolder},
		{CodeNotWaiting, locks.ErrNotWaiting},
		{CodeAlreadyHolder, locks.ErrAlreadyHolder},
		{CodeAlreadyWaiting, locks.ErrAlreadyWaiting},
	}
}

// CodeOf returns the code of err: CodeOK for nil, the code of the first
// sentinel err matches, and ok == false if it matches none.
func CodeOf(err error) (c Code, ok bool) {
	if err == nil {
		return CodeOK, true
	}
	for _, e := range codeTable() {
		if errors.Is(err, e.err) {
			return e.code, true
		}
	}
	return 0, false
}

// ErrorForCode returns the error for a code and its message: nil for
// CodeOK, otherwise an error that matches the code's sentinel with
// errors.Is and reads as message. An unknown code gives ErrUnknownCode.
func ErrorForCode(c Code, message string) error {
	if c == CodeOK {
		return nil
	}
	for _, e := range codeTable() {
		if e.code == c {
			if message == "" {
				message = e.err.Error()
			}
			return &CodeError{Code: c, Message: message, sentinel: e.err}
		}
	}
	return &CodeError{Code: c, Message: message, sentinel: ErrUnknownCode}
}

// CodeError is a command's error as it travels: a code and a message. It
// matches its code's sentinel with errors.Is, and implements rpc.Coder.
type CodeError struct {
	Code     Code
	Message  string
	sentinel error
}

func (e *CodeError) Error() string {
	if e.sentinel == ErrUnknownCode {
		return fmt.Sprintf("%v %d: %s", ErrUnknownCode, e.Code, e.Message)
	}
	return e.Message
}

// Unwrap returns the code's sentinel error.
func (e *CodeError) Unwrap() error { return e.sentinel }

// RPCCode returns the wire code (rpc.Coder).
func (e *CodeError) RPCCode() uint32 { return uint32(e.Code) }
