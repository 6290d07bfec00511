package faults

import (
	"errors"
	"fmt"
	"sync"
)

// ErrBlocked: an Injector blocks the connection's key. Transports wrap it
// in their own error for a broken connection or a failed dial.
var ErrBlocked = errors.New("faults: connection blocked")

// Injector cuts the connections registered with it that a blocked key
// names. Share one Injector between the servers and dialers of one node
// to cut that node off. Safe for concurrent use; the zero value is not
// usable, use New.
type Injector struct {
	mu     sync.Mutex
	blocks map[string]bool
	conns  map[*conn]struct{}
}

// conn is one registered connection: the keys it is known by and how to
// cut it.
type conn struct {
	keys []string
	cut  func(cause error)
}

// New returns an Injector that blocks nothing.
func New() *Injector {
	return &Injector{blocks: make(map[string]bool), conns: make(map[*conn]struct{})}
}

// Block cuts every registered connection known by key, with an error
// wrapping ErrBlocked, and makes Blocked report key until Unblock(key).
func (f *Injector) Block(key string) {
	f.mu.Lock()
	f.blocks[key] = true
	var victims []*conn
	for c := range f.conns {
		if c.knownBy(key) {
			victims = append(victims, c)
			delete(f.conns, c) // a cut connection stays closed
		}
	}
	f.mu.Unlock()
	for _, c := range victims {
		c.cut(fmt.Errorf("%w: %s", ErrBlocked, key))
	}
}

// Unblock lets connections known by key be made again. Connections that
// Block cut stay closed.
func (f *Injector) Unblock(key string) {
	f.mu.Lock()
	delete(f.blocks, key)
	f.mu.Unlock()
}

// Blocked reports whether one of keys is blocked; empty keys are ignored.
// If so, the error wraps ErrBlocked and names the key.
func (f *Injector) Blocked(keys ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blockedLocked(keys)
}

// Register records an open connection known by keys (empty ones are
// ignored), which a later Block of one of them cuts by calling cut. If a
// key is blocked already it registers nothing and returns Blocked's error;
// the caller closes the connection itself. forget removes the record (a
// cut removes it too); call it when the connection closes, more than once
// if need be.
func (f *Injector) Register(cut func(cause error), keys ...string) (forget func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.blockedLocked(keys); err != nil {
		return func() {}, err
	}
	c := &conn{keys: keys, cut: cut}
	f.conns[c] = struct{}{}
	return func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
	}, nil
}

func (f *Injector) blockedLocked(keys []string) error {
	for _, k := range keys {
		if k != "" && f.blocks[k] {
			return fmt.Errorf("%w: %s", ErrBlocked, k)
		}
	}
	return nil
}

func (c *conn) knownBy(key string) bool {
	for _, k := range c.keys {
		if k != "" && k == key {
			return true
		}
	}
	return false
}
