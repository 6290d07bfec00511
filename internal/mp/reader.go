package mp

import (
	"encoding/binary"
	"math"
)

// Reader reads the forms above from a buffer; the first thing it cannot
// read fails it, after which every read returns a zero value and Done
// reports false. Byte slices it returns alias the buffer.
type Reader struct {
	b  []byte
	ok bool
}

// NewReader reads b.
func NewReader(b []byte) Reader { return Reader{b: b, ok: true} }

// OK reports whether every read so far succeeded.
func (r *Reader) OK() bool { return r.ok }

// Fail marks the input as not what the caller expects (an unknown field).
func (r *Reader) Fail() { r.fail() }

func (r *Reader) fail() { r.ok, r.b = false, nil }

// next returns the next n bytes.
func (r *Reader) next(n int) []byte {
	if !r.ok || n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *Reader) byte1() byte {
	p := r.next(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// length reads an 8-, 16- or 32-bit length after its format byte.
func (r *Reader) length(bits int) int {
	p := r.next(bits / 8)
	switch bits {
	case 8:
		if p != nil {
			return int(p[0])
		}
	case 16:
		if p != nil {
			return int(binary.BigEndian.Uint16(p))
		}
	case 32:
		if p != nil {
			return int(binary.BigEndian.Uint32(p))
		}
	}
	return 0
}

// MapLen reads a map header and returns its number of pairs.
func (r *Reader) MapLen() int { return r.header(mpFixMap, mpMap16, mpMap32) }

// ArrayLen reads an array header and returns its number of elements.
func (r *Reader) ArrayLen() int { return r.header(mpFixArray, mpArray16, mpArray32) }

// header reads a map or array header in its fix, 16- or 32-bit form.
func (r *Reader) header(fix, b16, b32 byte) int {
	switch c := r.byte1(); {
	case c&0xf0 == fix:
		return int(c & 0x0f)
	case c == b16:
		return r.length(16)
	case c == b32:
		return r.length(32)
	}
	r.fail()
	return 0
}

// Nil reads a nil if one comes next and reports whether it did.
func (r *Reader) Nil() bool {
	if r.peek() == mpNil && r.ok && len(r.b) > 0 {
		r.b = r.b[1:]
		return true
	}
	return false
}

// StrBytes reads a str and returns its bytes (aliasing the input).
func (r *Reader) StrBytes() []byte {
	switch c := r.byte1(); {
	case c&0xe0 == 0xa0:
		return r.next(int(c & 0x1f))
	case c == mpStr8:
		return r.next(r.length(8))
	case c == mpStr16:
		return r.next(r.length(16))
	case c == mpStr32:
		return r.next(r.length(32))
	}
	r.fail()
	return nil
}

// Str reads a str.
func (r *Reader) Str() string { return string(r.StrBytes()) }

// Bin reads a bin or nil; the result aliases the input.
func (r *Reader) Bin() []byte {
	switch c := r.byte1(); c {
	case mpNil:
		return nil
	case mpBin8:
		return r.next(r.length(8))
	case mpBin16:
		return r.next(r.length(16))
	case mpBin32:
		return r.next(r.length(32))
	}
	r.fail()
	return nil
}

// Int reads any integer form as an int64; an unsigned one above
// math.MaxInt64 fails.
func (r *Reader) Int() int64 {
	c := r.byte1()
	switch {
	case !r.ok:
		return 0
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	}
	switch c {
	case mpInt8:
		return int64(int8(r.byte1()))
	case mpInt16:
		return int64(int16(r.length(16)))
	case mpInt32:
		if p := r.next(4); p != nil {
			return int64(int32(binary.BigEndian.Uint32(p)))
		}
	case mpInt64:
		if p := r.next(8); p != nil {
			return int64(binary.BigEndian.Uint64(p))
		}
	case mpUint8:
		return int64(r.byte1())
	case mpUint16:
		return int64(r.length(16))
	case mpUint32:
		return int64(r.length(32))
	case mpUint64:
		if p := r.next(8); p != nil {
			if u := binary.BigEndian.Uint64(p); u <= math.MaxInt64 {
				return int64(u)
			}
		}
		r.fail()
	default:
		r.fail()
	}
	return 0
}

// Uint reads any integer form that is not negative, at most max.
func (r *Reader) Uint(max uint64) uint64 {
	var u uint64
	if c := r.peek(); c == mpUint64 {
		r.byte1()
		if p := r.next(8); p != nil {
			u = binary.BigEndian.Uint64(p)
		}
	} else {
		i := r.Int()
		if i < 0 {
			r.fail()
			return 0
		}
		u = uint64(i)
	}
	if u > max {
		r.fail()
		return 0
	}
	return u
}

func (r *Reader) peek() byte {
	if !r.ok || len(r.b) == 0 {
		return 0
	}
	return r.b[0]
}

// Bool reads true or false.
func (r *Reader) Bool() bool {
	switch r.byte1() {
	case mpTrue:
		return true
	case mpFalse:
		return false
	}
	r.fail()
	return false
}

// Done reports whether everything was read, and read well.
func (r *Reader) Done() bool { return r.ok && len(r.b) == 0 }

// BinCopy reads a bin or nil into a slice of its own (nil for nil, empty
// for an empty bin), for a value the caller keeps.
func (r *Reader) BinCopy() []byte {
	if p := r.Bin(); p != nil {
		return append([]byte{}, p...)
	}
	return nil
}
