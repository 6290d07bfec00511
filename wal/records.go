package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/lockd/lockd/consensus"
)

// Keys. Entries sort by big-endian index under one prefix byte; the other
// records are single keys.
const (
	prefixEntry byte = 'e'
)

var (
	keyBounds    = []byte("b")
	keyHardState = []byte("h")
	keyConf      = []byte("m") // membership of the latest snapshot
	keyApplied   = []byte("a") // applied membership recorded by SetConfState
	keySnapMeta  = []byte("s")
)

// recordVersion is the first payload byte of every record; a different value
// is reported as corruption rather than guessed at.
const recordVersion = 1

// castagnoli is the CRC32-C table; it is built once and never written.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errShort = errors.New("record too short")

func entryKey(i uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixEntry
	binary.BigEndian.PutUint64(k[1:], i)
	return k
}

func entryIndex(key []byte) (uint64, bool) {
	if len(key) != 9 || key[0] != prefixEntry {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}

// seal returns crc32c(key || payload) followed by payload. The key is in
// the checksum so a record under the wrong key (an entry at the wrong index)
// fails it.
func seal(key, payload []byte) []byte {
	out := make([]byte, 4, 4+len(payload))
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
	binary.BigEndian.PutUint32(out, crc)
	return append(out, payload...)
}

// unseal checks a sealed value and returns its payload after the version
// byte. The returned slice aliases value.
func unseal(key, value []byte) ([]byte, string) {
	if len(value) < 5 {
		return nil, errShort.Error()
	}
	want := binary.BigEndian.Uint32(value)
	got := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, value[4:])
	if want != got {
		return nil, "checksum mismatch"
	}
	if value[4] != recordVersion {
		return nil, fmt.Sprintf("record format version %d; this lockd reads record version %d", value[4], recordVersion)
	}
	return value[5:], ""
}

// Entry: version | type | term(8) | data.
func encodeEntry(e consensus.Entry) []byte {
	p := make([]byte, 0, 10+len(e.Data))
	p = append(p, recordVersion, byte(e.Type))
	p = binary.BigEndian.AppendUint64(p, e.Term)
	p = append(p, e.Data...)
	return seal(entryKey(e.Index), p)
}

// decodeEntry decodes a sealed entry value. Data aliases value; callers that
// keep it past the Badger transaction copy value first.
func decodeEntry(index uint64, value []byte) (consensus.Entry, string) {
	p, bad := unseal(entryKey(index), value)
	if bad != "" {
		return consensus.Entry{}, bad
	}
	if len(p) < 9 {
		return consensus.Entry{}, errShort.Error()
	}
	e := consensus.Entry{Index: index, Type: consensus.EntryType(p[0]), Term: binary.BigEndian.Uint64(p[1:9])}
	if len(p) > 9 {
		e.Data = p[9:]
	}
	return e, ""
}

// bounds is the durable description of which entry keys form the log.
//
// Invariant: first >= 1 and last+1 >= first; prevTerm is the term of entry
// first-1 (0 when first == 1 and there is no snapshot).
type bounds struct {
	first, last, prevTerm uint64
}

func encodeBounds(b bounds) []byte {
	p := []byte{recordVersion}
	p = binary.BigEndian.AppendUint64(p, b.first)
	p = binary.BigEndian.AppendUint64(p, b.last)
	p = binary.BigEndian.AppendUint64(p, b.prevTerm)
	return seal(keyBounds, p)
}

func decodeBounds(value []byte) (bounds, string) {
	p, bad := unseal(keyBounds, value)
	if bad != "" {
		return bounds{}, bad
	}
	if len(p) != 24 {
		return bounds{}, "wrong length"
	}
	b := bounds{binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:]), binary.BigEndian.Uint64(p[16:])}
	if b.first < 1 || b.last+1 < b.first {
		return bounds{}, "first/last out of order"
	}
	return b, ""
}

// HardState: version | term(8) | commit(8) | vote.
func encodeHardState(hs consensus.HardState) []byte {
	p := []byte{recordVersion}
	p = binary.BigEndian.AppendUint64(p, hs.Term)
	p = binary.BigEndian.AppendUint64(p, hs.Commit)
	p = append(p, hs.Vote...)
	return seal(keyHardState, p)
}

