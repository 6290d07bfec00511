// Package raftnode drives one consensus.Raft: the middle of the data path
// (peer → raftnode → fsm). It consumes three interfaces, each defined
// here: a LogStore (wal.WAL) that makes each Ready durable, a Transport
// (peer.Transport) that carries messages, and a StateMachine (the
// server's wrapper of fsm.Machine) that committed entries are applied to.
//
// Goroutines: the driver loop (Node.run) is the only one that touches the
// core. It steps messages, ticks, proposals, read-index requests and
// control functions into the core, persists each Ready, sends, applies
// committed entries in log order and answers proposers and readers. It
// decides everything this package decides: when to write, when to defer a
// leader's write (Config.LeaderWriteDelay), when to snapshot and compact.
// A Ready that needs a synced write is written by one short-lived
// goroutine while the loop goes on; that goroutine only moves bytes to the
// LogStore and reports the result to the loop. Other goroutines talk to
// the loop through channels (Propose, ReadIndex, Status, TransferLeader,
// Step) and read what it publishes (Leader, IsLeader, Term, CommitIndex,
// AppliedIndex) without locks.
//
// A peer message the core refuses (consensus.ErrOutOfRange,
// ErrInvalidMessage, ErrProtocolViolation) is counted through
// Hooks.PeerMessageDropped; after an out-of-range value or a protocol
// violation the loop drops every message of that sender for
// Config.QuarantineTicks (quarantine.go), logging once when it starts.
// Nothing a peer sends can stop the node.
//
// It must never interpret entry data or know the application: normal
// entries go to StateMachine.Apply as bytes, and its result goes back to
// the proposer untouched. It must never read the wall clock for anything
// but ticks and write pacing, never block its loop on the network
// (Transport.Send queues), and never import the transport, the state
// machine or the server. Hooks it calls run on the loop and must return
// quickly.
//
// Node:
//
//	state     event                        next      effect
//	created   New                          created   core restored from the store's snapshot and hard state
//	created   Start                        running   the loop runs
//	running   Ready without a snapshot     running   send, apply committed, write in the background, Advance when written
//	running   Ready with a snapshot        running   write, restore the StateMachine, apply, Advance, all on the loop
//	running   proposal's entry applied     running   proposer gets Applied (ErrProposalLost if another term's entry)
//	running   LogStore write fails         failed    loop ends; Err() is the failure; waiters get ErrStopped
//	running   Stop                         stopped   running write waited for; waiters get ErrStopped
//	running   Halt(err)                    failed    loop ends at once, write in flight abandoned; Err() is err
package raftnode
