package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
)

// Representative bodies: the shape of a Raft message and of a client
// request, with nested slices, maps, strings and bytes.
type fuzzEntry struct {
	Term, Index uint64
	Type        uint8
	Data        []byte
}

type fuzzMessage struct {
	Type     uint8
	From, To string
	Term     uint64
	Entries  []fuzzEntry
	Addrs    map[string]string
	Voters   []string
	Snapshot *struct {
		Index uint64
		Data  []byte
	}
	Reject bool
	Hint   int64
}

// hugeHeaders are msgpack headers whose declared lengths are absurd.
var hugeHeaders = [][]byte{
	{0xdd, 0xff, 0xff, 0xff, 0xff}, // array32 of 4G elements
	{0xdf, 0xff, 0xff, 0xff, 0xff}, // map32 of 4G pairs
	{0xc6, 0xff, 0xff, 0xff, 0xff}, // bin32 of 4 GiB
	{0xdb, 0xff, 0xff, 0xff, 0xff}, // str32 of 4 GiB
	{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},
	{0xdc, 0xff, 0xff}, // array16
	{0xde, 0xff, 0xff}, // map16
}

func fuzzBodies(f *testing.F) [][]byte {
	msg := fuzzMessage{
		Type: 3, From: "n1", To: "n2", Term: 7,
		Entries: []fuzzEntry{{Term: 7, Index: 10, Data: []byte("set x")}, {Term: 7, Index: 11}},
		Addrs:   map[string]string{"n1": "127.0.0.1:7001"},
		Voters:  []string{"n1", "n2", "n3"},
		Hint:    -1,
	}
	bodies := [][]byte{mustEncode(f, msg), mustEncode(f, echoReq{N: 1, Text: "x"}), {0xc0}, nest(40)}
	// Every huge header alone, and nested as the Entries field.
	for _, h := range hugeHeaders {
		bodies = append(bodies, h)
		inner := append([]byte{0x81, 0xa7}, "Entries"...)
		bodies = append(bodies, append(inner, h...))
	}
	return bodies
}

func FuzzReadFrame(f *testing.F) {
	var hdr [headerLen]byte
	for _, b := range fuzzBodies(f) {
		f.Add(rawFrame(typEcho, 1, b))
		f.Add(rawFrame(typEcho, 0, b)[:headerLen+len(b)/2]) // truncated body
	}
	f.Add([]byte{})                               // empty
	f.Add(rawFrame(typEcho, 1, nil))              // zero-length
	f.Add(rawFrame(typEcho, 1, []byte{0x01})[:5]) // truncated header
	f.Add(rawFrame(TypePing, 0, nil))             // control frame
	f.Add(rawFrame(TypeCancel, 9, []byte{0x01}))  // control frame with a body
	putHeader(&hdr, typEcho, 1, 1<<20)            // maximum length, no body
	f.Add(append([]byte(nil), hdr[:]...))         //
	putHeader(&hdr, typEcho, 1, 1<<32-1)          // 4 GiB claimed
	f.Add(append(append([]byte(nil), hdr[:]...), 1, 2, 3))
	f.Add(append(rawFrame(typEcho, 1, []byte{0x01}), rawFrame(TypeResponse, 2, []byte{0xa1, 'x'})...))

	f.Fuzz(func(t *testing.T, in []byte) {
		const maxBody = 1 << 20
		r := bytes.NewReader(in)
		var hdr [headerLen]byte
		for {
			f, err := readFrame(r, &hdr, maxBody, 32)
			if err != nil {
				known := []error{io.EOF, io.ErrUnexpectedEOF, ErrFrameTooLarge, ErrUnknownType, ErrDecode, ErrTooDeep, ErrProtocol}
				ok := false
				for _, k := range known {
					ok = ok || errors.Is(err, k)
				}
				if !ok {
					t.Fatalf("untyped error %v", err)
				}
				break
			}
			if cap(f.body) > len(in) {
				t.Fatalf("body capacity %d from %d input bytes", cap(f.body), len(in))
			}
			if !f.typ.user() && f.typ != TypeResponse && f.typ != TypeError && len(f.body) != 0 {
				t.Fatalf("control frame 0x%02x with a body", f.typ)
			}
		}
		// Allocation follows the bytes present, whatever the header says.
		if len(in) >= headerLen {
			n := int(binary.BigEndian.Uint32(in))
			body, _ := readBody(bytes.NewReader(in[headerLen:]), n)
			if limit := max(readChunk, 2*(len(in)-headerLen)); cap(body) > limit {
				t.Fatalf("claimed %d, present %d: buffer cap %d > %d", n, len(in)-headerLen, cap(body), limit)
			}
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	for _, b := range fuzzBodies(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var m fuzzMessage
		err := Decode(in, &m)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("untyped error %v", err)
			}
		} else {
			// What decoded must survive a round trip unchanged.
			again, err := Encode(m)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			var m2 fuzzMessage
			if err := Decode(again, &m2); err != nil {
				t.Fatalf("decode of re-encoded value: %v", err)
			}
			if !reflect.DeepEqual(normalize(m), normalize(m2)) {
				t.Fatalf("round trip changed the value:\n%#v\n%#v", m, m2)
			}
		}
		var v any
		if err := Decode(in, &v); err != nil && !errors.Is(err, ErrDecode) && !errors.Is(err, ErrTooDeep) {
			t.Fatalf("untyped error into any: %v", err)
		}
	})
}

