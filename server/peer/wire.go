package peer

import (
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// Peer message types on a KindPeer connection.
const (
	// msgRaft is a one-way consensus.Message (without snapshot data).
	msgRaft rpc.MsgType = 1
	// msgSnapChunk is a request carrying one chunk of a MsgSnap; the
	// receiver answers each, so a transfer has flow control and a clear end.
	msgSnapChunk rpc.MsgType = 2
)

// wireEntry and wireMessage are consensus types laid out as msgpack arrays:
// no field names on the wire, which keeps MsgApp small.
type wireEntry struct {
	_struct struct{} `codec:",toarray"` //nolint:unused
	Term    uint64
	Index   uint64
	Type    uint8
	Data    []byte
}

type wireMessage struct {
	_struct    struct{} `codec:",toarray"` //nolint:unused
	Type       uint8
	From       string
	To         string
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Entries    []wireEntry
	Commit     uint64
	Reject     bool
	RejectHint uint64
	RejectTerm uint64
	Context    []byte
	// Snap is the snapshot metadata of a MsgSnap; its data travels in chunks.
	Snap *wireSnapMeta
}

type wireSnapMeta struct {
	_struct  struct{} `codec:",toarray"` //nolint:unused
	Index    uint64
	Term     uint64
	Voters   []string
	Learners []string
	Addrs    map[string]string
}

// snapChunk carries one piece of a MsgSnap's data; Msg rides along with
// every chunk so the receiver needs no other state to start a transfer.
type snapChunk struct {
	Msg   wireMessage
	Chunk rpc.Chunk
	// CRC is the CRC-32C (Castagnoli) of Chunk.Data, Sum that of the whole
	// snapshot; the receiver refuses a chunk without them.
	CRC *uint32
	Sum *uint32
}

func toWire(m consensus.Message) wireMessage {
	w := wireMessage{
		Type: uint8(m.Type), From: string(m.From), To: string(m.To), Term: m.Term,
		LogTerm: m.LogTerm, Index: m.Index, Commit: m.Commit, Reject: m.Reject,
		RejectHint: m.RejectHint, RejectTerm: m.RejectTerm, Context: m.Context,
	}
	if len(m.Entries) > 0 {
		w.Entries = make([]wireEntry, len(m.Entries))
		for i, e := range m.Entries {
			w.Entries[i] = wireEntry{Term: e.Term, Index: e.Index, Type: uint8(e.Type), Data: e.Data}
		}
	}
	if m.Snapshot != nil {
		meta := m.Snapshot.Meta
		w.Snap = &wireSnapMeta{Index: meta.Index, Term: meta.Term,
			Voters: idsToStrings(meta.Conf.Voters), Learners: idsToStrings(meta.Conf.Learners)}
		if len(meta.Conf.Addrs) > 0 {
			w.Snap.Addrs = make(map[string]string, len(meta.Conf.Addrs))
			for id, a := range meta.Conf.Addrs {
				w.Snap.Addrs[string(id)] = a
			}
		}
	}
	return w
}

func fromWire(w wireMessage, snapData []byte) consensus.Message {
	m := consensus.Message{
		Type: consensus.MessageType(w.Type), From: consensus.NodeID(w.From), To: consensus.NodeID(w.To),
		Term: w.Term, LogTerm: w.LogTerm, Index: w.Index, Commit: w.Commit, Reject: w.Reject,
		RejectHint: w.RejectHint, RejectTerm: w.RejectTerm, Context: w.Context,
	}
	if len(w.Entries) > 0 {
		m.Entries = make([]consensus.Entry, len(w.Entries))
		for i, e := range w.Entries {
			m.Entries[i] = consensus.Entry{Term: e.Term, Index: e.Index, Type: consensus.EntryType(e.Type), Data: e.Data}
		}
	}
	if w.Snap != nil {
		conf := consensus.ConfState{Voters: stringsToIDs(w.Snap.Voters), Learners: stringsToIDs(w.Snap.Learners)}
		if len(w.Snap.Addrs) > 0 {
			conf.Addrs = make(map[consensus.NodeID]string, len(w.Snap.Addrs))
			for id, a := range w.Snap.Addrs {
				conf.Addrs[consensus.NodeID(id)] = a
			}
		}
		m.Snapshot = &consensus.Snapshot{
			Meta: consensus.SnapshotMeta{Index: w.Snap.Index, Term: w.Snap.Term, Conf: conf},
			Data: snapData,
		}
	}
	return m
}

func idsToStrings(ids []consensus.NodeID) []string {
	if len(ids) == 0 {
		return nil
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

func stringsToIDs(ss []string) []consensus.NodeID {
	if len(ss) == 0 {
		return nil
	}
	out := make([]consensus.NodeID, len(ss))
	for i, s := range ss {
		out[i] = consensus.NodeID(s)
	}
	return out
}
