// Package consensus is lockd's Raft: a deterministic state machine in the
// style of etcd-io/raft. The driver loop that connects it to a durable log
// and a transport is server/raftnode.Node.
//
// The core, Raft, takes inputs — Step(msg), Tick(), Propose(data),
// ProposeConfChange(cc), ReadIndex(id), TransferLeader(id) — and returns its
// outputs in a Ready: hard state and entries to persist, a snapshot to
// persist, messages to send, committed entries to apply and completed read
// indexes. The caller persists, sends, applies, and calls Advance. A caller
// that syncs in the background keeps stepping meanwhile and applies what
// commits during the sync through TakeCommitted.
//
// The core must never start a goroutine, read a clock, touch a disk or a
// socket, or use global randomness: time is Tick, randomness is the seeded
// source in Config. It imports nothing else from lockd; the storage and
// transport it needs are interfaces defined here.
//
// # Roles
//
// Step checks terms once (a higher term makes the node a follower, except
// for pre-votes, and for votes inside a check-quorum leader lease; a lower
// term is ignored or answered so a stale leader learns the new term), then
// hands the message to the role's step function:
//
//	state \ event | election timeout     | (pre)vote quorum      | higher term / leader msg | other
//	--------------+----------------------+-----------------------+--------------------------+------------------------------
//	Follower      | PreCandidate (or     | -                     | Follower(term, lead)     | MsgApp/Heartbeat/Snap: append,
//	              | Candidate w/o        |                       |                          | commit, restore; TimeoutNow:
//	              | PreVote); only if    |                       |                          | Candidate at once (transfer)
//	              | a voter              |                       |                          |
//	PreCandidate  | PreCandidate again   | Candidate (term+1)    | Follower                 | rejected quorum: Follower
//	Candidate     | as Follower          | Leader (no-op entry)  | Follower                 | rejected quorum: Follower
//	Leader        | check-quorum: steps  | -                     | Follower                 | MsgAppResp: advance Match,
//	              | down if no quorum    |                       |                          | commit (current term only);
//	              | heard for a timeout; |                       |                          | own removal applied: Follower;
//	              | transfer aborts      |                       |                          | heartbeat acks: complete reads
//
// A candidate's own vote counts only after the Ready recording it has been
// persisted (Advance); a leader's own log counts toward the commit quorum
// only up to what it has persisted. The leader's MsgApp, MsgHeartbeat and
// MsgSnap may be sent before persisting (Raft thesis §10.2.1); see Ready.
//
// # Replication
//
// Per follower the leader keeps a progress in one of three states: probe
// (one MsgApp at a time until the match point is found, backing up a term
// per round trip with the follower's conflict hint), replicate (pipelined
// MsgApp within a window of MaxInflightMsgs, each at most MaxSizePerMsg),
// and snapshot (a MsgSnap is in flight; resolved by the follower's answer,
// ReportSnapshot, or presumed lost after an election timeout of heartbeats).
//
// # Membership
//
// Single-server changes (add learner, promote learner, remove) travel as
// EntryConfChange entries and take effect when the core hands them out in
// Ready.CommittedEntries. At most one may be unapplied; a new leader
// accepts none until its first entry is applied. A node that is not a voter
// never campaigns; a leader that applies its own removal steps down.
//
// # Failures
//
// Caller and peer mistakes return the sentinel errors in errors.go. Step
// checks a peer's message before anything changes (bounds.go): terms above
// MaxTerm and indexes above MaxIndex are ErrOutOfRange, entries no leader
// could have produced ErrInvalidMessage, and a message contradicting Raft's
// guarantees against this node's log (a committed entry rewritten, a
// second leader in the term, an acknowledgement of entries never sent)
// ErrProtocolViolation; the driver decides what to do with the sender. The
// core panics only when its own invariants break, when the driver breaks
// the call order of the Ready contract (a second Ready before Advance, an
// Advance of any Ready but the outstanding one, CanDeferWrite before
// TakeEarlyMessages and TakeCommitted; contract.go), or when Storage fails
// a read it guarantees (a broken disk leaves nothing safe to do).
package consensus
