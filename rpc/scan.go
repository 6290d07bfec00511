package rpc

import (
	"encoding/binary"
	"fmt"
)

// scanMsgpack checks that b holds exactly one well-formed msgpack value,
// nested at most maxDepth deep, before any decoder looks at it. Every
// declared length is checked against the bytes that remain: a string or
// binary must fit, and a container of n elements needs at least n bytes
// (each element takes at least one). So a header claiming 4G elements is
// rejected without allocating, and the decoder that runs afterwards can
// never be asked to build more than the input could describe.
//
// It runs in O(len(b)) time and allocates only the depth stack.
func scanMsgpack(b []byte, maxDepth int) error {
	// pending[i] is how many values container i still expects.
	var stackBuf [16]uint64
	pending := stackBuf[:0]
	// Top level: exactly one value.
	pending = append(pending, 1)
	p := 0
	for {
		// Pop containers that are complete.
		for len(pending) > 0 && pending[len(pending)-1] == 0 {
			pending = pending[:len(pending)-1]
		}
		if len(pending) == 0 {
			break
		}
		if p >= len(b) {
			return fmt.Errorf("%w: truncated at byte %d", ErrDecode, p)
		}
		pending[len(pending)-1]--
		c := b[p]
		p++
		rest := uint64(len(b) - p)
		var skip uint64    // payload bytes to skip
		var hdr uint64     // length-field bytes to read
		var elems uint64   // container elements that follow
		var container bool // c opens an array or map
		var mapPairs bool
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
			// fixint, negative fixint, nil, false, true
		case c >= 0x80 && c <= 0x8f:
			container, mapPairs, elems = true, true, uint64(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			container, elems = true, uint64(c&0x0f)
		case c >= 0xa0 && c <= 0xbf:
			skip = uint64(c & 0x1f)
		case c == 0xc1:
			return fmt.Errorf("%w: reserved byte 0xc1 at %d", ErrDecode, p-1)
		case c == 0xc4, c == 0xd9: // bin8, str8
			hdr = 1
		case c == 0xc5, c == 0xda: // bin16, str16
			hdr = 2
		case c == 0xc6, c == 0xdb: // bin32, str32
			hdr = 4
		case c == 0xc7, c == 0xc8, c == 0xc9: // ext8/16/32: length then type byte
			hdr = 1 << (c - 0xc7)
		case c == 0xca:
			skip = 4
		case c == 0xcb:
			skip = 8
		case c >= 0xcc && c <= 0xcf: // uint8..uint64
			skip = 1 << (c - 0xcc)
		case c >= 0xd0 && c <= 0xd3: // int8..int64
			skip = 1 << (c - 0xd0)
		case c >= 0xd4 && c <= 0xd8: // fixext1..16: type byte + data
			skip = 1 + 1<<(c-0xd4)
		case c == 0xdc:
			container, hdr = true, 2
		case c == 0xdd:
			container, hdr = true, 4
		case c == 0xde:
			container, mapPairs, hdr = true, true, 2
		case c == 0xdf:
			container, mapPairs, hdr = true, true, 4
		}
		if hdr > 0 {
			if hdr > rest {
				return fmt.Errorf("%w: truncated length at byte %d", ErrDecode, p)
			}
			var n uint64
			switch hdr {
			case 1:
				n = uint64(b[p])
			case 2:
				n = uint64(binary.BigEndian.Uint16(b[p:]))
			case 4:
				n = uint64(binary.BigEndian.Uint32(b[p:]))
			}
			p += int(hdr)
			rest -= hdr
			if container {
				elems = n
			} else {
				skip = n
				if c >= 0xc7 && c <= 0xc9 {
					skip++ // ext type byte
				}
			}
		}
		if container {
			if mapPairs {
				elems *= 2 // at most 2*(2^32-1): no overflow in uint64
			}
			if elems > rest {
				return fmt.Errorf("%w: container at byte %d declares %d elements, %d bytes remain", ErrDecode, p, elems, rest)
			}
			if elems > 0 {
				// len(pending)-1 containers are open; this one makes len(pending).
				if len(pending) > maxDepth {
					return fmt.Errorf("%w: deeper than %d", ErrTooDeep, maxDepth)
				}
				pending = append(pending, elems)
			} else if len(pending) > maxDepth {
				return fmt.Errorf("%w: deeper than %d", ErrTooDeep, maxDepth)
			}
			continue
		}
		if skip > rest {
			return fmt.Errorf("%w: value at byte %d needs %d bytes, %d remain", ErrDecode, p, skip, rest)
		}
		p += int(skip)
	}
	if p != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrDecode, len(b)-p)
	}
	return nil
}
