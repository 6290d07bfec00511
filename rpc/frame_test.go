package rpc

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

func readOne(b []byte, maxBody int) (frame, error) {
	var hdr [headerLen]byte
	return readFrame(bytes.NewReader(b), &hdr, maxBody, 32)
}

func TestReadFrameRoundTrip(t *testing.T) {
	body := mustEncode(t, echoReq{N: 1, Text: "a"})
	f, err := readOne(rawFrame(typEcho, 42, body), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if f.typ != typEcho || f.id != 42 || !bytes.Equal(f.body, body) {
		t.Fatalf("got %+v", f)
	}
}

func TestReadFrameRefusesOversizeBeforeReadingBody(t *testing.T) {
	var hdr [headerLen]byte
	putHeader(&hdr, typEcho, 1, 0)
	copy(hdr[:4], []byte{0xff, 0xff, 0xff, 0xff})
	r := &countingReader{r: bytes.NewReader(append(hdr[:], make([]byte, 100)...))}
	var scratch [headerLen]byte
	_, err := readFrame(r, &scratch, 4<<20, 32)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if r.n != headerLen {
		t.Fatalf("read %d bytes, want only the %d-byte header", r.n, headerLen)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadFrameMemoryFollowsBytesPresent(t *testing.T) {
	// A header that claims 4 MiB followed by 10 bytes: the reader must not
	// allocate the claimed length.
	var hdr [headerLen]byte
	putHeader(&hdr, typEcho, 1, 4<<20)
	in := append(hdr[:], make([]byte, 10)...)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	for range 20 {
		if _, err := readOne(in, 4<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&ms)
	if grew := ms.TotalAlloc - before; grew > 20*(readChunk+4096) {
		t.Fatalf("20 truncated frames allocated %d bytes", grew)
	}
}

func TestReadBodyGrowsOnlyAsBytesArrive(t *testing.T) {
	for _, n := range []int{1, readChunk - 1, readChunk, readChunk + 1, 5*readChunk + 3} {
		data := bytes.Repeat([]byte{7}, n)
		b, err := readBody(bytes.NewReader(data), n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("n=%d: body differs", n)
		}
		if cap(b) > max(readChunk, 2*n) {
			t.Fatalf("n=%d: cap %d", n, cap(b))
		}
	}
}

func TestReadFrameRejects(t *testing.T) {
	good := mustEncode(t, 1)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated header", rawFrame(typEcho, 1, good)[:7], io.ErrUnexpectedEOF},
		{"empty input", nil, io.EOF},
		{"truncated body", rawFrame(typEcho, 1, []byte{0xa3, 'a', 'b', 'c'})[:headerLen+2], io.ErrUnexpectedEOF},
		{"type 0", rawFrame(0, 1, good), ErrUnknownType},
		{"reserved type 0xff", rawFrame(0xff, 1, good), ErrUnknownType},
		{"ping with body", rawFrame(TypePing, 0, good), ErrProtocol},
		{"zero-length user body", rawFrame(typEcho, 1, nil), ErrDecode},
		{"array32 header of 4G", rawFrame(typEcho, 1, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}), ErrDecode},
		{"too deep", rawFrame(typEcho, 1, nest(33)), ErrTooDeep},
		{"over limit", rawFrame(typEcho, 1, make([]byte, 2000)), ErrFrameTooLarge},
	}
	for _, c := range cases {
		_, err := readOne(c.in, 1024)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := readOne(rawFrame(TypePong, 0, nil), 1024); err != nil {
		t.Errorf("empty pong: %v", err)
	}
}
