package api

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/lockd/lockd/internal/mp/mptest"
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

func randomWrite(rng *rand.Rand) Write {
	return Write{Session: mptest.Uint(rng), Secret: mptest.Bytes(rng), Seq: mptest.Uint(rng), LowestUnanswered: mptest.Uint(rng)}
}

type wireMessage interface {
	AppendMsgpack([]byte) []byte
}

func randomMessages(rng *rand.Rand) []wireMessage {
	return []wireMessage{
		&AcquireRequest{Write: randomWrite(rng), Name: mptest.String(rng), Mode: Mode(rng.IntN(256)),
			Value: mptest.Bytes(rng), Wait: rng.IntN(2) == 0, LockDelay: mptest.Int(rng)},
		&AcquireResponse{Granted: rng.IntN(2) == 0, Token: mptest.Uint(rng), Queued: rng.IntN(2) == 0,
			Position: int(mptest.Int(rng)), QueuedIndex: mptest.Uint(rng)},
		&ReleaseRequest{Write: randomWrite(rng), Name: mptest.String(rng), Token: mptest.Uint(rng)},
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
	if r.DecodeMsgpack(b) || !reflect.DeepEqual(r, ReleaseRequest{}) {
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
