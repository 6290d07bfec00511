package rpc

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
)

// writeBuffers pools the writers' buffers, one pool per buffer size
// (*sync.Pool of *bufio.Writer, keyed by int).
var writeBuffers sync.Map

// writeBuffersHeld counts the buffers taken from the pools and not given
// back: the connections writing now. Tests read it.
var writeBuffersHeld atomic.Int64

// getWriteBuffer returns an empty buffered writer of size bytes onto w.
func getWriteBuffer(w io.Writer, size int) *bufio.Writer {
	writeBuffersHeld.Add(1)
	p, _ := writeBuffers.LoadOrStore(size, &sync.Pool{})
	if bw, ok := p.(*sync.Pool).Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, size)
}

// putWriteBuffer gives bw (nil: nothing) back to its pool. Whatever it
// still buffers is dropped: callers flush first, or are closing.
func putWriteBuffer(bw *bufio.Writer) {
	if bw == nil {
		return
	}
	writeBuffersHeld.Add(-1)
	size := bw.Size()
	bw.Reset(io.Discard) // drop the socket, and anything unflushed
	p, _ := writeBuffers.LoadOrStore(size, &sync.Pool{})
	p.(*sync.Pool).Put(bw)
}
