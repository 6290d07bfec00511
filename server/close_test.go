package server

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/lockd/lockd/wal"
)

// An operator who removes a node's data directory and then stops it gets
// the process back: Close reports the WAL's ErrCloseTimeout instead of
// waiting forever on Badger's flush retries.
func TestCloseReturnsWhenTheDataDirectoryWasRemoved(t *testing.T) {
	c := newSvcCluster(t, 3, func(cfg *Config) { cfg.WAL.CloseTimeout = 300 * time.Millisecond })
	lead := c.leader()
	var victim string
	for id, s := range c.servers {
		if s != lead {
			victim = id
			break
		}
	}
	s := c.servers[victim]
	if err := os.RemoveAll(c.cfgs[victim].DataDir); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if !errors.Is(err, wal.ErrCloseTimeout) {
			t.Fatalf("Close: %v, want wal.ErrCloseTimeout", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not return")
	}
	c.servers[victim] = nil
}
