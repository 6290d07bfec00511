package peer

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// snapDrops records the dropped callback of CheckSnapshots.
type snapDrops struct {
	mu      sync.Mutex
	reasons []string
}

func (d *snapDrops) dropped(_ consensus.NodeID, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reasons = append(d.reasons, reason)
}

func (d *snapDrops) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.reasons...)
}

func wantRemote(t *testing.T, err, want error, what string) {
	t.Helper()
	var re *rpc.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, want.Error()) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// A chunk whose bytes do not match its CRC-32C, one without checksums, and
// a snapshot whose whole checksum does not match are refused, counted and
// never stepped; a good transfer afterwards is delivered.
func TestSnapshotWithBadChecksumIsRefused(t *testing.T) {
	s := newSnapTarget(t)
	drops := &snapDrops{}
	s.tr.CheckSnapshots(nil, drops.dropped)
	c := s.dialAs(t, "n9")
	data := bytes.Repeat([]byte{7}, 200)

	crc, sum := checksum(data[:100]), checksum(data)
	flipped := append([]byte(nil), data[:100]...)
	flipped[50] ^= 1
	var ack bool
	err := c.Call(t.Context(), msgSnapChunk, &snapChunk{Msg: toWire(snapMessage("n9", "b", nil)),
		Chunk: rpc.Chunk{Offset: 0, Total: 200, Data: flipped}, CRC: &crc, Sum: &sum}, &ack)
	wantRemote(t, err, ErrSnapshotChecksum, "a chunk with a flipped bit")

	err = c.Call(t.Context(), msgSnapChunk, &snapChunk{Msg: toWire(snapMessage("n9", "b", nil)),
		Chunk: rpc.Chunk{Offset: 0, Total: 200, Data: data[:100]}}, &ack)
	wantRemote(t, err, ErrSnapshotChecksum, "a chunk without checksums")

	if err := chunkSum(c, 0, 200, data[:100], sum^1); err != nil {
		t.Fatalf("first chunk (its own CRC good): %v", err)
	}
	wantRemote(t, chunkSum(c, 100, 200, data[100:], sum^1), ErrSnapshotChecksum, "a whole snapshot with the wrong sum")

	// A refused chunk ends its transfer: its continuation finds none.
	wantChunkRefused(t, chunk(c, 100, 200, data[100:]), "a chunk after the refusal")
	if err := chunk(c, 0, 200, data[:100]); err != nil {
		t.Fatal(err)
	}
	if err := chunk(c, 100, 200, data[100:]); err != nil {
		t.Fatal(err)
	}
	s.st.wait(t, "the good snapshot", func() bool { return len(s.st.msgs) == 1 })
	if got := s.st.delivered(); len(got) != 1 || !bytes.Equal(got[0].Snapshot.Data, data) {
		t.Fatalf("stepped %d snapshots; want only the good one", len(got))
	}
	want := []string{DropSnapshotChecksum, DropSnapshotChecksum, DropSnapshotChecksum}
	if got := drops.list(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("counted %v, want %v", got, want)
	}
}

// A snapshot that arrives intact but that the state machine cannot decode
// is refused before the node sees it, and the sender reports the transfer
// failed (so the leader tries again later); one that decodes is delivered.
func TestSnapshotThatDoesNotDecodeIsRefused(t *testing.T) {
	a, err := New("a", smallFrameConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New("b", smallFrameConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sa, sb := newRecordingStepper(), newRecordingStepper()
	a.SetStepper(sa)
	b.SetStepper(sb)
	errUndecodable := errors.New("test: undecodable")
	drops := &snapDrops{}
	b.CheckSnapshots(func(data []byte) error {
		if data[0] == 0xff {
			return errUndecodable
		}
		return nil
	}, drops.dropped)
	addrB, err := b.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.SetPeers(map[consensus.NodeID]string{"b": addrB})

	bad := bytes.Repeat([]byte{0xff}, 5000)
	a.Send([]consensus.Message{snapMessage("a", "b", bad)})
	sa.wait(t, "the sender's report", func() bool { return len(sa.reports) >= 1 })
	if !sa.reported()[0] {
		t.Fatal("a refused snapshot was reported delivered")
	}
	if n := len(sb.delivered()); n != 0 {
		t.Fatalf("the receiver stepped %d undecodable snapshots", n)
	}
	if got := drops.list(); len(got) != 1 || got[0] != DropSnapshotCorrupt {
		t.Fatalf("counted %v, want one %s", got, DropSnapshotCorrupt)
	}

	good := bytes.Repeat([]byte{1}, 5000)
	a.Send([]consensus.Message{snapMessage("a", "b", good)})
	sb.wait(t, "the good snapshot", func() bool { return len(sb.msgs) == 1 })
	if got := sb.delivered(); !bytes.Equal(got[0].Snapshot.Data, good) {
		t.Fatal("the good snapshot arrived altered")
	}
}
