package wal

import (
	"sort"

	"github.com/lockd/lockd/consensus"
)

// entrySize is the size Entries counts against maxBytes and the cache
// counts against Options.CacheBytes: the data plus a fixed 16 bytes.
func entrySize(e consensus.Entry) uint64 { return uint64(len(e.Data)) + 16 }

// termRun says entries from start on have term, up to the next run's start.
type termRun struct{ start, term uint64 }

// termIndex answers the term of any entry in the log from memory. Terms
// change rarely, so it holds one run per term rather than one per entry.
//
// Invariant: runs cover exactly [first, last] of the log; starts strictly
// increase; terms strictly increase.
type termIndex struct{ runs []termRun }

// term returns the term of entry i; the caller has checked first <= i <= last.
func (t *termIndex) term(i uint64) uint64 {
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].start > i })
	if k == 0 {
		panic("wal: term index has no run for an index inside the log")
	}
	return t.runs[k-1].term
}

// truncateFrom forgets entries i and above.
func (t *termIndex) truncateFrom(i uint64) {
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].start >= i })
	t.runs = t.runs[:k]
}

// append records entry (index, term), the new last entry.
func (t *termIndex) append(index, term uint64) {
	if n := len(t.runs); n > 0 && t.runs[n-1].term == term {
		return
	}
	t.runs = append(t.runs, termRun{index, term})
}

// compactTo forgets entries below first; last is the log's last index.
func (t *termIndex) compactTo(first, last uint64) {
	if first > last {
		t.runs = t.runs[:0]
		return
	}
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].start > first })
	// runs[k-1] holds first; drop the runs before it.
	if k > 0 {
		t.runs = append(t.runs[:0], t.runs[k-1:]...)
		t.runs[0].start = first
	}
}

// entryCache holds the most recent entries, contiguous and ending at the
// log's last index, within a byte budget.
//
// Invariant: ents are contiguous by index; when non-empty the last one is
// the log's last entry; bytes is the sum of entrySize over ents.
type entryCache struct {
	ents  []consensus.Entry
	bytes int
	limit int
}

// first returns the index of the oldest cached entry, or 0 if empty.
func (c *entryCache) first() uint64 {
	if len(c.ents) == 0 {
		return 0
	}
	return c.ents[0].Index
}

// truncateFrom drops cached entries i and above.
func (c *entryCache) truncateFrom(i uint64) {
	for len(c.ents) > 0 && c.ents[len(c.ents)-1].Index >= i {
		n := len(c.ents) - 1
		c.bytes -= int(entrySize(c.ents[n]))
		c.ents[n] = consensus.Entry{}
		c.ents = c.ents[:n]
	}
}

// compactTo drops cached entries below first.
func (c *entryCache) compactTo(first uint64) {
	k := 0
	for k < len(c.ents) && c.ents[k].Index < first {
		c.bytes -= int(entrySize(c.ents[k]))
		c.ents[k] = consensus.Entry{}
		k++
	}
	c.ents = c.ents[k:]
}

// append adds es, which continue the log after its truncation; a cache that
// does not end right before es[0] is reset first.
func (c *entryCache) append(es []consensus.Entry) {
	if c.limit == 0 || len(es) == 0 {
		return
	}
	if n := len(c.ents); n > 0 && c.ents[n-1].Index+1 != es[0].Index {
		c.reset()
	}
	for _, e := range es {
		c.ents = append(c.ents, e)
		c.bytes += int(entrySize(e))
	}
	k := 0
	for k < len(c.ents) && c.bytes > c.limit {
		c.bytes -= int(entrySize(c.ents[k]))
		c.ents[k] = consensus.Entry{}
		k++
	}
	c.ents = c.ents[k:]
}

func (c *entryCache) reset() {
	clear(c.ents)
	c.ents = c.ents[:0]
	c.bytes = 0
}
