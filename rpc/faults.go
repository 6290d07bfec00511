package rpc

import (
	"fmt"
	"sync"
)

// Faults is a test hook that cuts connections, used to build partitions in
// tests of other packages. Share one *Faults through Config.Faults on one
// node's servers and dialers: Block(key) closes that node's open
// connections whose remote node id or address equals key, and refuses new
// ones (dials fail, accepts answer the handshake with a refusal) until
// Unblock(key). The zero value is not usable; use NewFaults.
type Faults struct {
	mu      sync.Mutex
	blocks  map[string]bool
	members map[*link][]string // open links and their keys
}

// NewFaults returns a Faults that blocks nothing.
func NewFaults() *Faults {
	return &Faults{blocks: make(map[string]bool), members: make(map[*link][]string)}
}

// Block cuts every connection to key (a node id or an address) and
// refuses new ones.
func (f *Faults) Block(key string) {
	f.mu.Lock()
	f.blocks[key] = true
	var victims []*link
	for l, keys := range f.members {
		for _, k := range keys {
			if k == key {
				victims = append(victims, l)
				break
			}
		}
	}
	f.mu.Unlock()
	for _, l := range victims {
		l.fail(fmt.Errorf("%w: %s", ErrPartitioned, key))
	}
}

// Unblock lets connections to key be made again.
func (f *Faults) Unblock(key string) {
	f.mu.Lock()
	delete(f.blocks, key)
	f.mu.Unlock()
}

func (f *Faults) blocked(keys ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if k != "" && f.blocks[k] {
			return true
		}
	}
	return false
}

// register records an open link; it reports false if one of its keys is
// blocked (the caller then closes it).
func (f *Faults) register(l *link, keys ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		if k != "" && f.blocks[k] {
			return false
		}
	}
	f.members[l] = keys
	return true
}

func (f *Faults) forget(l *link) {
	f.mu.Lock()
	delete(f.members, l)
	f.mu.Unlock()
}
