package server

import (
	"encoding/binary"
	"math"

	"github.com/lockd/lockd/locks"
)

// The hot commands (the envelope, Acquire and Release bodies) and the
// Result are encoded and decoded here by hand, without reflection: every
// node decodes every entry, and go-msgpack's reflective path was most of
// the FSM's cost. The bytes are exactly go-msgpack's under the command
// handle (a map of the fields in name order, since the handle is
// Canonical; the smallest integer forms; str and bin with their 8-bit
// forms), so entries written by either path decode the same by both;
// fsm_wire_test.go checks that against go-msgpack for random values.
//
// Decoding takes the layout go-msgpack writes and nothing else: a map with
// the type's own field names and the forms above. Anything else (an
// unknown field, a nil, a float) reports false, and the caller falls back
// to go-msgpack, which remains the definition of what decodes.

// msgpack format bytes used here.
const (
	mpNil    = 0xc0
	mpFalse  = 0xc2
	mpTrue   = 0xc3
	mpBin8   = 0xc4
	mpBin16  = 0xc5
	mpBin32  = 0xc6
	mpUint8  = 0xcc
	mpUint16 = 0xcd
	mpUint32 = 0xce
	mpUint64 = 0xcf
	mpInt8   = 0xd0
	mpInt16  = 0xd1
	mpInt32  = 0xd2
	mpInt64  = 0xd3
	mpStr8   = 0xd9
	mpStr16  = 0xda
	mpStr32  = 0xdb
	mpMap16  = 0xde
	mpMap32  = 0xdf
)

func mpAppendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, mpMap16), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, mpMap32), uint32(n))
	}
}

