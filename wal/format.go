package wal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// FormatVersion is the layout of the data directory (the keys and records
// in Badger, the snapshot files) that this build writes and reads. A
// build that changes the layout raises it; a build that opens a directory
// of a version it does not know refuses it (*FormatError) before reading
// anything else, rather than take its records for corruption.
const FormatVersion uint16 = 1

// keyFormat holds the directory's format version: a sealed record whose
// payload is recordVersion then the version (uint16). A directory written
// before the key existed has none and is of version 1; Open then records
// it.
var keyFormat = []byte("f")

// ErrUnknownFormat: the data directory was written in a format version
// this build does not know (by a newer lockd). Returned wrapped in a
// *FormatError.
var ErrUnknownFormat = errors.New("wal: data directory of an unknown format version")

// FormatError names the data directory's format version and the one this
// build reads. errors.Is(err, ErrUnknownFormat) holds for it.
type FormatError struct {
	Dir   string
	Found uint16
	Known uint16
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("wal: data directory %s has format version %d; this lockd reads format version %d "+
		"(was it written by a newer lockd? run that version, or restore a backup into an empty directory)",
		e.Dir, e.Found, e.Known)
}

// Unwrap makes errors.Is(err, ErrUnknownFormat) true.
func (e *FormatError) Unwrap() error { return ErrUnknownFormat }

func encodeFormat(v uint16) []byte {
	return seal(keyFormat, binary.BigEndian.AppendUint16([]byte{recordVersion}, v))
}

// checkFormat reads the directory's format version, refuses one it does
// not know, and records FormatVersion in a directory that has none.
func (w *WAL) checkFormat() error {
	txn := w.db.NewTransaction(false)
	item, err := txn.Get(keyFormat)
	var v []byte
	if err == nil {
		v, err = item.ValueCopy(nil)
	}
	txn.Discard()
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		// Not synced on its own: the next synced write carries it to disk,
		// and until then a lost record means version 1 again, which it is.
		if err := w.db.Update(func(txn *badger.Txn) error { return txn.Set(keyFormat, encodeFormat(FormatVersion)) }); err != nil {
			return fmt.Errorf("wal: record the format version: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("wal: read the format version: %w", err)
	}
	p, bad := unseal(keyFormat, v)
	if bad == "" && len(p) != 2 {
		bad = "format record of the wrong length"
	}
	if bad != "" {
		return &CorruptError{Record: "format version", Reason: bad}
	}
	if found := binary.BigEndian.Uint16(p); found != FormatVersion {
		return &FormatError{Dir: w.opts.Dir, Found: found, Known: FormatVersion}
	}
	return nil
}
