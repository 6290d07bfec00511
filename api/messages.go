package api

// MsgType is the frame type of a request on a client connection: the
// rpc.MsgType it travels as (convert with rpc.MsgType(t)). Never renumber:
// the values are the wire protocol.
type MsgType uint8

// Requests on a client connection.
const (
	MsgOpenSession    MsgType = 1
	MsgKeepAlive      MsgType = 2
	MsgCloseSession   MsgType = 3
	MsgAcquire        MsgType = 4
	MsgRelease        MsgType = 5
	MsgCancelWait     MsgType = 6
	MsgProclaim       MsgType = 7
	MsgCheckToken     MsgType = 8
	MsgGetLock        MsgType = 9
	MsgListLocks      MsgType = 10
	MsgGetSession     MsgType = 11
	MsgListSessions   MsgType = 12
	MsgStatus         MsgType = 13
	MsgMembers        MsgType = 14
	MsgAddLearner     MsgType = 15
	MsgPromote        MsgType = 16
	MsgRemoveMember   MsgType = 17
	MsgTransferLeader MsgType = 18
	MsgSnapshotSave   MsgType = 19
	MsgObserve        MsgType = 20
	MsgAttach         MsgType = 21
	MsgClusterStatus  MsgType = 22
)

// PushType is the frame type of an event the server sends on a client
// connection unasked (rpc.MsgType on the wire, in the same byte as MsgType
// and apart from its values). Never renumber.
type PushType uint8

// Events the server pushes.
const (
	PushGranted        PushType = 40
	PushLost           PushType = 41
	PushSessionExpired PushType = 42
	PushLeaderChanged  PushType = 43
	PushHolderChanged  PushType = 44
)

// Mode is how a lock is held, a uint on the wire. Never renumber.
type Mode uint8

// Lock modes.
const (
	// ModeExclusive: one holder.
	ModeExclusive Mode = 1
	// ModeShared: any number of shared holders, no exclusive one.
	ModeShared Mode = 2
)

// Write is the deduplication header every session write carries: the
// session, its secret, this request's sequence number, and the lowest
// sequence number the client has not yet seen answered (the server forgets
// answers below it).
type Write struct {
	Session uint64
	// Secret is the session's secret (SessionSecretSize bytes), as sent
	// when the session was opened.
	Secret           []byte
	Seq              uint64
	LowestUnanswered uint64
}

// SessionSecretSize is the size in bytes of a session secret.
const SessionSecretSize = 32

// OpenSessionRequest opens a session. Key is a client-chosen idempotency
// key: a retried open with the same key returns the same session.
type OpenSessionRequest struct {
	Key string
	// TTL in nanoseconds; the server clamps it to its range (0 = default).
	TTL int64
	// Secret is chosen by the client at random (SessionSecretSize bytes)
	// and sent again with every later request on the session; the server
	// keeps only its SHA-256. A retried open sends the same key and secret.
	Secret []byte
}

// OpenSessionResponse names the session and its granted TTL.
type OpenSessionResponse struct {
	Session uint64
	TTL     int64
}

// KeepAliveRequest renews the leases of one client's sessions at once.
type KeepAliveRequest struct {
	Sessions []uint64
	// Secrets[i] is the secret of Sessions[i].
	Secrets [][]byte
}

// KeepAliveResponse: TTLs[i] is the renewed TTL (ns) of the request's
// Sessions[i], or 0 if it was not renewed; a session the leader does not
// hold open (expired, closed, unknown, or whose expiry is under way) is
// also listed in Expired.
type KeepAliveResponse struct {
	TTLs    []int64
	Expired []uint64
}

// CloseSessionRequest ends a session and releases its locks at once.
type CloseSessionRequest struct {
	Session uint64
	Secret  []byte
}

// AttachRequest binds a session's events (grants, losses, expiry) to this
// connection, after a connect or a reconnect to a new leader.
type AttachRequest struct {
	Sessions []uint64
	// Secrets[i] is the secret of Sessions[i].
	Secrets [][]byte
}

