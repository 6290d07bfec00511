package mp

import (
	"encoding/binary"
	"math"
)

// msgpack format bytes.
const (
	mpFixMap   = 0x80
	mpFixArray = 0x90
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
)

// AppendMapLen appends a map header for n pairs.
func AppendMapLen(b []byte, n int) []byte { return appendHeader(b, n, mpFixMap, mpMap16, mpMap32) }

// appendHeader appends a map or array header: the fix form (with n in
// its low four bits) below 16, else the 16- or 32-bit form.
func appendHeader(b []byte, n int, fix, b16, b32 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, b32), uint32(n))
	}
}

// AppendStr appends s as a str (fixstr, str8, str16 or str32).
func AppendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 256:
		b = append(b, mpStr8, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, mpStr16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpStr32), uint32(n))
	}
	return append(b, s...)
}

// AppendBin appends p as a bin (bin8, bin16 or bin32), or nil for a nil p.
func AppendBin(b []byte, p []byte) []byte {
	switch n := len(p); {
	case p == nil:
		return append(b, mpNil)
	case n < 256:
		b = append(b, mpBin8, byte(n))
	case n < 1<<16:
		b = binary.BigEndian.AppendUint16(append(b, mpBin16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpBin32), uint32(n))
	}
	return append(b, p...)
}

// AppendUint appends u in the smallest unsigned form (a positive fixint up
// to 127).
func AppendUint(b []byte, u uint64) []byte {
	switch {
	case u <= math.MaxInt8:
		return append(b, byte(u))
	case u <= math.MaxUint8:
		return append(b, mpUint8, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpUint16), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, mpUint32), uint32(u))
	default:
		return binary.BigEndian.AppendUint64(append(b, mpUint64), u)
	}
}

// AppendInt appends i as go-msgpack does: a fixint from -32 to 127, else the
// smallest signed form that holds it.
func AppendInt(b []byte, i int64) []byte {
	switch {
	case i > math.MaxInt32:
		return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(i))
	case i > math.MaxInt16:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(i))
	case i > math.MaxInt8:
		return binary.BigEndian.AppendUint16(append(b, mpInt16), uint16(i))
	case i >= -32:
		return append(b, byte(i))
	case i >= math.MinInt8:
		return append(b, mpInt8, byte(i))
	case i >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, mpInt16), uint16(i))
	case i >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(i))
	default:
		return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(i))
	}
}

// AppendBool appends true or false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, mpTrue)
	}
	return append(b, mpFalse)
}

// AppendArrayLen appends an array header for n elements.
func AppendArrayLen(b []byte, n int) []byte {
	return appendHeader(b, n, mpFixArray, mpArray16, mpArray32)
}

// AppendNil appends nil.
func AppendNil(b []byte) []byte { return append(b, mpNil) }
