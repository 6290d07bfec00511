package peer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/rpc"
)

// snapTarget is a listening transport "b" and a way to send it raw
// snapshot chunks as any sender id.
type snapTarget struct {
	tr   *Transport
	st   *recordingStepper
	addr string
}

func newSnapTarget(t *testing.T) *snapTarget {
	t.Helper()
	tr, err := New("b", rpc.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	st := newRecordingStepper()
	tr.SetStepper(st)
	addr, err := tr.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &snapTarget{tr: tr, st: st, addr: addr}
}

// dialAs opens a peer connection that claims id.
func (s *snapTarget) dialAs(t *testing.T, id string) *rpc.ClientConn {
	t.Helper()
	cfg := rpc.DefaultConfig()
	cfg.NodeID = id
	c, err := rpc.Dial(context.Background(), s.addr, rpc.KindPeer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// chunk sends data as the chunk at off of a snapshot of total bytes, from n9 (on a
// connection dialed as n9), the whole being data repeated (its checksum is computed up to 1 MiB; larger
// transfers are refused before it matters).
func chunk(c *rpc.ClientConn, off, total uint64, data []byte) error {
	var sum uint32
	if total <= 1<<20 && len(data) > 0 {
		sum = checksum(bytes.Repeat(data, int(total)/len(data)+1)[:total])
	}
	return chunkSum(c, off, total, data, sum)
}

// chunkSum sends a chunk with its CRC-32C and the given whole sum.
func chunkSum(c *rpc.ClientConn, off, total uint64, data []byte, sum uint32) error {
	w := toWire(snapMessage("n9", "b", nil)) // the tests dial as n9
	var ack bool
	crc := checksum(data)
	return c.Call(context.Background(), msgSnapChunk, &snapChunk{Msg: w, Chunk: rpc.Chunk{Offset: off, Total: total, Data: data},
		CRC: &crc, Sum: &sum}, &ack)
}

func wantChunkRefused(t *testing.T, err error, what string) {
	t.Helper()
	var re *rpc.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, rpc.ErrChunk.Error()) {
		t.Fatalf("%s: got %v, want the chunk refused", what, err)
	}
}

func TestSnapshotOverTheLimitIsRefusedAtItsFirstChunk(t *testing.T) {
	s := newSnapTarget(t)
	c := s.dialAs(t, "n9")
	// The default limit is 1 GiB: 2 GiB is refused before a byte is kept.
	wantChunkRefused(t, chunk(c, 0, 2<<30, make([]byte, 100)), "a 2 GiB snapshot")
	if err := s.tr.LimitSnapshots(1000, time.Minute); err != nil {
		t.Fatal(err)
	}
	wantChunkRefused(t, chunk(c, 0, 1001, make([]byte, 100)), "1001 bytes over a limit of 1000")
	if err := chunk(c, 0, 1000, make([]byte, 1000)); err != nil {
		t.Fatalf("a snapshot at the limit: %v", err)
	}
	s.st.wait(t, "the snapshot at the limit", func() bool { return len(s.st.msgs) == 1 })
	if err := s.tr.LimitSnapshots(0, time.Minute); err == nil {
		t.Fatal("LimitSnapshots took a zero size")
	}
}

// A transfer without a chunk for the idle timeout is dropped with its
// memory; its next chunk is refused and the sender starts over.
func TestIdleSnapshotTransferExpires(t *testing.T) {
	s := newSnapTarget(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.tr.snaps.mu.Lock()
	s.tr.snaps.now = func() time.Time { return now } // read under snaps.mu, as are the writes below
	s.tr.snaps.mu.Unlock()
	setNow := func(d time.Duration) {
		s.tr.snaps.mu.Lock()
		now = now.Add(d)
		s.tr.snaps.mu.Unlock()
	}
	c := s.dialAs(t, "n9")
	if err := chunk(c, 0, 1000, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	setNow(DefaultSnapshotIdleTimeout - time.Nanosecond)
	if n := s.tr.snaps.sweep(); n != 1 {
		t.Fatalf("%d transfers after %v idle, want 1", n, DefaultSnapshotIdleTimeout-time.Nanosecond)
	}
	if err := chunk(c, 100, 1000, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	setNow(DefaultSnapshotIdleTimeout)
	if n := s.tr.snaps.sweep(); n != 0 {
		t.Fatalf("%d transfers after the idle timeout, want 0", n)
	}
	wantChunkRefused(t, chunk(c, 200, 1000, make([]byte, 100)), "a chunk of an expired transfer")
	if err := chunk(c, 0, 1000, make([]byte, 1000)); err != nil {
		t.Fatalf("starting over: %v", err)
	}
	s.st.wait(t, "the restarted snapshot", func() bool { return len(s.st.msgs) == 1 })
}

// One transfer per sender id, tied to its connection: a second connection
// claiming the same id that starts a transfer replaces the first, whose
// chunks are then refused instead of being spliced into the other's.
func TestOneSnapshotTransferPerSender(t *testing.T) {
	s := newSnapTarget(t)
	first, second := s.dialAs(t, "n9"), s.dialAs(t, "n9")
	a := []byte(strings.Repeat("a", 100))
	b := []byte(strings.Repeat("b", 100))
	if err := chunk(first, 0, 200, a); err != nil {
		t.Fatal(err)
	}
	if err := chunk(second, 0, 200, b); err != nil {
		t.Fatal(err)
	}
	wantChunkRefused(t, chunk(first, 100, 200, a), "the replaced transfer's next chunk")
	if err := chunk(second, 100, 200, b); err != nil {
		t.Fatal(err)
	}
	s.st.wait(t, "the second sender's snapshot", func() bool { return len(s.st.msgs) == 1 })
	if got := string(s.st.delivered()[0].Snapshot.Data); got != strings.Repeat("b", 200) {
		t.Fatalf("delivered %q, want the second connection's 200 b", got)
	}
}