// AcquireRequest takes or queues for a lock.
type AcquireRequest struct {
	Write
	Name  string
	Mode  Mode
	Value []byte
	// Wait queues the request when the lock is taken; false fails at once
	// with CodeLockHeld.
	Wait bool
	// LockDelay (ns, 0..60 s): how long the lock stays ungrantable if this
	// session expires while holding it.
	LockDelay int64
}

// AcquireResponse: Granted with Token now, or Queued at Position (1 is
// the head); a queued request is granted later by a PushGranted event.
type AcquireResponse struct {
	Granted  bool
	Token    uint64
	Queued   bool
	Position int
	// QueuedIndex is the log index of the entry that queued the request.
	// The grant that ends this wait has a token above it: a pushed grant
	// with a lower token belongs to an earlier hold (a node catching up on
	// its log may push it late) and must be ignored.
	QueuedIndex uint64
}

// ReleaseRequest releases the hold with Token.
type ReleaseRequest struct {
	Write
	Name  string
	Token uint64
}

// CancelWaitRequest leaves a lock's wait queue.
type CancelWaitRequest struct {
	Write
	Name string
}

// ProclaimRequest replaces the value of a held lock.
type ProclaimRequest struct {
	Write
	Name  string
	Token uint64
	Value []byte
}

// Empty is the response of requests that answer nothing but success.
type Empty struct{}

// ReadOptions choose the consistency of a read. The default is
// linearizable (ReadIndex on the leader); Stale reads the local node.
type ReadOptions struct {
	Stale bool
}

// CheckTokenRequest asks whether Token is a current holder's token of Name.
type CheckTokenRequest struct {
	ReadOptions
	Name  string
	Token uint64
}

// CheckTokenResponse answers CheckTokenRequest.
type CheckTokenResponse struct {
	Current bool
}

// GetLockRequest asks for one lock.
type GetLockRequest struct {
	ReadOptions
	Name string
}

// ListLocksRequest lists locks whose names start with Prefix.
type ListLocksRequest struct {
	ReadOptions
	Prefix string
}

// ListLocksResponse answers ListLocksRequest, sorted by name.
type ListLocksResponse struct {
	Locks []LockInfo
}

// LockInfo describes one lock.
type LockInfo struct {
	Name     string
	Holders  []HolderInfo
	Waiters  []WaiterInfo
	Revision uint64
	// DelayUntil is the end of a lock-delay (replicated time, unix ns; see
	// PROTOCOL.md), 0 if none.
	DelayUntil int64
}

// HolderInfo is one holder of a lock.
type HolderInfo struct {
	Session    uint64
	Mode       Mode
	Token      uint64
	Value      []byte
	AcquiredAt int64
}

// WaiterInfo is one queued request, in FIFO order.
type WaiterInfo struct {
	Session  uint64
	Mode     Mode
	QueuedAt int64
}

// GetSessionRequest asks for one session.
type GetSessionRequest struct {
	ReadOptions
	Session uint64
}

// ListSessionsRequest lists every session.
type ListSessionsRequest struct {
	ReadOptions
}

// ListSessionsResponse answers ListSessionsRequest, sorted by ID.
type ListSessionsResponse struct {
	Sessions []SessionInfo
}

// SessionInfo describes one session and what it holds and waits for.
type SessionInfo struct {
	Session  uint64
	TTL      int64
	OpenedAt int64
	// Owner is the principal that opened the session ("" on a cluster
	// without authentication).
	Owner   string
	Held    []string
	Waiting []string
}

// StatusRequest asks the node answering it about itself.
type StatusRequest struct{}

