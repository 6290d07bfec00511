package rpc

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
)

func TestCodecRoundTripsStructs(t *testing.T) {
	in := echoReq{N: -7, Text: "héllo", Data: []byte{0, 1, 2, 255}}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	var out echoReq
	if err := Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.N != in.N || out.Text != in.Text || !bytes.Equal(out.Data, in.Data) {
		t.Fatalf("got %+v, want %+v", out, in)
	}
}

func TestCodecEncodesBytesAsBin(t *testing.T) {
	b, err := Encode([]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xc4 {
		t.Fatalf("[]byte encoded with 0x%02x, want bin8 0xc4", b[0])
	}
}

func TestDecodeRejectsHugeContainerHeadersWithoutAllocating(t *testing.T) {
	// Reference: issue 3, "a header that claims 4 GiB allocates nothing".
	type many struct{ A, B, C, D, E, F, G, H uint64 }
	headers := [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		{0xc6, 0xff, 0xff, 0xff, 0xff},
		{0xdb, 0xff, 0xff, 0xff, 0xff},
	}
	for _, h := range headers {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		var s []many
		var m map[string]many
		var bs []byte
		var str string
		for _, v := range []any{&s, &m, &bs, &str} {
			if err := Decode(h, v); !errors.Is(err, ErrDecode) {
				t.Fatalf("% x into %T: got %v, want ErrDecode", h, v, err)
			}
		}
		runtime.ReadMemStats(&ms)
		if grew := ms.TotalAlloc - before; grew > 1<<20 {
			t.Fatalf("% x: decoding allocated %d bytes", h, grew)
		}
	}
}

func TestDecodeBoundsSliceMemoryByInput(t *testing.T) {
	// 100k one-byte elements into a slice of 64-byte structs: the pre-scan
	// allows it (the bytes are there), MaxInitLen keeps the decoder from
	// provisioning 100k structs before it has decoded them. Decoding a nil
	// into a struct element is legal, so the decode succeeds.
	type big struct{ A, B, C, D, E, F, G, H uint64 }
	b := []byte{0xdd, 0x00, 0x01, 0x86, 0xa0}
	b = append(b, bytes.Repeat([]byte{0xc0}, 100_000)...)
	var out []big
	if err := Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 100_000 {
		t.Fatalf("decoded %d elements", len(out))
	}
}

func TestDecodeWrongShapeIsErrDecode(t *testing.T) {
	b := mustEncode(t, "just a string")
	var r echoReq
	if err := Decode(b, &r); !errors.Is(err, ErrDecode) {
		t.Fatalf("got %v, want ErrDecode", err)
	}
}

func TestDecodeEnforcesDepth(t *testing.T) {
	var v any
	if err := Decode(nest(33), &v); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("got %v, want ErrTooDeep", err)
	}
	if err := NewCodec(64).Decode(nest(33), &v); err != nil {
		t.Fatalf("depth 33 under a limit of 64: %v", err)
	}
}

func TestCodecIsReusableAfterAFailedDecode(t *testing.T) {
	c := NewCodec(8)
	good := mustEncode(t, echoReq{N: 5, Text: "ok"})
	for range 3 {
		var r echoReq
		if err := c.Decode(mustEncode(t, "x"), &r); !errors.Is(err, ErrDecode) {
			t.Fatalf("got %v", err)
		}
		r = echoReq{}
		if err := c.Decode(good, &r); err != nil || r.N != 5 || r.Text != "ok" {
			t.Fatalf("after a failure: %+v %v", r, err)
		}
	}
}
