package wal

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// prefixMeta starts the key of every record kept with SetMeta. No other
// key starts with it (the single-letter records, and 'e' plus an index).
const prefixMeta = "u:"

// maxMetaName bounds a meta record's name; maxMetaValue its value.
const (
	maxMetaName  = 64
	maxMetaValue = 64 << 10
)

func metaKey(name string) []byte { return []byte(prefixMeta + name) }

// SetMeta durably records value under name, beside the log: a small record
// the WAL keeps for its user and never interprets (the server's record of
// the cluster a data directory was bootstrapped for). It is one synced
// write, replacing any earlier value; ErrFailed if it fails (then for
// good), ErrInvalidArgument for an empty or long name or a value over
// 64 KiB. A build that does not know a name ignores its record.
func (w *WAL) SetMeta(name string, value []byte) error {
	if name == "" || len(name) > maxMetaName || len(value) > maxMetaValue {
		return fmt.Errorf("%w: meta record %q of %d bytes", ErrInvalidArgument, name, len(value))
	}
	defer w.beginWrite()()
	w.mu.RLock()
	err := w.usable()
	w.mu.RUnlock()
	if err != nil {
		return err
	}
	key := metaKey(name)
	p := append([]byte{recordVersion}, value...)
	txn := w.db.NewTransaction(true)
	defer txn.Discard()
	err = txn.Set(key, seal(key, p))
	if err == nil {
		err = w.commit(txn)
	}
	if err != nil {
		return w.setFailed("save meta record "+name, err)
	}
	return nil
}

// Meta returns the value recorded under name by SetMeta, or nil if there is
// none. A record that fails its checksum is a *CorruptError.
func (w *WAL) Meta(name string) ([]byte, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if err := w.usable(); err != nil {
		return nil, err
	}
	key := metaKey(name)
	var v []byte
	err := w.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wal: read meta record %q: %w", name, err)
	}
	p, bad := unseal(key, v)
	if bad != "" {
		return nil, &CorruptError{Record: "meta " + name, Reason: bad}
	}
	return append([]byte{}, p...), nil
}
