package rpc

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
)

// writeBuffers pools the writers' buffers, one pool per buffer size
// (*sync.Pool of *bufio.Writer, keyed by int). A link looks its pool up
// once, when it is made.
var writeBuffers sync.Map

// writeBuffersHeld counts the buffers taken from the pools and not given
// back: the connections writing now. Tests read it.
var writeBuffersHeld atomic.Int64

// writeBufferPool returns the pool of write buffers of size bytes.
func writeBufferPool(size int) *sync.Pool {
	if p, ok := writeBuffers.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := writeBuffers.LoadOrStore(size, &sync.Pool{})
	return p.(*sync.Pool)
}

// getWriteBuffer returns an empty buffered writer of size bytes onto w,
// from pool.
func getWriteBuffer(pool *sync.Pool, w io.Writer, size int) *bufio.Writer {
	writeBuffersHeld.Add(1)
	if bw, ok := pool.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, size)
}

// putWriteBuffer gives bw (nil: nothing) back to pool. Whatever it still
// buffers is dropped: callers flush first, or are closing.
func putWriteBuffer(pool *sync.Pool, bw *bufio.Writer) {
	if bw == nil {
		return
	}
	writeBuffersHeld.Add(-1)
	bw.Reset(io.Discard) // drop the socket, and anything unflushed
	pool.Put(bw)
}
