package fsm

import (
	"fmt"
	"slices"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/lockd/lockd/locks"
)

// CommandType names a replicated command. The values are stored in the log:
// never renumber them.
type CommandType uint8

const (
	// CmdNoop changes nothing but the applied index and time.
	CmdNoop CommandType = iota
	// CmdOpenSession opens a session (body OpenSessionBody; no dedup
	// sequence: the idempotency key deduplicates).
	CmdOpenSession
	// CmdCloseSession closes Command.Session and frees its locks at once.
	// Closing a closed session succeeds again.
	CmdCloseSession
	// CmdExpireSession expires Command.Session (proposed by the leader when
	// its deadline passed); its locks go into their lock-delay.
	CmdExpireSession
	// CmdAcquire acquires or queues for a lock (body AcquireBody).
	CmdAcquire
	// CmdRelease releases a held lock (body ReleaseBody).
	CmdRelease
	// CmdCancelWait leaves a lock's queue (body CancelWaitBody).
	CmdCancelWait
	// CmdProclaim replaces a held lock's value (body ProclaimBody).
	CmdProclaim
	// CmdTick ends the lock-delays that are over by Command.Time (proposed
	// by the leader at Machine.NextLockDeadline).
	CmdTick
	// CmdGrant adds a grant to the policy (body Grant); Command.Principal
	// must be an administrator. Granting an existing grant succeeds again.
	CmdGrant
	// CmdRevoke removes a grant from the policy (body Grant);
	// Command.Principal must be an administrator. Revoking an absent grant
	// succeeds again.
	CmdRevoke
	cmdLimit // first invalid value
)

func (t CommandType) String() string {
	names := [...]string{"Noop", "OpenSession", "CloseSession", "ExpireSession", "Acquire", "Release", "CancelWait", "Proclaim", "Tick", "Grant", "Revoke"}
	if t < cmdLimit {
		return names[t]
	}
	return fmt.Sprintf("CommandType(%d)", uint8(t))
}

// deduplicated reports whether the command goes through the session's
// dedup window (Session, Seq, LowestUnanswered).
func (t CommandType) deduplicated() bool {
	return t == CmdAcquire || t == CmdRelease || t == CmdCancelWait || t == CmdProclaim
}

// Command is the envelope of every entry the FSM applies.
type Command struct {
	Type CommandType
	// Session is the client session making the request (for
	// CmdExpireSession, the session to expire); 0 for leader commands that
	// name none.
	Session uint64
	// Seq is the client's sequence number of this request in its session.
	Seq uint64
	// LowestUnanswered is the client's lowest sequence number not yet
	// answered: the session forgets the responses below it.
	LowestUnanswered uint64
	// Principal is who proposes the request: the authenticated client
	// principal ("" without authentication). For CmdOpenSession it becomes
	// the session's owner; every other client command on a session must
	// come from that owner. Absent (empty) in entries written before
	// sessions had owners. The FSM also checks this principal's permission
	// at apply (policy.go); "" on a cluster without TLS, where
	// authorization is off, and for leader commands.
	Principal string
	// SecretHash is the SHA-256 of the session secret the client sent
	// (sessions.HashSecret), never the secret itself. For CmdOpenSession it
	// is stored with the session; every other client command on the
	// session must carry the same. Absent in entries written before
	// sessions had secrets.
	SecretHash []byte
	// Time is the leader's stamp: replicated time, in unix nanoseconds,
	// advanced by real elapsed time (not read from a wall clock; see
	// package server). The FSM applies max(last applied time, Time), so
	// time never runs backwards.
	Time int64
	// Body is the msgpack encoding of the type's body struct, if any.
	Body []byte
}

// OpenSessionBody is the body of CmdOpenSession.
type OpenSessionBody struct {
	// Key is the client-chosen idempotency key; a retried open with the same
	// key returns the same session. Empty: no deduplication.
	Key string
	// TTL in nanoseconds; clamped to the configured range, 0 = default.
	TTL int64
}

// AcquireBody is the body of CmdAcquire.
type AcquireBody struct {
	Name  string
	Mode  locks.Mode
	Value []byte
	// Wait queues the request if it cannot be granted now; false is a try.
	Wait bool
	// LockDelay in nanoseconds, 0..60 s by default; 0 means none (the SDK
	// chooses the default, locks.DefaultLockDelay).
	LockDelay int64
}

// ReleaseBody is the body of CmdRelease.
type ReleaseBody struct {
	Name  string
	Token uint64
}

// CancelWaitBody is the body of CmdCancelWait.
type CancelWaitBody struct {
	Name string
}

// ProclaimBody is the body of CmdProclaim.
type ProclaimBody struct {
	Name  string
	Token uint64
	Value []byte
}

// newCommandHandle returns the msgpack handle for commands and results.
func newCommandHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.Canonical = true
	h.MaxInitLen = 1024
	return h
}

