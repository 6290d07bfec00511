package rpc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestChunksReassembleToThePayload(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 999, 1000, 1001, 12345} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		chunks := SplitChunks(data, 1000)
		a := NewAssembler(1 << 20)
		for i, c := range chunks {
			if len(c.Data) > 1000 {
				t.Fatalf("n=%d: chunk of %d bytes", n, len(c.Data))
			}
			// Through the codec, as it travels.
			var got Chunk
			if err := Decode(mustEncode(t, c), &got); err != nil {
				t.Fatal(err)
			}
			done, err := a.Add(got)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(chunks)-1) {
				t.Fatalf("n=%d chunk %d: done=%v", n, i, done)
			}
		}
		if !bytes.Equal(a.Bytes(), data) {
			t.Fatalf("n=%d: payload differs", n)
		}
	}
}

func TestAssemblerRejectsBadChunks(t *testing.T) {
	cases := []struct {
		name   string
		chunks []Chunk
	}{
		{"over limit", []Chunk{{Offset: 0, Total: 1 << 40, Data: []byte{1}}}},
		{"gap", []Chunk{{Offset: 0, Total: 4, Data: []byte{1}}, {Offset: 2, Total: 4, Data: []byte{1}}}},
		{"total changes", []Chunk{{Offset: 0, Total: 4, Data: []byte{1}}, {Offset: 1, Total: 5, Data: []byte{1}}}},
		{"past the end", []Chunk{{Offset: 0, Total: 2, Data: []byte{1, 2, 3}}}},
	}
	for _, c := range cases {
		a := NewAssembler(1 << 20)
		var err error
		for _, ch := range c.chunks {
			if _, err = a.Add(ch); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrChunk) {
			t.Errorf("%s: got %v, want ErrChunk", c.name, err)
		}
	}
}

func TestMaxChunkDataFitsInAFrame(t *testing.T) {
	const frameSize = 4096
	c := Chunk{Offset: 1<<64 - 1, Total: 1<<64 - 1, Data: make([]byte, MaxChunkData(frameSize))}
	b := mustEncode(t, c)
	if len(b) > frameSize {
		t.Fatalf("a full chunk encodes to %d bytes, frame limit %d", len(b), frameSize)
	}
}
