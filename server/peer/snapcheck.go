package peer

import (
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/lockd/lockd/consensus"
)

// Errors of a snapshot refused on arrival. The sender sees them as the
// answer to its chunk and reports the transfer failed, so the leader
// tries again later; this node's state is untouched.
var (
	// ErrSnapshotChecksum: a chunk, or the whole snapshot, does not match
	// the CRC-32C its sender computed (or carries none).
	ErrSnapshotChecksum = errors.New("peer: snapshot checksum mismatch")
	// ErrSnapshotCorrupt: the snapshot arrived intact but the state
	// machine cannot decode it.
	ErrSnapshotCorrupt = errors.New("peer: snapshot does not decode")
)

// Reasons of the snapshots refused here, as the dropped callback of
// CheckSnapshots reports them.
const (
	DropSnapshotChecksum = "snapshot_checksum"
	DropSnapshotCorrupt  = "snapshot_corrupt"
)

// castagnoli is the CRC-32C table (read-only once made, as the WAL's).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// snapGuard holds what CheckSnapshots set.
type snapGuard struct {
	mu      sync.Mutex
	check   func(data []byte) error
	dropped func(from consensus.NodeID, reason string)
}

// CheckSnapshots sets how a snapshot that arrived whole, with matching
// checksums, is checked before it is handed to the Stepper (check: the
// state machine's decoder, say fsm.Machine.CheckSnapshot; nil checks only
// the checksums), and what counts a refused one (dropped, with
// DropSnapshotChecksum or DropSnapshotCorrupt; may be nil). check runs on
// the connection's goroutine and must be safe for that.
func (t *Transport) CheckSnapshots(check func(data []byte) error, dropped func(from consensus.NodeID, reason string)) {
	t.guard.mu.Lock()
	t.guard.check, t.guard.dropped = check, dropped
	t.guard.mu.Unlock()
}

func (g *snapGuard) get() (func([]byte) error, func(consensus.NodeID, string)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.check, g.dropped
}

// verifyChunk checks one chunk's CRC-32C.
func verifyChunk(sc *snapChunk) error {
	if sc.CRC == nil || sc.Sum == nil {
		return fmt.Errorf("%w: chunk at offset %d carries no checksum", ErrSnapshotChecksum, sc.Chunk.Offset)
	}
	if got := checksum(sc.Chunk.Data); got != *sc.CRC {
		return fmt.Errorf("%w: chunk at offset %d has CRC-32C %08x, sender says %08x",
			ErrSnapshotChecksum, sc.Chunk.Offset, got, *sc.CRC)
	}
	return nil
}

// verifySnapshot checks a reassembled snapshot: its CRC-32C against the
// one its last chunk carries, then that the state machine decodes it.
func (t *Transport) verifySnapshot(sc *snapChunk, data []byte) (reason string, err error) {
	if got := checksum(data); got != *sc.Sum {
		return DropSnapshotChecksum, fmt.Errorf("%w: %d bytes have CRC-32C %08x, sender says %08x",
			ErrSnapshotChecksum, len(data), got, *sc.Sum)
	}
	if check, _ := t.guard.get(); check != nil {
		if err := check(data); err != nil {
			return DropSnapshotCorrupt, fmt.Errorf("%w: %w", ErrSnapshotCorrupt, err)
		}
	}
	return "", nil
}

// refuseSnapshot logs and counts a refused snapshot and ends its transfer.
func (t *Transport) refuseSnapshot(from string, sc *snapChunk, reason string, err error) {
	t.snaps.drop(from)
	var index uint64
	if sc.Msg.Snap != nil {
		index = sc.Msg.Snap.Index
	}
	t.log.Warn("refusing a snapshot; this node keeps its state", "from", from, "index", index,
		"reason", reason, "error", err)
	if _, dropped := t.guard.get(); dropped != nil {
		dropped(consensus.NodeID(from), reason)
	}
}

// drop ends from's transfer, if any.
func (r *snapReceiver) drop(from string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byPeer, from)
}
