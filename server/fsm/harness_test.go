package fsm

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/lockd/lockd/locks"
)

// fsmHarness applies commands to an FSM with growing indexes, a settable
// leader clock and per-session sequence numbers.
type fsmHarness struct {
	t      *testing.T
	f      *Machine
	c      *Codec
	index  uint64
	now    int64
	seq    map[uint64]uint64
	owners map[string]uint64 // policy_test.go: sessionOf
}

func newFSMHarness(t *testing.T) *fsmHarness {
	return newFSMHarnessConfig(t, DefaultConfig())
}

func newFSMHarnessConfig(t *testing.T, cfg Config) *fsmHarness {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fsmHarness{t: t, f: f, c: NewCodec(), now: 1_000_000_000, seq: map[uint64]uint64{}}
}

func (h *fsmHarness) encode(cmd Command, body any) []byte {
	h.t.Helper()
	if cmd.Time == 0 {
		cmd.Time = h.now
	}
	b, err := h.c.Encode(cmd, body)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// raw applies data as the next entry.
func (h *fsmHarness) raw(data []byte) (Result, []Event) {
	h.index++
	return h.f.Apply(h.index, data)
}

func (h *fsmHarness) cmd(cmd Command, body any) (Result, []Event) {
	h.t.Helper()
	return h.raw(h.encode(cmd, body))
}

func (h *fsmHarness) open(key string, ttl time.Duration) uint64 {
	h.t.Helper()
	res, _ := h.cmd(Command{Type: CmdOpenSession}, OpenSessionBody{Key: key, TTL: int64(ttl)})
	if res.Err != nil {
		h.t.Fatalf("open: %v", res.Err)
	}
	return res.Session
}

// writeCmd returns the next deduplicated command of a session, with every
// earlier request answered.
func (h *fsmHarness) writeCmd(s uint64, typ CommandType) Command {
	h.seq[s]++
	return Command{Type: typ, Session: s, Seq: h.seq[s], LowestUnanswered: h.seq[s]}
}

func (h *fsmHarness) write(s uint64, typ CommandType, body any) (Result, []Event) {
	h.t.Helper()
	return h.cmd(h.writeCmd(s, typ), body)
}

func (h *fsmHarness) acquire(s uint64, name string, mode locks.Mode, wait bool, delay time.Duration) (Result, []Event) {
	h.t.Helper()
	return h.write(s, CmdAcquire, AcquireBody{Name: name, Mode: mode, Wait: wait, LockDelay: int64(delay), Value: []byte("v")})
}

// hold acquires at once or fails the test; it returns the token.
func (h *fsmHarness) hold(s uint64, name string, mode locks.Mode) uint64 {
	h.t.Helper()
	res, _ := h.acquire(s, name, mode, false, 0)
	if !res.Granted || res.Token != h.index {
		h.t.Fatalf("acquire %d %q: %+v, want granted at %d", s, name, res, h.index)
	}
	return res.Token
}

func (h *fsmHarness) release(s uint64, name string, token uint64) (Result, []Event) {
	h.t.Helper()
	return h.write(s, CmdRelease, ReleaseBody{Name: name, Token: token})
}

func (h *fsmHarness) expire(s uint64) (Result, []Event) {
	h.t.Helper()
	return h.cmd(Command{Type: CmdExpireSession, Session: s}, nil)
}

// state returns the snapshot of sessions and locks without the applied
// index and time, to check that a refused command changed nothing.
func (h *fsmHarness) state() []byte {
	h.t.Helper()
	return stateOf(h.t, h.f)
}

func stateOf(t *testing.T, f *Machine) []byte {
	t.Helper()
	b, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var st fsmSnapshot
	if err := codec.NewDecoderBytes(b, newCommandHandle()).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return append(st.Sessions, st.Locks...)
}

func (h *fsmHarness) snapshot() []byte {
	h.t.Helper()
	b, err := h.f.Snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *fsmHarness) mustOK(res Result) {
	h.t.Helper()
	if res.Err != nil {
		h.t.Fatalf("entry %d: %v", h.index, res.Err)
	}
}

func (h *fsmHarness) unchanged(before []byte, what string) {
	h.t.Helper()
	if !bytes.Equal(before, h.state()) {
		h.t.Fatalf("%s changed the state", what)
	}
}

func wantErr(t *testing.T, res Result, want error) {
	t.Helper()
	if !errors.Is(res.Err, want) {
		t.Fatalf("result %+v (err %v), want %v", res, res.Err, want)
	}
}
