package sessions

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// snapshotVersion is the layout version of Snapshot's bytes.
const snapshotVersion = 1

// The snapshot layout: plain structs and slices in a fixed order (sessions
// by ID, responses by sequence number, tombstones oldest first), never maps,
// so the same table always encodes to the same bytes.
type snapTable struct {
	Version  uint8
	LastID   uint64
	Sessions []snapSession
	Ended    []snapTombstone
}

type snapSession struct {
	ID       uint64
	Key      string
	TTL      int64
	OpenedAt int64
	// Owner and SecretHash are absent (empty) in snapshots of sessions
	// opened before sessions had owners: see authorize.
	Owner      string
	SecretHash []byte
	Mark       uint64
	Responses  []snapResponse
}

type snapResponse struct {
	Seq  uint64
	Data []byte
	// Digest is absent (empty) in responses kept before responses had
	// digests; such a response answers any retry.
	Digest []byte
}

type snapTombstone struct {
	ID     uint64
	Reason uint8
}

// newHandle returns the msgpack handle for snapshots. One per call: the
// package keeps no mutable state.
func newHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.Canonical = true
	h.MaxInitLen = 4096
	return h
}

func newEncoder(out *[]byte) *codec.Encoder { return codec.NewEncoderBytes(out, newHandle()) }

// Snapshot encodes the whole table (open sessions with their dedup windows,
// tombstones) deterministically: the same table gives the same bytes.
func (t *Table) Snapshot() ([]byte, error) {
	st := snapTable{Version: snapshotVersion, LastID: uint64(t.lastID)}
	for _, id := range t.sortedIDs() {
		s := t.sessions[id]
		ss := snapSession{ID: uint64(s.id), Key: s.key, TTL: int64(s.ttl), OpenedAt: s.openedAt,
			Owner: s.owner.Principal, SecretHash: s.owner.SecretHash, Mark: s.mark}
		seqs := make([]uint64, 0, len(s.responses))
		for q := range s.responses {
			seqs = append(seqs, q)
		}
		slices.Sort(seqs)
		for _, q := range seqs {
			r := s.responses[q]
			sr := snapResponse{Seq: q, Data: r.data}
			if r.digest != (Digest{}) {
				sr.Digest = r.digest[:]
			}
			ss.Responses = append(ss.Responses, sr)
		}
		st.Sessions = append(st.Sessions, ss)
	}
	for _, tb := range t.endedOrder {
		st.Ended = append(st.Ended, snapTombstone{ID: uint64(tb.id), Reason: uint8(tb.reason)})
	}
	var out []byte
	if err := newEncoder(&out).Encode(&st); err != nil {
		return nil, fmt.Errorf("sessions: encode snapshot: %w", err)
	}
	return out, nil
}

// Restore replaces the table's contents with a snapshot's. On error the
// table is unchanged.
func (t *Table) Restore(data []byte) error {
	var st snapTable
	if err := codec.NewDecoderBytes(data, newHandle()).Decode(&st); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	if st.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCorruptSnapshot, st.Version, snapshotVersion)
	}
	nt := newTable(t.cfg)
	nt.lastID = ID(st.LastID)
	for i, ss := range st.Sessions {
		id := ID(ss.ID)
		if id == 0 || id > nt.lastID || (i > 0 && ss.ID <= st.Sessions[i-1].ID) {
			return fmt.Errorf("%w: session %d out of order or above last ID %d", ErrCorruptSnapshot, id, nt.lastID)
		}
		if ss.TTL <= 0 {
			return fmt.Errorf("%w: session %d has TTL %d", ErrCorruptSnapshot, id, ss.TTL)
		}
		if n := len(ss.SecretHash); n != 0 && n != sha256.Size {
			return fmt.Errorf("%w: session %d has a secret hash of %d bytes", ErrCorruptSnapshot, id, n)
		}
		s := &session{id: id, key: ss.Key, ttl: time.Duration(ss.TTL), openedAt: ss.OpenedAt, mark: ss.Mark,
			owner:     Owner{Principal: ss.Owner, SecretHash: ss.SecretHash},
			responses: make(map[uint64]response, len(ss.Responses))}
		for j, r := range ss.Responses {
			if r.Seq < ss.Mark || (j > 0 && r.Seq <= ss.Responses[j-1].Seq) {
				return fmt.Errorf("%w: session %d response %d out of order or below mark %d", ErrCorruptSnapshot, id, r.Seq, ss.Mark)
			}
			var d Digest
			if len(r.Digest) != 0 && len(r.Digest) != len(d) {
				return fmt.Errorf("%w: session %d response %d has a digest of %d bytes", ErrCorruptSnapshot, id, r.Seq, len(r.Digest))
			}
			copy(d[:], r.Digest)
			s.responses[r.Seq] = response{digest: d, data: r.Data}
		}
		if ss.Key != "" {
			if _, dup := nt.keys[ss.Key]; dup {
				return fmt.Errorf("%w: key %q used twice", ErrCorruptSnapshot, ss.Key)
			}
			nt.keys[ss.Key] = id
		}
		nt.sessions[id] = s
	}
	for _, tb := range st.Ended {
		id, r := ID(tb.ID), EndReason(tb.Reason)
		_, open := nt.sessions[id]
		_, dup := nt.ended[id]
		if (r != Expired && r != Closed) || open || dup || id > nt.lastID {
			return fmt.Errorf("%w: bad tombstone for session %d", ErrCorruptSnapshot, id)
		}
		nt.remember(tombstone{id: id, reason: r})
	}
	*t = *nt
	return nil
}
