// Package server is one lockd node: where the pieces of the data path
// meet, and the lock service that answers clients.
//
// The data path, one package each:
//
//	server/peer      Raft messages between nodes over rpc; snapshots in
//	                 acknowledged chunks; the node-info exchange
//	server/raftnode  the driver loop: one goroutine owns consensus.Raft,
//	                 persists each Ready to the WAL, applies, advances
//	server/fsm       the replicated state machine (sessions and locks),
//	                 its command codec and snapshot
//
// This package wires them to the WAL (package wal) and keeps what a node
// does beyond the log: the client handlers (handlers.go, reads.go,
// membership.go, backups.go), the path of a proposal and a linearizable
// read (propose.go), the applier that serialises the state machine with
// reads and routes each entry's events (apply.go, events.go), the
// leader's session leases (leases.go, sessions.go), the time stamped on
// commands (stamp.go) and the node's Clock (clock.go), the membership and
// every member's client address (members.go), the one table from domain
// errors to wire codes (codes.go), the record of the cluster a data
// directory was bootstrapped for and its cluster ID (identity.go), the
// backup file format (backupfile.go) and the offline restore that builds a
// new cluster's data directories from a backup (restore.go), metrics
// (metrics.go, callmetrics.go) and the HTTP endpoints (http.go; the
// cluster page in webview.go and clusterview.go, its recent events in
// eventlog.go). State tables: Server in server.go, the lease table
// in leases.go, the stamp clock in stamp.go, the member book in members.go.
//
// It exports Config, DefaultConfig, New, Server (Start, Shutdown, Close,
// ID, ClusterID, PeerAddr, ClientAddr, Removed, Live, Ready, Status),
// NewHTTPHandler with the NodeHealth it reads, ClusterID and FormatMembers,
// the backup file functions (EncodeBackup, DecodeBackup, ReadBackupFile,
// InspectBackup, Restore), and its errors; cmd/lockd is its user, and
// cmd/lockctl for backup files and Restore.
//
// Nothing here applies anything with the wall clock: commands carry the
// leader's stamp (see Time below), and the replicated state changes only
// when the raftnode loop applies a committed entry, whose outcome the
// state machine decides. What the other goroutines decide is leader-side
// and local (which commands to propose, the lease deadlines, who is told
// what); the goroutines, and what each may decide:
//
//	goroutine                  how many              may decide
//	raftnode loop              one                   everything Raft: steps, writes, applies, snapshots
//	raftnode WAL write         one per synced Ready  nothing: writes, reports the result to the loop
//	peer sender                one per peer          nothing: sends or drops, reports to the loop
//	peer connection            per inbound peer      whether a message is delivered: its From must be
//	                           connection            the connection's node and a member (peer.Gate,
//	                                                 mayStep in members.go); whose client address to keep
//	rpc connection/handler     per connection and    whether to propose a client's command (leader only,
//	                           request               session and lock limits), a keep-alive's new
//	                                                 deadlines, to refuse with NotLeader or Unavailable
//	watchWAL (diskwatch.go)    one                   that the node fail-stops: a WAL write pending for
//	                                                 WALStallTimeout, or a WAL failure (raftnode.Halt)
//	leaseLoop (scan)           one                   which sessions' deadlines passed (they become
//	                                                 expiring) and when a CmdTick is due
//	becomeLeader               one per term led      when the lease table goes active, with deadlines
//	                                                 counted afresh from its read-index confirmation
//	expire                     one per due session,  after its CmdExpireSession: the session is gone
//	                           at most 1024          (FSM refused) or retried a second later
//	tick                       at most one           nothing: proposes CmdTick
//	announceLeader             one per leader change nothing: pushes LeaderChanged to clients
//	members loop (refresh)     one, plus one per     that this node was removed (a peer's membership
//	                           peer it asks          proves it); members' client addresses
//	eventRouter watcher        one per subscribed    nothing: forgets a closed connection's
//	                           connection            subscriptions
//	clusterStatus fan-out      one per member, per   nothing: asks a member for its status
//	                           request
//
// becomeLeader, expire and tick are goroutines because each waits for a
// commit (or a read index) that must not hold up the scan or the loop. A
// proposal needs this node to lead when it is made; becomeLeader and a
// failed expiry's retry also check the lease table's generation, so one
// that outlives its term changes nothing of the next. Close ends them all:
// it cancels the server's context, closes the client rpc server, stops
// the node and the transport, and waits for the server's own goroutines.
//
// Time. A node's Clock (Config.Clock) has two readings: the wall clock,
// which NTP or an operator may step by any amount, and a monotonic one,
// which only counts elapsed time. The leader times what is its own on the
// monotonic one: a session expires once its TTL of real time has passed
// since its last keep-alive (or since the leader's read-index
// confirmation), at the next scan; expiry retries and backup retention
// likewise. The stamp on a command is replicated time, which advances at
// the rate of real time while a leader is in office and is never read
// from the wall clock (stamp.go):
//
//	stamp = max(applied, base + (Monotonic() - anchor))
//
// applied is the state machine's time after the last applied entry;
// (base, anchor) is the replicated time and the monotonic reading when
// this node took office (base = applied; the wall clock only if nothing
// was applied yet: the first leader of a fresh cluster has no earlier
// time to continue, and a node that only had not applied its log yet
// switches to the applied time at its read-index confirmation), moved up
// to (applied, now) when an earlier leader's later stamp is applied. Stamps thus never go backwards and never leap:
// a step of the leader's wall clock, or a new leader whose wall clock is
// an hour off (it may have been partitioned), changes no session expiry
// and no lock-delay, and a lock-delay (expiry stamp + delay) ends after
// its real duration. Replicated time stands still from one leader's last
// stamp to the next leader's election and while the cluster is down, so
// it falls behind wall time by those gaps: the times clients see
// (OpenedAt, DelayUntil) are unix nanoseconds in scale but not wall-clock
// readings, and a lock-delay spanning a failover lasts longer by the gap.
package server
