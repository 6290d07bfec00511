package consensus

import "fmt"

// Bounds on the terms and indexes a peer may send. A cluster that elects a
// leader every millisecond reaches MaxTerm after nine thousand years, and a
// log that appends a billion entries a second reaches MaxIndex after a
// century; anything above is a forged or corrupted message. Keeping terms
// far below 2^64 also keeps term+1 (a campaign) from wrapping.
const (
	// MaxTerm is the largest term a peer message may carry.
	MaxTerm uint64 = 1 << 48
	// MaxIndex is the largest log index a peer message may carry.
	MaxIndex uint64 = 1 << 62
)

// checkRange refuses a message whose terms or indexes exceed MaxTerm or
// MaxIndex, with ErrOutOfRange.
func checkRange(m Message) error {
	terms := [...]struct {
		name string
		v    uint64
	}{{"term", m.Term}, {"log term", m.LogTerm}, {"reject term", m.RejectTerm}}
	for _, t := range terms {
		if t.v > MaxTerm {
			return fmt.Errorf("%w: %s %s %d above %d", ErrOutOfRange, m.Type, t.name, t.v, MaxTerm)
		}
	}
	indexes := [...]struct {
		name string
		v    uint64
	}{{"index", m.Index}, {"commit", m.Commit}, {"reject hint", m.RejectHint}}
	for _, i := range indexes {
		if i.v > MaxIndex {
			return fmt.Errorf("%w: %s %s %d above %d", ErrOutOfRange, m.Type, i.name, i.v, MaxIndex)
		}
	}
	if uint64(len(m.Entries)) > MaxIndex-m.Index {
		return fmt.Errorf("%w: %s with %d entries after index %d", ErrOutOfRange, m.Type, len(m.Entries), m.Index)
	}
	if s := m.Snapshot; s != nil && (s.Meta.Index > MaxIndex || s.Meta.Term > MaxTerm) {
		return fmt.Errorf("%w: %s snapshot at index %d term %d", ErrOutOfRange, m.Type, s.Meta.Index, s.Meta.Term)
	}
	return nil
}

// checkShape refuses, with ErrInvalidMessage, entries and snapshots that
// no leader could have produced: a MsgApp's entries follow (Index,
// LogTerm) one index apart, with terms that never decrease and never pass
// the message's term; a snapshot's term never passes it either.
func checkShape(m Message) error {
	if m.LogTerm > m.Term && (m.Type == MsgApp || m.Type == MsgVote || m.Type == MsgPreVote) {
		return fmt.Errorf("%w: %s log term %d above term %d", ErrInvalidMessage, m.Type, m.LogTerm, m.Term)
	}
	if len(m.Entries) > 0 && m.Type != MsgApp {
		return fmt.Errorf("%w: %s with entries", ErrInvalidMessage, m.Type)
	}
	prev := m.LogTerm
	for i, e := range m.Entries {
		if want := m.Index + 1 + uint64(i); e.Index != want {
			return fmt.Errorf("%w: MsgApp entry %d has index %d, want %d", ErrInvalidMessage, i, e.Index, want)
		}
		if e.Term < prev || e.Term > m.Term {
			return fmt.Errorf("%w: MsgApp entry %d has term %d outside [%d,%d]", ErrInvalidMessage, e.Index, e.Term, prev, m.Term)
		}
		prev = e.Term
	}
	if m.Type == MsgSnap && m.Snapshot.Meta.Term > m.Term {
		return fmt.Errorf("%w: MsgSnap snapshot term %d above term %d", ErrInvalidMessage, m.Snapshot.Meta.Term, m.Term)
	}
	return nil
}

// checkViolation refuses, with ErrProtocolViolation, a well-formed message
// from the current or a later term that contradicts Raft's guarantees
// against this node's state. Nothing has changed when it returns an error.
//
//   - MsgApp or MsgSnap that contradicts a committed entry: committed
//     entries are in every later leader's log (Leader Completeness, §5.4),
//     and a leader of an earlier term's stale message is not checked.
//   - MsgApp, MsgHeartbeat or MsgSnap to the leader of the same term: two
//     leaders in one term (Election Safety, §5.2).
//   - MsgAppResp acknowledging entries past the leader's last index in the
//     leader's own term: a follower only holds what this leader sent.
func (r *Raft) checkViolation(m Message) error {
	if m.Term < r.term || r.log.unsafeOverwrite {
		return nil
	}
	switch m.Type {
	case MsgApp:
		if r.role == Leader && m.Term == r.term {
			return fmt.Errorf("%w: MsgApp from %s to the leader of term %d", ErrProtocolViolation, m.From, r.term)
		}
		if m.Index <= r.log.committed {
			if t, err := r.log.term(m.Index); err == nil && t != m.LogTerm {
				return fmt.Errorf("%w: MsgApp from %s says entry %d has term %d; committed with term %d",
					ErrProtocolViolation, m.From, m.Index, m.LogTerm, t)
			}
		}
		for _, e := range m.Entries {
			if e.Index > r.log.committed {
				break
			}
			if t, err := r.log.term(e.Index); err == nil && t != e.Term {
				return fmt.Errorf("%w: MsgApp from %s conflicts with committed entry %d (term %d, sent %d)",
					ErrProtocolViolation, m.From, e.Index, t, e.Term)
			}
		}
	case MsgHeartbeat:
		if r.role == Leader && m.Term == r.term {
			return fmt.Errorf("%w: MsgHeartbeat from %s to the leader of term %d", ErrProtocolViolation, m.From, r.term)
		}
	case MsgSnap:
		if r.role == Leader && m.Term == r.term {
			return fmt.Errorf("%w: MsgSnap from %s to the leader of term %d", ErrProtocolViolation, m.From, r.term)
		}
		s := m.Snapshot.Meta
		if s.Index <= r.log.committed {
			if t, err := r.log.term(s.Index); err == nil && t != s.Term {
				return fmt.Errorf("%w: MsgSnap from %s says entry %d has term %d; committed with term %d",
					ErrProtocolViolation, m.From, s.Index, s.Term, t)
			}
		}
	case MsgAppResp:
		if r.role == Leader && m.Term == r.term && !m.Reject && m.Index > r.log.lastIndex() {
			return fmt.Errorf("%w: MsgAppResp from %s acknowledges index %d past the last index %d",
				ErrProtocolViolation, m.From, m.Index, r.log.lastIndex())
		}
	}
	return nil
}