func decodeHardState(value []byte) (consensus.HardState, string) {
	p, bad := unseal(keyHardState, value)
	if bad != "" {
		return consensus.HardState{}, bad
	}
	if len(p) < 16 {
		return consensus.HardState{}, errShort.Error()
	}
	return consensus.HardState{
		Term:   binary.BigEndian.Uint64(p),
		Commit: binary.BigEndian.Uint64(p[8:]),
		Vote:   consensus.NodeID(p[16:]),
	}, ""
}

// snapMeta is what Badger records about the latest snapshot file; the
// membership travels in its own record.
type snapMeta struct {
	index, term, size uint64
	crc               uint32
}

func encodeSnapMeta(m snapMeta) []byte {
	p := []byte{recordVersion}
	p = binary.BigEndian.AppendUint64(p, m.index)
	p = binary.BigEndian.AppendUint64(p, m.term)
	p = binary.BigEndian.AppendUint64(p, m.size)
	p = binary.BigEndian.AppendUint32(p, m.crc)
	return seal(keySnapMeta, p)
}

func decodeSnapMeta(value []byte) (snapMeta, string) {
	p, bad := unseal(keySnapMeta, value)
	if bad != "" {
		return snapMeta{}, bad
	}
	if len(p) != 28 {
		return snapMeta{}, "wrong length"
	}
	return snapMeta{
		index: binary.BigEndian.Uint64(p),
		term:  binary.BigEndian.Uint64(p[8:]),
		size:  binary.BigEndian.Uint64(p[16:]),
		crc:   binary.BigEndian.Uint32(p[24:]),
	}, ""
}

// ConfState: version | voters | learners | addrs, each a uvarint count then
// uvarint-length-prefixed strings; addrs are key/value pairs sorted by key.
func encodeConf(c consensus.ConfState) []byte { return encodeConfAt(keyConf, c) }

func encodeConfAt(key []byte, c consensus.ConfState) []byte {
	p := []byte{recordVersion}
	putStrings := func(ids []consensus.NodeID) {
		p = binary.AppendUvarint(p, uint64(len(ids)))
		for _, id := range ids {
			p = appendString(p, string(id))
		}
	}
	putStrings(c.Voters)
	putStrings(c.Learners)
	keys := make([]consensus.NodeID, 0, len(c.Addrs))
	for k := range c.Addrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p = binary.AppendUvarint(p, uint64(len(keys)))
	for _, k := range keys {
		p = appendString(p, string(k))
		p = appendString(p, c.Addrs[k])
	}
	return seal(key, p)
}

func appendString(p []byte, s string) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

// confReader reads the conf encoding; the first failure sticks in bad.
type confReader struct {
	p   []byte
	bad string
}

func (r *confReader) uvarint() uint64 {
	if r.bad != "" {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 || v > uint64(len(r.p)) { // every counted item takes at least one byte
		r.bad = "bad length"
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *confReader) str() string {
	n := r.uvarint()
	if r.bad != "" {
		return ""
	}
	if n > uint64(len(r.p)) {
		r.bad = "string overruns record"
		return ""
	}
	s := string(r.p[:n])
	r.p = r.p[n:]
	return s
}

func (r *confReader) ids() []consensus.NodeID {
	n := r.uvarint()
	var out []consensus.NodeID
	for i := uint64(0); i < n && r.bad == ""; i++ {
		out = append(out, consensus.NodeID(r.str()))
	}
	return out
}

func decodeConf(value []byte) (consensus.ConfState, string) { return decodeConfAt(keyConf, value) }

func decodeConfAt(key, value []byte) (consensus.ConfState, string) {
	p, bad := unseal(key, value)
	if bad != "" {
		return consensus.ConfState{}, bad
	}
	r := &confReader{p: p}
	c := consensus.ConfState{Voters: r.ids(), Learners: r.ids()}
	n := r.uvarint()
	for i := uint64(0); i < n && r.bad == ""; i++ {
		if c.Addrs == nil {
			c.Addrs = make(map[consensus.NodeID]string, n)
		}
		k := r.str()
		c.Addrs[consensus.NodeID(k)] = r.str()
	}
	if r.bad == "" && len(r.p) != 0 {
		r.bad = "trailing bytes"
	}
	if r.bad != "" {
		return consensus.ConfState{}, r.bad
	}
	return c, ""
}
