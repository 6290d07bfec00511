package sim

import (
	"fmt"

	"github.com/lockd/lockd/consensus"
)

// bootstrapHash is the chain hash of the bootstrap snapshot (index 1, term 1)
// that every founding member starts from.
const bootstrapHash uint64 = 0x6c6f636b64736e70 // "lockdsnp"

// chainHash extends the hash of the log up to e.Index-1 by e. Two logs have
// the same chain hash at an index exactly when (barring collisions) they hold
// the same entries up to and including it, so log matching and state machine
// safety reduce to comparing one number per index.
func chainHash(prev uint64, e *consensus.Entry) uint64 {
	h := hashUint(prev, e.Index)
	h = hashUint(h, e.Term)
	h = hashUint(h, uint64(e.Type))
	h = hashUint(h, uint64(len(e.Data)))
	return hashBytes(h, e.Data)
}

// chainLog mirrors one node's durable log as chain hashes. It only ever
// receives what the simulated driver persisted, so it survives crashes
// together with the node's durable storage.
//
// Invariant: len(hashes) == len(terms) >= 1; hashes[0] is the chain hash at
// base, the index of the last snapshot installed (compaction by the node
// itself does not move base: the hashes stay known).
type chainLog struct {
	base   uint64
	hashes []uint64
	terms  []uint64
}

func newChainLog(base, term, hash uint64) *chainLog {
	return &chainLog{base: base, hashes: []uint64{hash}, terms: []uint64{term}}
}

// last is the index of the last entry in the log.
func (c *chainLog) last() uint64 { return c.base + uint64(len(c.hashes)) - 1 }

// at returns the chain hash and term at index i, if i is in [base, last].
func (c *chainLog) at(i uint64) (hash, term uint64, ok bool) {
	if i < c.base || i > c.last() {
		return 0, 0, false
	}
	return c.hashes[i-c.base], c.terms[i-c.base], true
}

// append mirrors a storage append: entries from ents[0].Index on replace
// whatever the log held there. Entries at or below base are already covered
// by the snapshot and skipped. It returns the index of the first entry added.
func (c *chainLog) append(ents []consensus.Entry) (uint64, error) {
	for len(ents) > 0 && ents[0].Index <= c.base {
		ents = ents[1:]
	}
	if len(ents) == 0 {
		return c.last() + 1, nil
	}
	first := ents[0].Index
	if first > c.last()+1 {
		return 0, fmt.Errorf("append at %d leaves a gap after last index %d", first, c.last())
	}
	c.hashes = c.hashes[:first-c.base]
	c.terms = c.terms[:first-c.base]
	h := c.hashes[len(c.hashes)-1]
	for i := range ents {
		e := &ents[i]
		if e.Index != first+uint64(i) {
			return 0, fmt.Errorf("entries not contiguous: %d follows %d", e.Index, first+uint64(i)-1)
		}
		h = chainHash(h, e)
		c.hashes = append(c.hashes, h)
		c.terms = append(c.terms, e.Term)
	}
	return first, nil
}

// reset replaces the whole log by a snapshot at (index, term) whose chain
// hash is hash.
func (c *chainLog) reset(index, term, hash uint64) {
	c.base = index
	c.hashes = append(c.hashes[:0], hash)
	c.terms = append(c.terms[:0], term)
}
