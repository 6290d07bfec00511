package rpc

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// maxInitLen bounds how many elements the decoder provisions for a slice or
// map before it has decoded them; it grows by appending after that. The
// pre-scan already bounds element counts by the bytes present, this bounds
// the memory per byte (a 1-byte element may decode into a large struct).
const maxInitLen = 64

// Codec is the one msgpack configuration used on the wire. It is safe for
// concurrent use. Decode applies the structure pre-scan (lengths against
// bytes present, nesting depth) before the decoder sees the bytes.
type Codec struct {
	h        *codec.MsgpackHandle
	maxDepth int
	encoders sync.Pool // *pooledEncoder
	decoders sync.Pool // *codec.Decoder
}

// pooledEncoder is an encoder with its reusable scratch buffer.
type pooledEncoder struct {
	enc *codec.Encoder
	buf []byte
}

// maxPooledBuf is the largest scratch buffer kept for reuse.
const maxPooledBuf = 64 << 10

// NewCodec returns a Codec that refuses bodies nested deeper than maxDepth.
func NewCodec(maxDepth int) *Codec {
	h := &codec.MsgpackHandle{}
	h.WriteExt = true // []byte as bin, string as str
	h.RawToString = true
	h.MapType = reflect.TypeOf(map[string]any(nil))
	h.MaxInitLen = maxInitLen
	// The decoder's own limit counts differently from ours; ours is
	// checked first and is the binding one.
	h.MaxDepth = int16(maxDepth + 2)
	return &Codec{h: h, maxDepth: maxDepth}
}

// emptyInput resets pooled decoders so they do not pin a body.
var emptyInput = []byte{}

// fastEncoder is a message that writes its own msgpack, byte for byte as
// go-msgpack would (api's hot messages).
type fastEncoder interface{ AppendMsgpack(b []byte) []byte }

// fastDecoder is a message that reads its own msgpack; false means the
// layout is not the one it takes, and go-msgpack decodes it instead.
type fastDecoder interface{ DecodeMsgpack(b []byte) bool }

// Encode returns the msgpack encoding of v.
func (c *Codec) Encode(v any) (out []byte, err error) {
	if e, ok := v.(Encoded); ok {
		return e, nil // encoded already: not copied again
	}
	if f, ok := v.(fastEncoder); ok {
		return f.AppendMsgpack(make([]byte, 0, 64)), nil
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("rpc: encode %T: %v", v, r)
		}
	}()
	pe, _ := c.encoders.Get().(*pooledEncoder)
	if pe == nil {
		pe = &pooledEncoder{buf: make([]byte, 0, 1024)}
		pe.enc = codec.NewEncoderBytes(&pe.buf, c.h)
	} else {
		pe.enc.ResetBytes(&pe.buf)
	}
	if err := pe.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("rpc: encode %T: %w", v, err)
	}
	out = append([]byte(nil), pe.buf...)
	if cap(pe.buf) <= maxPooledBuf {
		pe.buf = pe.buf[:0]
		c.encoders.Put(pe)
	}
	return out, nil
}

// Decode checks that b is exactly one well-formed msgpack value within the
// depth limit and decodes it into v (a pointer). Errors wrap ErrDecode or
// ErrTooDeep.
func (c *Codec) Decode(b []byte, v any) (err error) {
	if err := scanMsgpack(b, c.maxDepth); err != nil {
		return err
	}
	if f, ok := v.(fastDecoder); ok && f.DecodeMsgpack(b) {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: into %T: %v", ErrDecode, v, r)
		}
	}()
	d, _ := c.decoders.Get().(*codec.Decoder)
	if d == nil {
		d = codec.NewDecoderBytes(b, c.h)
	} else {
		d.ResetBytes(b)
	}
	err = d.Decode(v)
	d.ResetBytes(emptyInput)
	c.decoders.Put(d)
	if err != nil {
		return fmt.Errorf("%w: into %T: %w", ErrDecode, v, err)
	}
	return nil
}

// defaultCodec is created once and never changed: it is configuration,
// not mutable state (its internal type cache is concurrency-safe).
var defaultCodec = NewCodec(DefaultConfig().MaxDepth)

// codecFor returns the shared codec when maxDepth is the default, so that
// connections share its type cache, else a new one.
func codecFor(maxDepth int) *Codec {
	if maxDepth == defaultCodec.maxDepth {
		return defaultCodec
	}
	return NewCodec(maxDepth)
}

// Encode encodes v with the wire codec configuration.
func Encode(v any) ([]byte, error) { return defaultCodec.Encode(v) }

// Decode decodes b into v with the wire codec configuration and the
// default depth limit (see Codec.Decode).
func Decode(b []byte, v any) error { return defaultCodec.Decode(b, v) }

// Body is the undecoded msgpack body of a received frame. It is valid
// after the handler returns; the handler may keep it.
type Body struct {
	b     []byte
	codec *Codec
}

// Decode decodes the body into v. An error wraps ErrDecode; a handler that
// returns it makes the server close the connection.
func (b Body) Decode(v any) error { return b.codec.Decode(b.b, v) }

// Bytes returns the raw msgpack bytes.
func (b Body) Bytes() []byte { return b.b }
