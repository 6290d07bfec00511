package rpc

import "fmt"

// Chunk is one piece of a payload larger than a frame (a snapshot). The
// caller sends chunks as ordinary messages, in order, each below
// MaxFrameSize, and reassembles them with an Assembler.
type Chunk struct {
	// Offset is the position of Data in the whole payload.
	Offset uint64
	// Total is the length of the whole payload.
	Total uint64
	// Data is this chunk's bytes.
	Data []byte
}

// chunkOverhead bounds the msgpack bytes a Chunk adds around its Data
// (field names, two uint64s, a bin32 header) when it is the whole body.
const chunkOverhead = 64

// MaxChunkData is the largest Data a Chunk may carry to fit in a frame of
// maxFrameSize bytes when it is the whole body.
func MaxChunkData(maxFrameSize int) int { return maxFrameSize - chunkOverhead }

// SplitChunks cuts data into chunks of at most size bytes. The chunks
// share data's memory. An empty payload is one empty chunk, so that the
// receiver still sees the end.
func SplitChunks(data []byte, size int) []Chunk {
	if size < 1 {
		size = 1
	}
	total := uint64(len(data))
	out := make([]Chunk, 0, len(data)/size+1)
	for off := 0; off < len(data) || len(out) == 0; off += size {
		end := min(off+size, len(data))
		out = append(out, Chunk{Offset: uint64(off), Total: total, Data: data[off:end]})
	}
	return out
}

// Assembler rebuilds a payload from chunks that arrive in order. Its
// memory grows with the bytes received, never with the declared Total.
type Assembler struct {
	limit uint64
	total uint64
	buf   []byte
	begun bool
}

// NewAssembler accepts payloads of at most limit bytes.
func NewAssembler(limit uint64) *Assembler { return &Assembler{limit: limit} }

// Add appends c. It reports done once the whole payload has arrived. A
// chunk out of order, a Total that changes or exceeds the limit, or data
// past Total returns an error wrapping ErrChunk; call Reset to start over.
func (a *Assembler) Add(c Chunk) (done bool, err error) {
	if !a.begun {
		if c.Total > a.limit {
			return false, fmt.Errorf("%w: payload of %d bytes, limit %d", ErrChunk, c.Total, a.limit)
		}
		a.total, a.begun = c.Total, true
	}
	switch {
	case c.Total != a.total:
		return false, fmt.Errorf("%w: total changed from %d to %d", ErrChunk, a.total, c.Total)
	case c.Offset != uint64(len(a.buf)):
		return false, fmt.Errorf("%w: offset %d, expected %d", ErrChunk, c.Offset, len(a.buf))
	case uint64(len(c.Data)) > a.total-uint64(len(a.buf)):
		return false, fmt.Errorf("%w: %d bytes past the end", ErrChunk, uint64(len(a.buf)+len(c.Data))-a.total)
	}
	a.buf = append(a.buf, c.Data...)
	return uint64(len(a.buf)) == a.total, nil
}

// Bytes returns the payload assembled so far.
func (a *Assembler) Bytes() []byte { return a.buf }

// Reset forgets everything, ready for a new payload.
func (a *Assembler) Reset() { *a = Assembler{limit: a.limit} }
