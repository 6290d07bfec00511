package wal

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/lockd/lockd/consensus"
)

// Badger retries a failing memtable flush forever, so closing a WAL whose
// data directory was removed never ended. Close now gives up after
// CloseTimeout with ErrCloseTimeout and says why.
func TestCloseGivesUpWhenTheDataDirectoryIsGone(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions(dir)
	opts.CloseTimeout = 200 * time.Millisecond
	w, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ents := []consensus.Entry{{Term: 1, Index: 1, Data: []byte("x")}}
	if err := w.Save(consensus.HardState{Term: 1}, ents, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCloseTimeout) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Close: %v, want ErrCloseTimeout naming the missing directory", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not return")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNegativeCloseTimeoutIsRefused(t *testing.T) {
	opts := DefaultOptions(t.TempDir())
	opts.CloseTimeout = -time.Second
	if _, err := Open(opts); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Open: %v, want ErrInvalidOptions", err)
	}
}
