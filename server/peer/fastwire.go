package peer

import (
	"maps"
	"math"
	"slices"

	"github.com/lockd/lockd/internal/mp"
)

// wireMessage writes and reads its own msgpack (package mp) for the rpc
// codec, in exactly the array layout go-msgpack writes for it
// (fastwire_test.go checks both directions). Raft messages are
// the peers' hot path: every MsgApp and its answer. A message with
// snapshot metadata, or any layout but go-msgpack's, is left to
// go-msgpack on the way in.

// minEntryLen is the fewest bytes an encoded entry takes: a fixarray
// header, three one-byte uints and a nil. A wireEntry is 48 bytes, so the
// entries of a message cost at most 48/minEntryLen times its size.
const minEntryLen = 5

// AppendMsgpack appends the message's msgpack encoding to b.
func (w wireMessage) AppendMsgpack(b []byte) []byte {
	b = mp.AppendArrayLen(b, 13)
	b = mp.AppendUint(b, uint64(w.Type))
	b = mp.AppendStr(b, w.From)
	b = mp.AppendStr(b, w.To)
	b = mp.AppendUint(b, w.Term)
	b = mp.AppendUint(b, w.LogTerm)
	b = mp.AppendUint(b, w.Index)
	if w.Entries == nil {
		b = mp.AppendNil(b)
	} else {
		b = mp.AppendArrayLen(b, len(w.Entries))
		for _, e := range w.Entries {
			b = mp.AppendArrayLen(b, 4)
			b = mp.AppendUint(b, e.Term)
			b = mp.AppendUint(b, e.Index)
			b = mp.AppendUint(b, uint64(e.Type))
			b = mp.AppendBin(b, e.Data)
		}
	}
	b = mp.AppendUint(b, w.Commit)
	b = mp.AppendBool(b, w.Reject)
	b = mp.AppendUint(b, w.RejectHint)
	b = mp.AppendUint(b, w.RejectTerm)
	b = mp.AppendBin(b, w.Context)
	if w.Snap == nil {
		return mp.AppendNil(b)
	}
	return w.Snap.appendMsgpack(b)
}

func (s *wireSnapMeta) appendMsgpack(b []byte) []byte {
	b = mp.AppendArrayLen(b, 5)
	b = mp.AppendUint(b, s.Index)
	b = mp.AppendUint(b, s.Term)
	b = appendStrings(b, s.Voters)
	b = appendStrings(b, s.Learners)
	if s.Addrs == nil {
		return mp.AppendNil(b)
	}
	b = mp.AppendMapLen(b, len(s.Addrs))
	for _, id := range slices.Sorted(maps.Keys(s.Addrs)) {
		b = mp.AppendStr(mp.AppendStr(b, id), s.Addrs[id])
	}
	return b
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return mp.AppendNil(b)
	}
	b = mp.AppendArrayLen(b, len(ss))
	for _, s := range ss {
		b = mp.AppendStr(b, s)
	}
	return b
}

// DecodeMsgpack decodes a message without snapshot metadata into w and
// reports whether it could; on false w is unchanged. Entry data and
// Context alias data (an rpc Body, which the handler may keep).
func (w *wireMessage) DecodeMsgpack(data []byte) bool {
	r := mp.NewReader(data)
	if r.ArrayLen() != 13 {
		return false
	}
	var v wireMessage
	v.Type = uint8(r.Uint(math.MaxUint8))
	v.From = r.Str()
	v.To = r.Str()
	v.Term = r.Uint(math.MaxUint64)
	v.LogTerm = r.Uint(math.MaxUint64)
	v.Index = r.Uint(math.MaxUint64)
	if !r.Nil() {
		n := r.ArrayLen()
		// A count that the input cannot hold is refused before anything
		// is allocated for it: the slice is then at most what decoding
		// the whole input into entries of the least size would build.
		if !r.OK() || n > len(data)/minEntryLen {
			return false
		}
		v.Entries = make([]wireEntry, n)
		for i := range v.Entries {
			if r.ArrayLen() != 4 {
				return false
			}
			e := &v.Entries[i]
			e.Term = r.Uint(math.MaxUint64)
			e.Index = r.Uint(math.MaxUint64)
			e.Type = uint8(r.Uint(math.MaxUint8))
			e.Data = r.Bin()
		}
	}
	v.Commit = r.Uint(math.MaxUint64)
	v.Reject = r.Bool()
	v.RejectHint = r.Uint(math.MaxUint64)
	v.RejectTerm = r.Uint(math.MaxUint64)
	v.Context = r.Bin()
	if !r.Nil() || !r.Done() {
		return false
	}
	*w = v
	return true
}