// NodeStatus is one node's view of the cluster.
type NodeStatus struct {
	ID         string
	Role       string
	Term       uint64
	Leader     string
	LeaderAddr string // the leader's client address, if known
	Commit     uint64
	Applied    uint64
	// Progress is set on the leader: each member's replication state.
	Progress []MemberProgress
	// ClusterID names the cluster the node's data directory belongs to:
	// derived from the founding members and their peer addresses (and the
	// token, if one was given), the same on every member. Empty for a data
	// directory written before lockd recorded it. In JSON (the HTTP
	// /status page) it is cluster_id.
	ClusterID string `codec:"ClusterID" json:"cluster_id"`
}

// MemberProgress is the leader's view of one member.
type MemberProgress struct {
	ID      string
	Match   uint64
	Next    uint64
	State   string
	Learner bool
}

// ClusterStatusResponse: every member's status as seen by the answering
// node (members it cannot reach carry Error).
type ClusterStatusResponse struct {
	Nodes []ClusterNode
}

// ClusterNode is one member in a ClusterStatusResponse.
type ClusterNode struct {
	ID         string
	ClientAddr string
	Status     *NodeStatus
	Error      string
}

// MembersResponse lists the membership.
type MembersResponse struct {
	Members []Member
}

// Member is one member of the cluster.
type Member struct {
	ID         string
	PeerAddr   string
	ClientAddr string
	Learner    bool
}

// AddLearnerRequest adds a non-voting member that catches up first.
type AddLearnerRequest struct {
	ID         string
	PeerAddr   string
	ClientAddr string
}

// PromoteRequest makes a caught-up learner a voter.
type PromoteRequest struct {
	ID    string
	Force bool
}

// RemoveMemberRequest removes a member; Force allows a removal that would
// leave the cluster unable to reach a quorum with the members now up.
type RemoveMemberRequest struct {
	ID    string
	Force bool
}

// TransferLeaderRequest hands leadership to ID (empty: the most caught-up
// voter).
type TransferLeaderRequest struct {
	ID string
}

// SnapshotSaveRequest fetches a consistent backup in chunks: the first call
// (Offset 0) makes a fresh snapshot; later calls name its Index.
type SnapshotSaveRequest struct {
	Index  uint64
	Offset uint64
}

// SnapshotSaveResponse is one chunk of a backup of Total bytes taken at
// Index; CRC32C is the checksum of the whole backup. ClusterID is the
// cluster ID of the node that made the backup ("" if it knows none; a
// node older than the field leaves it out).
type SnapshotSaveResponse struct {
	Index     uint64
	Term      uint64
	Total     uint64
	CRC32C    uint32
	Data      []byte
	ClusterID string
}

// ObserveRequest subscribes this connection to holder changes of Name. The
// server first pushes the current holders (with their revision) if it is
// newer than SinceRevision, so a watcher that reconnects misses nothing.
type ObserveRequest struct {
	Name          string
	SinceRevision uint64
}

// Events pushed by the server.

// GrantedEvent: a queued acquire now holds the lock.
type GrantedEvent struct {
	Session uint64
	Name    string
	Token   uint64
	Mode    Mode
}

// LostEvent: Session no longer holds Name with Token.
type LostEvent struct {
	Session uint64
	Name    string
	Token   uint64
	Reason  string
}

// SessionExpiredEvent: the session ended by expiry.
type SessionExpiredEvent struct {
	Session uint64
}

// LeaderChangedEvent: the node pushing it is no longer (or now is) the
// leader; Leader and LeaderAddr name the new one if known.
type LeaderChangedEvent struct {
	Leader     string
	LeaderAddr string
	Term       uint64
}

// HolderChangedEvent: the holders of Name changed at Revision.
type HolderChangedEvent struct {
	Name     string
	Revision uint64
	Holders  []HolderInfo
}

// MembersRequest asks for the membership (MsgMembers). Older clients may
// send an empty body: the zero value is a linearizable read.
type MembersRequest struct {
	ReadOptions
}

// ClusterStatusRequest asks the answering node to collect every member's
// status (MsgClusterStatus).
type ClusterStatusRequest struct{}
