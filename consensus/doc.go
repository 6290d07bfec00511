// Package consensus is lockd's Raft: a deterministic state machine in the
// style of etcd-io/raft, plus (in node.go) the driver loop that connects it to
// a durable log and a transport.
//
// The core, Raft, takes inputs — Step(msg), Tick(), Propose(data),
// ProposeConfChange(cc), ReadIndex(id), TransferLeader(id) — and returns its
// outputs in a Ready: hard state and entries to persist, a snapshot to
// persist, messages to send, committed entries to apply and completed read
// indexes. The caller persists, sends, applies, and calls Advance.
//
// The core must never start a goroutine, read a clock, touch a disk or a
// socket, or use global randomness: time is Tick, randomness is the seeded
// source in Config. It imports nothing else from lockd; the storage and
// transport it needs are interfaces defined here.
package consensus
