package consensus

import "errors"

// Sentinel errors for caller and peer mistakes. Match them with errors.Is;
// the core wraps them with detail using %w.
var (
	// ErrNotLeader: the operation needs the leader and this node is not it.
	ErrNotLeader = errors.New("consensus: not leader")
	// ErrNoLeader: no leader is known to forward a request to.
	ErrNoLeader = errors.New("consensus: no leader")
	// ErrConfChangePending: a configuration change is already in the log
	// and not yet applied (at most one may be outstanding).
	ErrConfChangePending = errors.New("consensus: configuration change pending")
	// ErrUnknownNode: the node named is not a member (or not a voter where a
	// voter is needed).
	ErrUnknownNode = errors.New("consensus: unknown node")
	// ErrInvalidConfChange: the change is malformed or not allowed against
	// the current configuration.
	ErrInvalidConfChange = errors.New("consensus: invalid configuration change")
	// ErrTransferInProgress: a leadership transfer is under way; proposals
	// are refused until it completes or aborts.
	ErrTransferInProgress = errors.New("consensus: leadership transfer in progress")
	// ErrProposalDropped: the proposal cannot be accepted by this node (for
	// example it is no longer a member of the configuration).
	ErrProposalDropped = errors.New("consensus: proposal dropped")
	// ErrInvalidConfig: Config.Validate found a bad field.
	ErrInvalidConfig = errors.New("consensus: invalid config")
	// ErrCorruptConfChange: an EntryConfChange payload does not decode.
	ErrCorruptConfChange = errors.New("consensus: corrupt configuration change")
)

var (
	// ErrInvalidMessage: a peer message is malformed (unknown type, MsgSnap
	// without a snapshot, no sender).
	ErrInvalidMessage = errors.New("consensus: invalid message")
	// ErrCorruptState: what Storage returned is inconsistent (for example a
	// commit index past the last entry, or Config.Applied past the commit).
	ErrCorruptState = errors.New("consensus: inconsistent stored state")
	// ErrCompactPastSnapshot: MemoryStorage.Compact was asked to discard
	// entries no snapshot covers (a lagging follower could never catch up).
	ErrCompactPastSnapshot = errors.New("consensus: compaction past the latest snapshot")
)

var (
	// ErrOutOfRange: a peer message carries a term or index beyond what a
	// real cluster can reach (MaxTerm, MaxIndex). It is refused before
	// anything changes, so it is never persisted.
	ErrOutOfRange = errors.New("consensus: value out of range")
	// ErrProtocolViolation: a peer message is well formed but says what
	// Raft proves cannot happen (an entry conflicting with a committed one,
	// a second leader in this term, an acknowledgement of entries never
	// sent). The sender is broken; nothing changed here, and the caller
	// should stop listening to it for a while.
	ErrProtocolViolation = errors.New("consensus: protocol violation")
)
