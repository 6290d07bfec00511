package server

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/locks"
)

func TestEveryCodeMapsToItsSentinelAndBack(t *testing.T) {
	seen := map[Code]bool{}
	for _, e := range codeTable() {
		if seen[e.code] || e.code < 100 || e.code > 199 {
			t.Fatalf("code %d duplicated or outside 100..199", e.code)
		}
		seen[e.code] = true
		wrapped := fmt.Errorf("context: %w", e.err)
		if c, ok := CodeOf(wrapped); !ok || c != e.code {
			t.Fatalf("CodeOf(%v) = %d %v, want %d", wrapped, c, ok, e.code)
		}
		back := ErrorForCode(e.code, wrapped.Error())
		if !errors.Is(back, e.err) || back.Error() != wrapped.Error() {
			t.Fatalf("ErrorForCode(%d) = %v, want it to match %v", e.code, back, e.err)
		}
		var ce *CodeError
		if !errors.As(back, &ce) || ce.RPCCode() != uint32(e.code) {
			t.Fatalf("ErrorForCode(%d) has RPC code %v", e.code, ce)
		}
		for _, other := range codeTable() {
			if other.code != e.code && errors.Is(back, other.err) {
				t.Fatalf("code %d also matches %v", e.code, other.err)
			}
		}
		if r := errResult(wrapped); r.Code != e.code || !errors.Is(r.Err(), e.err) {
			t.Fatalf("errResult(%v) = %+v", wrapped, r)
		}
	}
}

func TestCodeEdgeCases(t *testing.T) {
	if c, ok := CodeOf(nil); !ok || c != CodeOK {
		t.Fatal("CodeOf(nil)")
	}
	if _, ok := CodeOf(errors.New("other")); ok {
		t.Fatal("CodeOf of an unknown error reported a code")
	}
	if ErrorForCode(CodeOK, "x") != nil || (Result{}).Err() != nil {
		t.Fatal("CodeOK is not nil")
	}
	if err := ErrorForCode(150, "from the future"); !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("unknown code gave %v", err)
	}
	if err := ErrorForCode(CodeLockHeld, ""); err.Error() == "" {
		t.Fatal("empty message not filled in")
	}
}

func TestCommandTypeNames(t *testing.T) {
	if CmdTick.String() != "Tick" || CommandType(200).String() != "CommandType(200)" {
		t.Fatal(CmdTick.String(), CommandType(200).String())
	}
}

// TestEncodedResultsAreCompact: responses stay in dedup windows for long,
// so their encoding must not carry the encoder's spare capacity.
func TestEncodedResultsAreCompact(t *testing.T) {
	c := NewCommandCodec()
	for range 3 {
		b, err := c.encode(&Result{Granted: true, Token: 12345})
		if err != nil || len(b) == 0 || cap(b) > len(b)+len(b)/4+16 {
			t.Fatalf("len %d cap %d err %v", len(b), cap(b), err)
		}
		var r Result
		if err := c.decode(b, &r); err != nil || r.Token != 12345 {
			t.Fatalf("decode: %+v %v", r, err)
		}
	}
}

// TestCommandCodecConcurrentUse: one codec serves every client handler and
// the FSM at once; pooled encoders and decoders must not share buffers.
func TestCommandCodecConcurrentUse(t *testing.T) {
	c := NewCommandCodec()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				name := fmt.Sprintf("lock/%d/%d", g, i)
				data, err := c.Encode(Command{Type: CmdAcquire, Session: uint64(g), Seq: uint64(i)}, &AcquireBody{Name: name})
				if err != nil {
					t.Error(err)
					return
				}
				cmd, err := c.Decode(data)
				var body AcquireBody
				if err == nil {
					err = c.DecodeBody(cmd, &body)
				}
				if err != nil || cmd.Session != uint64(g) || cmd.Seq != uint64(i) || body.Name != name {
					t.Errorf("goroutine %d, command %d: got %+v %+v, %v", g, i, cmd, body, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A refused command's error reaches the client as its code and the
// message without the code's sentinel, which the client's own sentinel
// for the code replaces: "lockd: invalid lock delay: 1m1s not in
// [0, 1m0s]", not "lockd: invalid lock delay: locks: invalid lock delay:
// ...".
func TestRefusedCommandDetailOmitsTheSentinel(t *testing.T) {
	for _, e := range codeTable() {
		if got := errResult(fmt.Errorf("%w: session 7 on %q", e.err, "a")).detail(); got != `session 7 on "a"` {
			t.Errorf("code %d: detail %q, want %q", e.code, got, `session 7 on "a"`)
		}
		if got := errResult(e.err).detail(); got != "" {
			t.Errorf("code %d, the bare sentinel: detail %q, want none", e.code, got)
		}
	}
	res := errResult(fmt.Errorf("%w: %v not in [0, %v]", locks.ErrInvalidLockDelay, 61*time.Second, time.Minute))
	if got, want := res.detail(), "1m1s not in [0, 1m0s]"; got != want {
		t.Errorf("lock-delay: detail %q, want %q", got, want)
	}
	if got := (Result{Code: CodeLockHeld, Message: "another server's words"}).detail(); got != "another server's words" {
		t.Errorf("a message not led by the sentinel: detail %q, want it unchanged", got)
	}
	if got := (Result{Code: 150, Message: "from the future"}).detail(); got != "from the future" {
		t.Errorf("an unknown code: detail %q, want the message unchanged", got)
	}
}
