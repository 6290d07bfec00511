package rpc

import "fmt"

// Encoded is a message body a handler encoded itself (Conn.Encode). A
// handler that returns one has its bytes sent as they are, so it can
// build and encode a large answer while holding a resource of its own
// and let the built value go before the answer is queued.
type Encoded []byte

// AppendMsgpack appends the encoded bytes.
func (e Encoded) AppendMsgpack(b []byte) []byte { return append(b, e...) }

// Encode encodes v as the connection's codec would encode an answer. A
// body larger than MaxFrameSize is refused (ErrFrameTooLarge), as it
// would be when returned from a handler.
func (c *Conn) Encode(v any) (Encoded, error) {
	b, err := c.codec.Encode(v)
	if err != nil {
		return nil, err
	}
	if len(b) > c.cfg.MaxFrameSize {
		return nil, fmt.Errorf("%w: response of %d bytes", ErrFrameTooLarge, len(b))
	}
	return Encoded(b), nil
}