// normalize maps empty slices and maps to nil: msgpack does not keep the
// difference.
func normalize(m fuzzMessage) fuzzMessage {
	if len(m.Entries) == 0 {
		m.Entries = nil
	}
	for i := range m.Entries {
		if len(m.Entries[i].Data) == 0 {
			m.Entries[i].Data = nil
		}
	}
	if len(m.Addrs) == 0 {
		m.Addrs = nil
	}
	if len(m.Voters) == 0 {
		m.Voters = nil
	}
	if m.Snapshot != nil && len(m.Snapshot.Data) == 0 {
		m.Snapshot.Data = nil
	}
	return m
}

func FuzzHandshake(f *testing.F) {
	for _, h := range []hello{
		{version: ProtocolVersion, b: uint8(KindPeer), id: "n1"},
		{version: ProtocolVersion, b: uint8(KindClient)},
		{version: ProtocolVersion + 1, b: uint8(KindPeer), id: "n2"},
		{version: ProtocolVersion, b: 0xff, id: string(bytes.Repeat([]byte{'x'}, 255))},
		{version: ProtocolVersion, b: statusRefused, id: "n3"},
	} {
		var buf bytes.Buffer
		if err := writeHello(&buf, h); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()-1]) // truncated
	}
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("LOCKD\x00\x01\x01\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &countingReader{r: bytes.NewReader(in)}
		h, err := readHello(r)
		if r.n > helloFixed+255 {
			t.Fatalf("handshake read %d bytes", r.n)
		}
		if err != nil {
			if !errors.Is(err, ErrBadMagic) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// A hello that parsed re-encodes to exactly the bytes consumed.
		var buf bytes.Buffer
		if err := writeHello(&buf, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), in[:r.n]) {
			t.Fatalf("re-encoded % x, consumed % x", buf.Bytes(), in[:r.n])
		}
		for _, kind := range []Kind{KindPeer, KindClient} {
			status, err := judgeHello(h, kind)
			if (status == statusOK) != (err == nil) {
				t.Fatalf("status %d with error %v", status, err)
			}
			if status == statusOK && (h.version != ProtocolVersion || Kind(h.b) != kind || (kind == KindPeer && h.id == "")) {
				t.Fatalf("accepted %+v for %s", h, kind)
			}
		}
		if err := replyError(h); (err == nil) != (h.b == statusOK && h.version == ProtocolVersion) {
			t.Fatalf("reply %+v gave %v", h, err)
		}
	})
}