// Codec encodes commands for proposal and decodes them for apply. It
// is safe for concurrent use: encoders and decoders are pooled, since
// building one costs more than the encoding itself.
type Codec struct {
	h        *codec.MsgpackHandle
	encoders sync.Pool // *commandEncoder
	decoders sync.Pool // *codec.Decoder
}

// commandEncoder is a pooled encoder with its reused output buffer.
type commandEncoder struct {
	enc     *codec.Encoder
	scratch []byte
}

// NewCodec returns a codec.
func NewCodec() *Codec { return &Codec{h: newCommandHandle()} }

// maxPooledScratch is the largest output buffer a pooled encoder keeps: a
// snapshot-sized one is dropped.
const maxPooledScratch = 64 << 10

func (c *Codec) decode(data []byte, v any) error {
	if data == nil {
		data = []byte{} // ResetBytes ignores nil
	}
	d, _ := c.decoders.Get().(*codec.Decoder)
	if d == nil {
		d = codec.NewDecoderBytes(data, c.h)
	} else {
		d.ResetBytes(data)
	}
	err := d.Decode(v)
	d.ResetBytes([]byte{}) // do not pin data
	c.decoders.Put(d)
	return err
}

// encode returns v's encoding in a slice of exactly its length: results
// are kept for long in dedup windows, and the encoder would otherwise hand
// out 1 KiB buffers.
func (c *Codec) encode(v any) ([]byte, error) {
	e, _ := c.encoders.Get().(*commandEncoder)
	if e == nil {
		e = &commandEncoder{scratch: make([]byte, 0, 256)}
		e.enc = codec.NewEncoderBytes(&e.scratch, c.h)
	} else {
		e.scratch = e.scratch[:0]
		e.enc.ResetBytes(&e.scratch)
	}
	err := e.enc.Encode(v)
	out := slices.Clone(e.scratch)
	if cap(e.scratch) <= maxPooledScratch {
		c.encoders.Put(e)
	}
	return out, err
}

// Encode encodes body (nil for none) into cmd.Body and returns the encoded
// command. Acquire and Release, the hot commands, take the hand-written
// path (fsm_wire.go); the bytes are the same.
func (c *Codec) Encode(cmd Command, body any) ([]byte, error) {
	var scratch [256]byte
	switch b := body.(type) {
	case *AcquireBody:
		cmd.Body = appendAcquireBody(scratch[:0], b)
		return appendCommand(make([]byte, 0, len(cmd.Body)+envelopeSize(&cmd)), &cmd), nil
	case *ReleaseBody:
		cmd.Body = appendReleaseBody(scratch[:0], b)
		return appendCommand(make([]byte, 0, len(cmd.Body)+envelopeSize(&cmd)), &cmd), nil
	case nil:
		return appendCommand(make([]byte, 0, envelopeSize(&cmd)), &cmd), nil
	}
	b, err := c.encode(body)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %v body: %w", cmd.Type, err)
	}
	cmd.Body = b
	return appendCommand(make([]byte, 0, len(b)+envelopeSize(&cmd)), &cmd), nil
}

// envelopeSize bounds the bytes of cmd's envelope besides its body: the
// field names and integers (under 128 bytes) and the principal and secret
// hash.
func envelopeSize(cmd *Command) int { return 128 + len(cmd.Principal) + len(cmd.SecretHash) }

// encodeResult encodes a stored Result in a slice of exactly its length.
func (c *Codec) encodeResult(res *storedResult) []byte {
	var scratch [256]byte
	return slices.Clone(appendStoredResult(scratch[:0], res))
}

// Decode decodes a command; a command of an unknown type is an error.
func (c *Codec) Decode(data []byte) (Command, error) {
	cmd, ok := decodeCommandFast(data)
	if !ok {
		cmd = Command{}
		if err := c.decode(data, &cmd); err != nil {
			return Command{}, fmt.Errorf("%w: %w", ErrBadCommand, err)
		}
	}
	if cmd.Type >= cmdLimit {
		return Command{}, fmt.Errorf("%w: unknown type %d", ErrBadCommand, cmd.Type)
	}
	return cmd, nil
}

// DecodeBody decodes a command's body into v (a pointer to the type's body
// struct).
func (c *Codec) DecodeBody(cmd Command, v any) error {
	switch b := v.(type) {
	case *AcquireBody:
		if decodeAcquireBodyFast(cmd.Body, b) {
			return nil
		}
	case *ReleaseBody:
		if decodeReleaseBodyFast(cmd.Body, b) {
			return nil
		}
	}
	if err := c.decode(cmd.Body, v); err != nil {
		return fmt.Errorf("%w: %v body: %w", ErrBadCommand, cmd.Type, err)
	}
	return nil
}
