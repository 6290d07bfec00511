package fsm

import (
	"fmt"
	"sync"
	"testing"
)

func TestCommandTypeNames(t *testing.T) {
	if CmdTick.String() != "Tick" || CommandType(200).String() != "CommandType(200)" {
		t.Fatal(CmdTick.String(), CommandType(200).String())
	}
}

// TestEncodedResultsAreCompact: responses stay in dedup windows for long,
// so their encoding must not carry the encoder's spare capacity.
func TestEncodedResultsAreCompact(t *testing.T) {
	c := NewCodec()
	for range 3 {
		b, err := c.encode(&storedResult{Granted: true, Token: 12345})
		if err != nil || len(b) == 0 || cap(b) > len(b)+len(b)/4+16 {
			t.Fatalf("len %d cap %d err %v", len(b), cap(b), err)
		}
		var r storedResult
		if err := c.decode(b, &r); err != nil || r.Token != 12345 {
			t.Fatalf("decode: %+v %v", r, err)
		}
	}
}

// TestCodecConcurrentUse: one codec serves every client handler and
// the FSM at once; pooled encoders and decoders must not share buffers.
func TestCodecConcurrentUse(t *testing.T) {
	c := NewCodec()
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
