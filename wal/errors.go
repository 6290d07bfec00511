package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt: a stored record or snapshot file failed its checksum or is
	// inconsistent with the rest of the log. Returned wrapped in *CorruptError.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrFailed: an earlier write or sync failed; the WAL refuses every call
	// from then on, because a failed fsync cannot be retried safely.
	ErrFailed = errors.New("wal: failed after a write error")
	// ErrClosed: the WAL was closed.
	ErrClosed = errors.New("wal: closed")
	// ErrInvalidArgument: the caller asked for something that is not a valid
	// log operation (a gap, a non-contiguous batch, a term going backwards,
	// a snapshot beyond the commit index). Nothing was written.
	ErrInvalidArgument = errors.New("wal: invalid argument")
	// ErrInvalidOptions: Options.Validate refused the options.
	ErrInvalidOptions = errors.New("wal: invalid options")
	// ErrCloseTimeout: Badger did not close within Options.CloseTimeout
	// (typically its data directory was removed and it retries a flush
	// forever). The WAL is closed for its caller; Badger's goroutines may
	// linger until the process exits.
	ErrCloseTimeout = errors.New("wal: close timed out")
)

// CorruptError describes one corrupt record or file. errors.Is(err,
// ErrCorrupt) holds for it.
type CorruptError struct {
	// Record names what is corrupt: "entry", "hard state", "bounds",
	// "membership", "applied membership", "snapshot meta", "snapshot file"
	// or "log".
	Record string
	// Index is the log index concerned, or 0.
	Index uint64
	// File is the snapshot file concerned, or "".
	File string
	// Committed is set when the corrupt or missing entry is at or below the
	// saved commit index, i.e. acknowledged state would be lost.
	Committed bool
	// Reason says what check failed.
	Reason string
}

func (e *CorruptError) Error() string {
	s := "wal: corrupt " + e.Record
	if e.Index != 0 {
		s += fmt.Sprintf(" at index %d", e.Index)
	}
	if e.File != "" {
		s += fmt.Sprintf(" in %s", e.File)
	}
	if e.Record == "entry" || e.Record == "log" {
		if e.Committed {
			s += " (committed)"
		} else {
			s += " (above the commit index)"
		}
	}
	return s + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// failedError wraps the cause of the first write failure.
func failedError(cause error) error { return fmt.Errorf("%w: %w", ErrFailed, cause) }
