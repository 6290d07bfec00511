package rpc

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MsgType is a frame's type byte. Callers own 1..MaxUserType; rpc owns the
// values above it.
type MsgType uint8

// MaxUserType is the largest message type a caller may use.
const MaxUserType MsgType = 0xEF

// Message types reserved by rpc.
const (
	// TypeResponse answers the request with the same id; msgpack body.
	TypeResponse MsgType = 0xF0
	// TypeError answers the request with the same id with a RemoteError.
	TypeError MsgType = 0xF1
	// TypePing is sent by the dial side to keep an idle connection alive;
	// empty body.
	TypePing MsgType = 0xF2
	// TypePong answers a ping; empty body.
	TypePong MsgType = 0xF3
	// TypeCancel tells the server the caller gave up on the request with
	// this id; empty body. The server still answers it.
	TypeCancel MsgType = 0xF4
)

func (t MsgType) user() bool { return t >= 1 && t <= MaxUserType }

// headerLen is the fixed frame header: uint32 body length, type byte,
// uint64 request id, all big-endian.
//
// A frame with a user type and request id 0 is one-way (a Send or a Push);
// a non-zero id is a request that gets exactly one TypeResponse or
// TypeError frame with the same id.
const headerLen = 4 + 1 + 8

// readChunk is how much body the reader reads before growing its buffer.
// The buffer never exceeds max(readChunk, 2*bytes received), whatever the
// header claims.
const readChunk = 64 << 10

// readBufferSize is the size of a server connection's buffered reader,
// which it holds for its whole life, idle or not. Small frames arrive
// many to a read; a body larger than the buffer is read straight into
// its own slice (readBody), so a larger buffer would mostly cost idle
// connections memory.
const readBufferSize = 16 << 10

type frame struct {
	typ  MsgType
	id   uint64
	body []byte
}

func putHeader(h *[headerLen]byte, typ MsgType, id uint64, n int) {
	binary.BigEndian.PutUint32(h[0:], uint32(n))
	h[4] = byte(typ)
	binary.BigEndian.PutUint64(h[5:], id)
}

// readFrame reads one frame. It checks the declared length against
// maxBody before allocating anything, checks the type, then reads the body
// in bounded steps so that memory follows the bytes that actually arrive,
// and finally checks the body's msgpack structure and depth.
func readFrame(r io.Reader, hdr *[headerLen]byte, maxBody, maxDepth int) (frame, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[0:])
	f := frame{typ: MsgType(hdr[4]), id: binary.BigEndian.Uint64(hdr[5:])}
	if uint64(n) > uint64(maxBody) {
		return frame{}, fmt.Errorf("%w: %d bytes declared, limit %d", ErrFrameTooLarge, n, maxBody)
	}
	control := false
	switch {
	case f.typ.user(), f.typ == TypeResponse, f.typ == TypeError:
	case f.typ == TypePing, f.typ == TypePong, f.typ == TypeCancel:
		control = true
	default:
		return frame{}, fmt.Errorf("%w: 0x%02x", ErrUnknownType, byte(f.typ))
	}
	if control && n != 0 {
		return frame{}, fmt.Errorf("%w: control frame 0x%02x with a %d-byte body", ErrProtocol, byte(f.typ), n)
	}
	body, err := readBody(r, int(n))
	if err != nil {
		return frame{}, err
	}
	if !control {
		if err := scanMsgpack(body, maxDepth); err != nil {
			return frame{}, err
		}
	}
	f.body = body
	return f, nil
}

// readBody reads exactly n bytes, growing the buffer at most to twice what
// has arrived (plus readChunk), so a peer that claims a large frame and
// then stops costs at most readChunk bytes. On error it returns what it
// read so far.
func readBody(r io.Reader, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err // the partial buffer, so tests can check its size
		}
	}
	return buf, nil
}
