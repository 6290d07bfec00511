package api

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// wireHandle is the rpc codec's go-msgpack configuration.
func wireHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.WriteExt = true
	h.RawToString = true
	h.MapType = reflect.TypeOf(map[string]any(nil))
	return h
}

func goEncode(t testing.TB, v any) []byte {
	var out []byte
	if err := codec.NewEncoderBytes(&out, wireHandle()).Encode(v); err != nil {
		t.Fatal(err)
	}
	return out
}

func goDecode(b []byte, v any) error { return codec.NewDecoderBytes(b, wireHandle()).Decode(v) }

var edgeInts = []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxInt64,
	-1, -32, -33, -128, -129, -32769, math.MinInt64}

func edgeInt(rng *rand.Rand) int64 {
	if rng.IntN(3) == 0 {
		return rng.Int64() - rng.Int64()
	}
	return edgeInts[rng.IntN(len(edgeInts))]
}

func edgeUint(rng *rand.Rand) uint64 {
	if rng.IntN(3) == 0 {
		return rng.Uint64()
	}
	return uint64(edgeInts[rng.IntN(len(edgeInts))])
}

func edgeString(rng *rand.Rand) string {
	return strings.Repeat("ß", []int{0, 1, 15, 16, 127, 128, 40000}[rng.IntN(7)])
}

func edgeBytes(rng *rand.Rand) []byte {
	switch rng.IntN(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return bytes.Repeat([]byte{byte(rng.Uint32())}, []int{1, 255, 256, 70000}[rng.IntN(4)])
}

func randomWrite(rng *rand.Rand) Write {
	return Write{Session: edgeUint(rng), Seq: edgeUint(rng), LowestUnanswered: edgeUint(rng)}
}

type wireMessage interface {
	AppendMsgpack([]byte) []byte
}

func randomMessages(rng *rand.Rand) []wireMessage {
	return []wireMessage{
		&AcquireRequest{Write: randomWrite(rng), Name: edgeString(rng), Mode: uint8(rng.IntN(256)),
			Value: edgeBytes(rng), Wait: rng.IntN(2) == 0, LockDelay: edgeInt(rng)},
		&AcquireResponse{Granted: rng.IntN(2) == 0, Token: edgeUint(rng), Queued: rng.IntN(2) == 0,
			Position: int(edgeInt(rng)), QueuedIndex: edgeUint(rng)},
		&ReleaseRequest{Write: randomWrite(rng), Name: edgeString(rng), Token: edgeUint(rng)},
		&Empty{},
	}
}

// The hot messages write exactly go-msgpack's bytes (under the rpc
// codec's configuration), and each side reads the other's.
func TestWireMatchesGoMsgpack(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		for _, m := range randomMessages(rng) {
			fast := m.AppendMsgpack(nil)
			slow := goEncode(t, m)
			if !bytes.Equal(fast, slow) {
				t.Fatalf("seed %d: %T encodes to\n%x\nbut go-msgpack writes\n%x", seed, m, fast, slow)
			}
			want := reflect.ValueOf(m).Elem().Interface()
			got := reflect.New(reflect.TypeOf(m).Elem())
			if !got.Interface().(interface{ DecodeMsgpack([]byte) bool }).DecodeMsgpack(slow) ||
				!reflect.DeepEqual(got.Elem().Interface(), want) {
				t.Fatalf("seed %d: %T fast decode = %+v, want %+v", seed, m, got.Elem().Interface(), want)
			}
			back := reflect.New(reflect.TypeOf(m).Elem())
			if err := goDecode(fast, back.Interface()); err != nil || !reflect.DeepEqual(back.Elem().Interface(), want) {
				t.Fatalf("seed %d: go-msgpack decode of %T = %+v, %v", seed, m, back.Elem().Interface(), err)
			}
		}
	}
}

// A message from a writer with more fields is left to go-msgpack.
func TestWireRefusesUnknownFields(t *testing.T) {
	b := goEncode(t, map[string]any{"Name": "a", "Token": uint64(1), "Session": uint64(2), "Hint": "newer"})
	var r ReleaseRequest
	if r.DecodeMsgpack(b) || r != (ReleaseRequest{}) {
		t.Fatalf("DecodeMsgpack took an unknown field: %+v", r)
	}
	if err := goDecode(b, &r); err != nil || r.Name != "a" || r.Token != 1 || r.Session != 2 {
		t.Fatalf("go-msgpack decode = %+v, %v", r, err)
	}
}

// FuzzWireDecode: whatever DecodeMsgpack accepts, go-msgpack decodes to
// the same value.
func FuzzWireDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 0))
	for range 4 {
		for _, m := range randomMessages(rng) {
			if b := m.AppendMsgpack(nil); len(b) < 4096 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []interface{ DecodeMsgpack([]byte) bool }{
			&AcquireRequest{}, &AcquireResponse{}, &ReleaseRequest{}, &Empty{},
		} {
			if !m.DecodeMsgpack(data) {
				continue
			}
			want := reflect.New(reflect.TypeOf(m).Elem())
			if err := goDecode(data, want.Interface()); err != nil {
				t.Fatalf("%T: fast decode took %x, go-msgpack refuses it: %v", m, data, err)
			}
			got := reflect.ValueOf(m).Elem().Interface()
			w := want.Elem().Interface()
			if a, ok := got.(AcquireRequest); ok && a.Value != nil && len(a.Value) == 0 {
				if wa := w.(AcquireRequest); wa.Value != nil {
					a.Value = wa.Value
					got = a
				}
			}
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("%T %x: fast %+v, go-msgpack %+v", m, data, got, w)
			}
		}
	})
}

// BenchmarkWireAcquireRequest compares the hand-written encode+decode of
// an acquire request with go-msgpack's.
//
//	go test ./api -run '^$' -bench WireAcquireRequest -benchmem
func BenchmarkWireAcquireRequest(b *testing.B) {
	m := AcquireRequest{Write: Write{Session: 12, Seq: 3400, LowestUnanswered: 3390}, Name: "jobs/nightly",
		Mode: ModeExclusive, Wait: true, LockDelay: 15e9}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = m.AppendMsgpack(buf[:0])
			var v AcquireRequest
			if !v.DecodeMsgpack(buf) {
				b.Fatal("decode failed")
			}
		}
	})
	b.Run("go-msgpack", func(b *testing.B) {
		b.ReportAllocs()
		h := wireHandle()
		var buf []byte
		enc := codec.NewEncoderBytes(&buf, h)
		dec := codec.NewDecoderBytes(nil, h)
		for b.Loop() {
			buf = buf[:0]
			enc.ResetBytes(&buf)
			if err := enc.Encode(&m); err != nil {
				b.Fatal(err)
			}
			var v AcquireRequest
			dec.ResetBytes(buf)
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
