// Package server is where lockd's pieces meet: it runs the consensus
// driver over the write-ahead log and the transport, applies committed
// commands to the replicated state machine, answers clients, and runs the
// leader-side timers (session deadlines, lock-delay ticks).
//
// Files by role:
//
//	node*.go       the driver: one goroutine owns consensus.Raft, persists
//	               each Ready in one synced WAL write, applies, advances
//	transport*.go  Raft messages between peers over rpc; snapshots in
//	               acknowledged chunks; the peer "node info" exchange
//	fsm*.go        the replicated state machine (below)
//	service*.go    the lock service: client handlers, leader hints, reads
//	               through ReadIndex, lease table, event pushes,
//	               membership, backups, metrics (state tables in service.go
//	               and service_sessions.go)
//	http.go        /livez, /readyz, /metrics, /status and the status page
//
// Nothing here applies anything with the wall clock: commands carry the
// leader's stamp. The only goroutines that decide anything are the driver
// loop and the leader's lease scanner; the rest move bytes.
//
// The state machine (FSM, files fsm*.go) composes packages sessions and
// locks. It is deterministic: its only time is the leader's stamp on each
// Command, it iterates in sorted order, and it never does I/O or starts a
// goroutine. Apply decodes a Command, deduplicates writes through the
// session's response window, dispatches to the lock table, and returns a
// Result (with a numeric Code that the wire carries and the client maps
// back to the same sentinel error) and the Events to act on:
// SessionOpened, SessionClosed, SessionExpired, Granted, Lost,
// HolderChanged. Snapshot and Restore cover the whole state and give the
// same bytes for the same state.
//
// Leader duties the FSM relies on, since nothing happens in it by itself:
// stamp every command with a time no earlier than the last applied one;
// keep session deadlines in memory (SessionDeadlines on election, then
// SessionOpened / SessionClosed / SessionExpired events of every applied
// entry) and propose CmdExpireSession when one passes; propose CmdTick at
// NextLockDeadline.
package server
