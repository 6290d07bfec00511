package peer

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/lockd/lockd/internal/mp"
	"github.com/lockd/lockd/internal/mp/mptest"
	"github.com/lockd/lockd/rpc"
)

func randomWireMessage(rng *rand.Rand, withSnap bool) wireMessage {
	w := wireMessage{Type: uint8(rng.IntN(256)), From: mptest.String(rng), To: mptest.String(rng),
		Term: mptest.Uint(rng), LogTerm: mptest.Uint(rng), Index: mptest.Uint(rng), Commit: mptest.Uint(rng),
		Reject: rng.IntN(2) == 0, RejectHint: mptest.Uint(rng), RejectTerm: mptest.Uint(rng), Context: mptest.Bytes(rng)}
	switch rng.IntN(3) {
	case 0:
	case 1:
		w.Entries = []wireEntry{}
	default:
		w.Entries = make([]wireEntry, 1+rng.IntN(17)) // 16 and 17 take array16
		for i := range w.Entries {
			w.Entries[i] = wireEntry{Term: mptest.Uint(rng), Index: mptest.Uint(rng), Type: uint8(rng.IntN(256))}
			if i < 2 {
				w.Entries[i].Data = mptest.Bytes(rng) // up to 64 KiB
			} else {
				w.Entries[i].Data = make([]byte, rng.IntN(300))
			}
		}
	}
	if withSnap {
		w.Snap = &wireSnapMeta{Index: mptest.Uint(rng), Term: mptest.Uint(rng), Voters: []string{"n1", "n2"},
			Addrs: map[string]string{"n1": "127.0.0.1:7101"}}
	}
	return w
}

// Raft messages write exactly go-msgpack's bytes (the rpc codec's
// configuration, arrays), and each side reads the other's; one with
// snapshot metadata is written the same and left to go-msgpack to read.
func TestTransportWireMatchesGoMsgpack(t *testing.T) {
	c := rpc.NewCodec(rpc.DefaultConfig().MaxDepth)
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		w := randomWireMessage(rng, seed%10 == 0)
		fast := w.AppendMsgpack(nil)
		type plain wireMessage // no methods: go-msgpack's own encoding
		slow, err := c.Encode(plain(w))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fast, slow) {
			t.Fatalf("seed %d: encodes to\n%x\nbut go-msgpack writes\n%x", seed, fast, slow)
		}
		var got wireMessage
		ok := got.DecodeMsgpack(slow)
		if w.Snap != nil {
			if ok {
				t.Fatalf("seed %d: the fast path took snapshot metadata", seed)
			}
		} else if !ok || !reflect.DeepEqual(got, w) {
			t.Fatalf("seed %d: fast decode = %+v, %v; want %+v", seed, got, ok, w)
		}
		var back plain
		if err := c.Decode(fast, &back); err != nil || !reflect.DeepEqual(wireMessage(back), w) {
			t.Fatalf("seed %d: go-msgpack decode = %+v, %v", seed, back, err)
		}
		var via wireMessage // the rpc codec: fast path, or go-msgpack for a snapshot
		if err := c.Decode(slow, &via); err != nil || !reflect.DeepEqual(via, w) {
			t.Fatalf("seed %d: rpc codec decode = %+v, %v", seed, via, err)
		}
	}
}

// FuzzTransportWireDecode: whatever the fast path accepts, go-msgpack
// decodes to the same message.
func FuzzTransportWireDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 0))
	for range 6 {
		w := randomWireMessage(rng, false)
		if b := w.AppendMsgpack(nil); len(b) < 8192 {
			f.Add(b)
		}
	}
	c := rpc.NewCodec(rpc.DefaultConfig().MaxDepth)
	type plain wireMessage
	f.Fuzz(func(t *testing.T, data []byte) {
		var got wireMessage
		if !got.DecodeMsgpack(data) {
			return
		}
		var want plain
		if err := c.Decode(data, &want); err != nil {
			t.Fatalf("fast decode took %x, go-msgpack refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(got, wireMessage(want)) {
			t.Fatalf("%x: fast %+v, go-msgpack %+v", data, got, want)
		}
	})
}

// A message that claims more entries than its bytes can hold is refused
// before the entries are allocated: the fast path allocates in proportion
// to the bytes that arrived, never to a claimed count (an entry is 48
// bytes in memory, one byte of nil on the wire).
func TestFastDecodeAllocatesByBytesNotByClaimedCount(t *testing.T) {
	const n = 1 << 20
	b := mp.AppendArrayLen(nil, 13)
	b = mp.AppendUint(b, 3)
	b = mp.AppendStr(b, "n1")
	b = mp.AppendStr(b, "n2")
	for range 3 {
		b = mp.AppendUint(b, 1)
	}
	b = mp.AppendArrayLen(b, n)
	b = append(b, bytes.Repeat([]byte{0xc0}, n)...) // n nils: not entries, but one byte each
	b = mp.AppendUint(b, 0)
	b = mp.AppendBool(b, false)
	b = mp.AppendUint(b, 0)
	b = mp.AppendUint(b, 0)
	b = mp.AppendNil(b)
	b = mp.AppendNil(b)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var w wireMessage
	ok := w.DecodeMsgpack(b)
	runtime.ReadMemStats(&after)
	if ok {
		t.Fatal("decoded nils as entries")
	}
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(len(b))*48/minEntryLen; got > limit {
		t.Fatalf("allocated %d bytes for a %d-byte message, want at most %d", got, len(b), limit)
	}
}
