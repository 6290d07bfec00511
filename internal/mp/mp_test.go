package mp

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/lockd/lockd/internal/mp/mptest"
)

func goMsgpack(t *testing.T, v any) []byte {
	t.Helper()
	var out []byte
	h := &codec.MsgpackHandle{WriteExt: true}
	if err := codec.NewEncoderBytes(&out, h).Encode(v); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every form is written as go-msgpack writes it, and read back.
func TestFormsMatchGoMsgpack(t *testing.T) {
	for _, i := range mptest.EdgeInts {
		if got, want := AppendInt(nil, i), goMsgpack(t, i); !bytes.Equal(got, want) {
			t.Errorf("AppendInt(%d) = %x, go-msgpack %x", i, got, want)
		}
		if r := NewReader(AppendInt(nil, i)); r.Int() != i || !r.Done() {
			t.Errorf("Int of AppendInt(%d) failed", i)
		}
		if i < 0 {
			if r := NewReader(AppendInt(nil, i)); r.Uint(math.MaxUint64) != 0 || r.OK() {
				t.Errorf("Uint took the negative %d", i)
			}
			continue
		}
		u := uint64(i)
		if got, want := AppendUint(nil, u), goMsgpack(t, u); !bytes.Equal(got, want) {
			t.Errorf("AppendUint(%d) = %x, go-msgpack %x", u, got, want)
		}
		if r := NewReader(AppendUint(nil, u)); r.Uint(math.MaxUint64) != u || !r.Done() {
			t.Errorf("Uint of AppendUint(%d) failed", u)
		}
	}
	if r := NewReader(AppendUint(nil, math.MaxUint64)); r.Uint(math.MaxUint64) != math.MaxUint64 || !r.Done() {
		t.Error("Uint of MaxUint64 failed")
	}
	if r := NewReader(AppendUint(nil, 256)); r.Uint(255) != 0 || r.OK() {
		t.Error("Uint(255) took 256")
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("x", n)
		if got, want := AppendStr(nil, s), goMsgpack(t, s); !bytes.Equal(got, want) {
			t.Errorf("AppendStr(%d bytes) = %x…, go-msgpack %x…", n, got[:min(4, len(got))], want[:min(4, len(want))])
		}
		if r := NewReader(AppendStr(nil, s)); r.Str() != s || !r.Done() {
			t.Errorf("Str of %d bytes failed", n)
		}
		p := []byte(s)
		if got, want := AppendBin(nil, p), goMsgpack(t, p); !bytes.Equal(got, want) {
			t.Errorf("AppendBin(%d bytes) = %x…, go-msgpack %x…", n, got[:min(4, len(got))], want[:min(4, len(want))])
		}
		if r := NewReader(AppendBin(nil, p)); !bytes.Equal(r.Bin(), p) || !r.Done() {
			t.Errorf("Bin of %d bytes failed", n)
		}
	}
	if got, want := AppendBin(nil, nil), goMsgpack(t, []byte(nil)); !bytes.Equal(got, want) {
		t.Errorf("AppendBin(nil) = %x, go-msgpack %x", got, want)
	}
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		m := make(map[int]bool, n)
		for i := range n {
			m[i] = true
		}
		want := goMsgpack(t, m)
		got := AppendMapLen(nil, n)
		if !bytes.HasPrefix(want, got) {
			t.Errorf("AppendMapLen(%d) = %x, go-msgpack starts %x", n, got, want[:len(got)])
		}
		if r := NewReader(got); r.MapLen() != n || !r.Done() {
			t.Errorf("MapLen of %d failed", n)
		}
	}
	for _, n := range []int{0, 15, 16, 65535, 65536} {
		want := goMsgpack(t, make([]bool, n))
		got := AppendArrayLen(nil, n)
		if !bytes.HasPrefix(want, got) {
			t.Errorf("AppendArrayLen(%d) = %x, go-msgpack starts %x", n, got, want[:len(got)])
		}
		if r := NewReader(got); r.ArrayLen() != n || !r.Done() {
			t.Errorf("ArrayLen of %d failed", n)
		}
	}
	if got, want := AppendNil(nil), goMsgpack(t, nil); !bytes.Equal(got, want) {
		t.Errorf("AppendNil = %x, go-msgpack %x", got, want)
	}
	if r := NewReader(AppendUint(AppendNil(nil), 3)); !r.Nil() || r.Nil() || r.Uint(9) != 3 || !r.Done() {
		t.Error("Nil did not read exactly one nil")
	}
	for _, v := range []bool{false, true} {
		if got, want := AppendBool(nil, v), goMsgpack(t, v); !bytes.Equal(got, want) {
			t.Errorf("AppendBool(%v) = %x, go-msgpack %x", v, got, want)
		}
	}
}

// A Reader fails on forms it does not take and on short input, and stays
// failed.
func TestReaderFails(t *testing.T) {
	for name, read := range map[string]func(r *Reader){
		"float as int":    func(r *Reader) { r.Int() },
		"float as string": func(r *Reader) { r.Str() },
		"float as map":    func(r *Reader) { r.MapLen() },
		"float as bool":   func(r *Reader) { r.Bool() },
		"float as bin":    func(r *Reader) { r.Bin() },
	} {
		r := NewReader([]byte{0xcb, 0, 0, 0, 0, 0, 0, 0, 0})
		read(&r)
		if r.OK() || r.Done() {
			t.Errorf("%s: reader still OK", name)
		}
	}
	short := NewReader([]byte{0xd9, 10, 'a'})
	if short.Str() != "" || short.OK() {
		t.Error("a str longer than its input was read")
	}
	r := NewReader(AppendUint(nil, 5))
	r.Fail()
	if r.Uint(10) != 0 || r.Done() {
		t.Error("a failed reader read on")
	}
}

// BinCopy keeps nil and empty apart and does not alias its input.
func TestBinCopy(t *testing.T) {
	in := AppendBin(AppendBin(AppendBin(nil, nil), []byte{}), []byte("abc"))
	r := NewReader(in)
	if got := r.BinCopy(); got != nil {
		t.Fatalf("nil bin = %#v", got)
	}
	if got := r.BinCopy(); got == nil || len(got) != 0 {
		t.Fatalf("empty bin = %#v", got)
	}
	got := r.BinCopy()
	in[len(in)-1] = 'X'
	if string(got) != "abc" || !r.Done() {
		t.Fatalf("bin = %q after its input changed", got)
	}
}
