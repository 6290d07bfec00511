package fsm

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/lockd/lockd/internal/mp/mptest"
	"github.com/lockd/lockd/locks"
)

func randomWireCommand(rng *rand.Rand) Command {
	return Command{Type: CommandType(rng.IntN(256)), Session: mptest.Uint(rng), Seq: mptest.Uint(rng),
		LowestUnanswered: mptest.Uint(rng), Time: mptest.Int(rng), Body: mptest.Bytes(rng),
		Principal: mptest.String(rng), SecretHash: mptest.Bytes(rng)}
}

func randomAcquireBody(rng *rand.Rand) AcquireBody {
	return AcquireBody{Name: mptest.String(rng), Mode: locks.Mode(rng.IntN(256)), Value: mptest.Bytes(rng),
		Wait: rng.IntN(2) == 0, LockDelay: mptest.Int(rng)}
}

func randomReleaseBody(rng *rand.Rand) ReleaseBody {
	return ReleaseBody{Name: mptest.String(rng), Token: mptest.Uint(rng)}
}

func randomStoredResult(rng *rand.Rand) storedResult {
	return storedResult{Code: uint32(mptest.Uint(rng)), Message: mptest.String(rng), Session: mptest.Uint(rng), TTL: mptest.Int(rng),
		Granted: rng.IntN(2) == 0, Token: mptest.Uint(rng), Queued: rng.IntN(2) == 0, Position: int(mptest.Int(rng)),
		QueuedIndex: mptest.Uint(rng), Duplicate: rng.IntN(2) == 0}
}

// The hand-written encoders write exactly go-msgpack's bytes, and each
// decoder reads the other's: for random values at the edges of every
// integer, string and bin form.
func TestWireMatchesGoMsgpack(t *testing.T) {
	c := NewCodec()
	const seeds = 300
	for seed := uint64(1); seed <= seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		check := func(what string, v any, fast []byte, decodeFast func([]byte) (any, bool)) {
			t.Helper()
			slow, err := c.encode(v)
			if err != nil {
				t.Fatalf("seed %d: go-msgpack encode %s: %v", seed, what, err)
			}
			if !bytes.Equal(fast, slow) {
				t.Fatalf("seed %d: %s encodes to\n%x\nbut go-msgpack writes\n%x", seed, what, fast, slow)
			}
			got, ok := decodeFast(slow)
			want := reflect.ValueOf(v).Elem().Interface()
			if !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: %s fast decode = %+v, %v; want %+v", seed, what, got, ok, want)
			}
			back := reflect.New(reflect.TypeOf(v).Elem())
			if err := c.decode(fast, back.Interface()); err != nil || !reflect.DeepEqual(back.Elem().Interface(), want) {
				t.Fatalf("seed %d: go-msgpack decode of the %s = %+v, %v", seed, what, back.Elem().Interface(), err)
			}
		}
		cmd := randomWireCommand(rng)
		check("command", &cmd, appendCommand(nil, &cmd), func(b []byte) (any, bool) {
			v, ok := decodeCommandFast(b)
			if v.Body != nil && len(v.Body) == 0 {
				v.Body = []byte{}
			}
			return v, ok
		})
		ab := randomAcquireBody(rng)
		check("acquire body", &ab, appendAcquireBody(nil, &ab), func(b []byte) (any, bool) {
			var v AcquireBody
			ok := decodeAcquireBodyFast(b, &v)
			return v, ok
		})
		rb := randomReleaseBody(rng)
		check("release body", &rb, appendReleaseBody(nil, &rb), func(b []byte) (any, bool) {
			var v ReleaseBody
			ok := decodeReleaseBodyFast(b, &v)
			return v, ok
		})
		res := randomStoredResult(rng)
		check("result", &res, appendStoredResult(nil, &res), func(b []byte) (any, bool) {
			var v storedResult
			err := c.decode(b, &v)
			return v, err == nil
		})
	}
}

// What the fast path does not take (a field it does not know, a form
// go-msgpack never writes for the field) still decodes, through go-msgpack.
func TestWireFallsBackToGoMsgpack(t *testing.T) {
	c := NewCodec()
	body, err := c.encode(map[string]any{"Name": "jobs/a", "Token": uint64(9), "Note": "from a newer writer"})
	if err != nil {
		t.Fatal(err)
	}
	if decodeReleaseBodyFast(body, new(ReleaseBody)) {
		t.Fatal("the fast path took a body with an unknown field")
	}
	data, err := c.encode(map[string]any{"Type": uint8(CmdRelease), "Session": int8(3), "Body": body, "Extra": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeCommandFast(data); ok {
		t.Fatal("the fast path took a command with an unknown field")
	}
	cmd, err := c.Decode(data)
	if err != nil || cmd.Type != CmdRelease || cmd.Session != 3 {
		t.Fatalf("Decode = %+v, %v", cmd, err)
	}
	var rb ReleaseBody
	if err := c.DecodeBody(cmd, &rb); err != nil || rb != (ReleaseBody{Name: "jobs/a", Token: 9}) {
		t.Fatalf("DecodeBody = %+v, %v", rb, err)
	}
}

// FuzzWireDecode: whatever the fast decoders accept, go-msgpack decodes to
// the same value, so the fast path never changes what an entry means.
func FuzzWireDecode(f *testing.F) {
	c := NewCodec()
	rng := rand.New(rand.NewPCG(1, 0))
	for range 8 {
		cmd := randomWireCommand(rng)
		f.Add(appendCommand(nil, &cmd))
		ab := randomAcquireBody(rng)
		f.Add(appendAcquireBody(nil, &ab))
		rb := randomReleaseBody(rng)
		f.Add(appendReleaseBody(nil, &rb))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, ok := decodeCommandFast(data); ok {
			var want Command
			if err := c.decode(data, &want); err != nil {
				t.Fatalf("fast decode took %x, go-msgpack refuses it: %v", data, err)
			}
			if want.Body != nil && len(want.Body) == 0 && got.Body != nil {
				got.Body = want.Body
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("command %x: fast %+v, go-msgpack %+v", data, got, want)
			}
		}
		var ab AcquireBody
		if decodeAcquireBodyFast(data, &ab) {
			var want AcquireBody
			if err := c.decode(data, &want); err != nil || !reflect.DeepEqual(ab, want) {
				t.Fatalf("acquire body %x: fast %+v, go-msgpack %+v, %v", data, ab, want, err)
			}
		}
		var rb ReleaseBody
		if decodeReleaseBodyFast(data, &rb) {
			var want ReleaseBody
			if err := c.decode(data, &want); err != nil || rb != want {
				t.Fatalf("release body %x: fast %+v, go-msgpack %+v, %v", data, rb, want, err)
			}
		}
	})
}