func mpAppendStr(b []byte, s string) []byte {
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

func mpAppendBin(b []byte, p []byte) []byte {
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

func mpAppendUint(b []byte, u uint64) []byte {
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

func mpAppendInt(b []byte, i int64) []byte {
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

func mpAppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, mpTrue)
	}
	return append(b, mpFalse)
}

// mpReader reads the forms above from b; the first thing it cannot read
// clears ok, after which every read returns a zero value.
type mpReader struct {
	b  []byte
	ok bool
}

func (r *mpReader) fail() { r.ok, r.b = false, nil }

// next returns the next n bytes.
func (r *mpReader) next(n int) []byte {
	if !r.ok || n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *mpReader) byte1() byte {
	p := r.next(1)
	if p == nil {
		return 0
	}
	return p[0]
}

// length reads an 8-, 16- or 32-bit length after its format byte.
func (r *mpReader) length(bits int) int {
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

func (r *mpReader) mapLen() int {
	switch c := r.byte1(); {
	case c&0xf0 == 0x80:
		return int(c & 0x0f)
	case c == mpMap16:
		return r.length(16)
	case c == mpMap32:
		return r.length(32)
	}
	r.fail()
	return 0
}

// strBytes reads a str and returns its bytes (aliasing the input).
func (r *mpReader) strBytes() []byte {
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

func (r *mpReader) str() string { return string(r.strBytes()) }

// bin reads a bin or nil; the result aliases the input.
func (r *mpReader) bin() []byte {
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

// int reads any integer form as an int64; an unsigned one above
// math.MaxInt64 fails.
func (r *mpReader) int() int64 {
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

// uint reads any integer form that is not negative, at most max.
func (r *mpReader) uint(max uint64) uint64 {
	var u uint64
	if c := r.peek(); c == mpUint64 {
		r.byte1()
		if p := r.next(8); p != nil {
			u = binary.BigEndian.Uint64(p)
		}
	} else {
		i := r.int()
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

func (r *mpReader) peek() byte {
	if !r.ok || len(r.b) == 0 {
		return 0
	}
	return r.b[0]
}

func (r *mpReader) bool() bool {
	switch r.byte1() {
	case mpTrue:
		return true
	case mpFalse:
		return false
	}
	r.fail()
	return false
}

// done reports whether everything was read, and read well.
func (r *mpReader) done() bool { return r.ok && len(r.b) == 0 }

func appendCommand(b []byte, c *Command) []byte {
	b = mpAppendMapLen(b, 6)
	b = mpAppendBin(mpAppendStr(b, "Body"), c.Body)
	b = mpAppendUint(mpAppendStr(b, "LowestUnanswered"), c.LowestUnanswered)
	b = mpAppendUint(mpAppendStr(b, "Seq"), c.Seq)
	b = mpAppendUint(mpAppendStr(b, "Session"), c.Session)
	b = mpAppendInt(mpAppendStr(b, "Time"), c.Time)
	return mpAppendUint(mpAppendStr(b, "Type"), uint64(c.Type))
}

// decodeCommandFast decodes what appendCommand writes; Body aliases data.
func decodeCommandFast(data []byte) (Command, bool) {
	r := mpReader{b: data, ok: true}
	var c Command
	for n := r.mapLen(); n > 0 && r.ok; n-- {
		switch string(r.strBytes()) {
		case "Body":
			c.Body = r.bin()
		case "LowestUnanswered":
			c.LowestUnanswered = r.uint(math.MaxUint64)
		case "Seq":
			c.Seq = r.uint(math.MaxUint64)
		case "Session":
			c.Session = r.uint(math.MaxUint64)
		case "Time":
			c.Time = r.int()
		case "Type":
			c.Type = CommandType(r.uint(math.MaxUint8))
		default:
			r.fail()
		}
	}
	return c, r.done()
}

func appendAcquireBody(b []byte, a *AcquireBody) []byte {
	b = mpAppendMapLen(b, 5)
	b = mpAppendInt(mpAppendStr(b, "LockDelay"), a.LockDelay)
	b = mpAppendUint(mpAppendStr(b, "Mode"), uint64(a.Mode))
	b = mpAppendStr(mpAppendStr(b, "Name"), a.Name)
	b = mpAppendBin(mpAppendStr(b, "Value"), a.Value)
	return mpAppendBool(mpAppendStr(b, "Wait"), a.Wait)
}

// decodeAcquireBodyFast decodes what appendAcquireBody writes; Value is a
// copy (the FSM keeps it).
func decodeAcquireBodyFast(data []byte, a *AcquireBody) bool {
	r := mpReader{b: data, ok: true}
	var v AcquireBody
	for n := r.mapLen(); n > 0 && r.ok; n-- {
		switch string(r.strBytes()) {
		case "LockDelay":
			v.LockDelay = r.int()
		case "Mode":
			v.Mode = locks.Mode(r.uint(math.MaxUint8))
		case "Name":
			v.Name = r.str()
		case "Value":
			if p := r.bin(); p != nil {
				v.Value = append([]byte{}, p...)
			} else {
				v.Value = nil
			}
		case "Wait":
			v.Wait = r.bool()
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*a = v
	return true
}

func appendReleaseBody(b []byte, rb *ReleaseBody) []byte {
	b = mpAppendMapLen(b, 2)
	b = mpAppendStr(mpAppendStr(b, "Name"), rb.Name)
	return mpAppendUint(mpAppendStr(b, "Token"), rb.Token)
}

func decodeReleaseBodyFast(data []byte, rb *ReleaseBody) bool {
	r := mpReader{b: data, ok: true}
	var v ReleaseBody
	for n := r.mapLen(); n > 0 && r.ok; n-- {
		switch string(r.strBytes()) {
		case "Name":
			v.Name = r.str()
		case "Token":
			v.Token = r.uint(math.MaxUint64)
		default:
			r.fail()
		}
	}
	if !r.done() {
		return false
	}
	*rb = v
	return true
}

func appendResult(b []byte, res *Result) []byte {
	b = mpAppendMapLen(b, 10)
	b = mpAppendUint(mpAppendStr(b, "Code"), uint64(res.Code))
	b = mpAppendBool(mpAppendStr(b, "Duplicate"), res.Duplicate)
	b = mpAppendBool(mpAppendStr(b, "Granted"), res.Granted)
	b = mpAppendStr(mpAppendStr(b, "Message"), res.Message)
	b = mpAppendInt(mpAppendStr(b, "Position"), int64(res.Position))
	b = mpAppendBool(mpAppendStr(b, "Queued"), res.Queued)
	b = mpAppendUint(mpAppendStr(b, "QueuedIndex"), res.QueuedIndex)
	b = mpAppendUint(mpAppendStr(b, "Session"), res.Session)
	b = mpAppendInt(mpAppendStr(b, "TTL"), res.TTL)
	return mpAppendUint(mpAppendStr(b, "Token"), res.Token)
}
