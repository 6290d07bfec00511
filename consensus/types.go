package consensus

// NodeID names a member of the cluster ("n1"). The empty string is no node.
type NodeID string

// None is the NodeID that names no node (no vote, no known leader).
const None NodeID = ""

// EntryType says how the state machine treats an entry's Data.
type EntryType uint8

const (
	// EntryNormal carries an application command in Data.
	EntryNormal EntryType = iota
	// EntryNoop is the empty entry a new leader appends at the start of its
	// term (Raft §8); Data is nil and the application ignores it.
	EntryNoop
	// EntryConfChange carries an encoded ConfChange in Data.
	EntryConfChange
)

// Entry is one record of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// HardState is the state that must be on stable storage before any message
// that depends on it is sent (Raft Figure 2, "persistent state").
type HardState struct {
	Term   uint64
	Vote   NodeID
	Commit uint64
}

// IsEmpty reports whether hs is the zero HardState.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// ConfState is the membership configuration: who votes, who only learns,
// and where each member listens for peers.
type ConfState struct {
	Voters   []NodeID
	Learners []NodeID
	// Addrs maps every voter and learner to its peer address. The core does
	// not read it; it travels with the configuration so a node restarted from
	// a snapshot knows where its peers are.
	Addrs map[NodeID]string
}

// ConfChangeType is the kind of single-server membership change.
type ConfChangeType uint8

const (
	// ConfAddLearner adds a non-voting member that receives the log.
	ConfAddLearner ConfChangeType = iota + 1
	// ConfPromote turns a learner into a voter.
	ConfPromote
	// ConfRemove removes a voter or a learner (the leader may remove itself).
	ConfRemove
)

// ConfChange is one single-server membership change (Raft thesis §4.1).
type ConfChange struct {
	Type ConfChangeType
	Node NodeID
	// Addr is the peer address of the node being added.
	Addr string
}

// SnapshotMeta describes the state captured by a snapshot.
type SnapshotMeta struct {
	Index uint64 // last log index covered
	Term  uint64 // term of that entry
	Conf  ConfState
}

// Snapshot is a compacted prefix of the log: the application state at
// Meta.Index, as opaque bytes.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// IsEmpty reports whether s holds no snapshot.
func (s *Snapshot) IsEmpty() bool { return s == nil || s.Meta.Index == 0 }

// MessageType is the kind of a Raft message between peers.
type MessageType uint8

const (
	MsgApp           MessageType = iota + 1 // leader → follower: entries after (Index, LogTerm)
	MsgAppResp                              // follower → leader: accepted up to Index, or a reject with a hint
	MsgVote                                 // candidate → all: request vote for Term with last log (Index, LogTerm)
	MsgVoteResp                             // answer to MsgVote
	MsgPreVote                              // pre-candidate → all: would you vote for me at Term?
	MsgPreVoteResp                          // answer to MsgPreVote
	MsgHeartbeat                            // leader → follower: commit and read-index context
	MsgHeartbeatResp                        // answer to MsgHeartbeat
	MsgSnap                                 // leader → follower: install Snapshot
	MsgTimeoutNow                           // leader → transfer target: campaign now
	MsgReadIndex                            // follower → leader: forward a read request
	MsgReadIndexResp                        // leader → follower: the read index for Context
)

var msgNames = [...]string{"", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp", "MsgPreVote",
	"MsgPreVoteResp", "MsgHeartbeat", "MsgHeartbeatResp", "MsgSnap", "MsgTimeoutNow",
	"MsgReadIndex", "MsgReadIndexResp"}

func (t MessageType) String() string {
	if int(t) < len(msgNames) && t != 0 {
		return msgNames[t]
	}
	return "MsgUnknown"
}

// Message is the one struct every peer message uses; which fields mean what
// depends on Type.
type Message struct {
	Type MessageType
	From NodeID
	To   NodeID
	Term uint64

	// MsgApp: the entry preceding Entries. MsgVote/MsgPreVote: the sender's
	// last entry. MsgAppResp: the index accepted up to (or rejected at).
	LogTerm uint64
	Index   uint64
	Entries []Entry
	Commit  uint64

	// Reject marks a refused MsgAppResp or a denied vote.
	Reject bool
	// RejectHint and RejectTerm are the conflict hint of a rejected
	// MsgAppResp: the follower's last index, or the first index of the
	// conflicting term RejectTerm, so the leader backs up a term at a time.
	RejectHint uint64
	RejectTerm uint64

	// Snapshot is set on MsgSnap.
	Snapshot *Snapshot
	// Context carries a ReadIndex request id on heartbeats and read-index
	// messages, and marks a transfer-triggered election on MsgVote.
	Context []byte
}

// ReadState is a completed ReadIndex request: once the application has
// applied up to Index, a read for RequestID is linearizable.
type ReadState struct {
	Index     uint64
	RequestID uint64
}

// Role is what a node currently is.
type Role uint8

const (
	Follower Role = iota
	PreCandidate
	Candidate
	Leader
)

func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case PreCandidate:
		return "pre-candidate"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	}
	return "unknown"
}

// SoftState is volatile state worth reporting but not persisting.
type SoftState struct {
	Lead NodeID
	Role Role
}
