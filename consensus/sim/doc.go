// Package sim is the deterministic cluster simulator that checks lockd's
// Raft core (package consensus) for safety and liveness.
//
// One run is one seed. From it a single math/rand/v2 PCG source chooses the
// cluster (3, 5 or 7 voters, heartbeat, pre-vote, check-quorum, message size
// and pipelining window), a fault profile, and then every step: deliver a
// due message (in any order: reordering is the norm), tick the clock, lose,
// duplicate or delay a message in flight, cut links (symmetric split,
// isolation, one-way, bridge), crash a node or restart it, propose, read
// (ReadIndex), change membership (add learner under a fresh id, promote,
// remove — the leader too), transfer leadership, snapshot and compact. Each
// node's Raft gets its own source derived from the world's. Everything runs
// in one goroutine on simulated time, so a seed replays exactly.
//
// The simulated driver follows the Ready contract: the leader's replication
// messages sometimes leave before the sync, then the snapshot, entries and
// hard state are synced into a consensus.MemoryStorage that stands for the
// disk, the other messages are sent, committed entries applied (the
// application is a chain hash of every applied entry, which is what its
// snapshots carry), the membership recorded, and Advance called. In some
// seeds a Ready's sync runs in the background for a while and the node
// keeps receiving messages, ticking and proposing meanwhile (so the leader
// must count itself only for what it has persisted); half the time it then
// applies the syncing Ready and what commits meanwhile (TakeCommitted) before
// the sync ends, as the server's driver does, and snapshots only up to its
// durable commit index. A crash may cut this
// sequence at any point; the Raft object, the application and the unsynced
// part of the Ready are lost, and a restart rebuilds from the durable
// storage alone.
//
// A simulated node's lifecycle:
//
//	state    event                        next     effect
//	up       crash (any point of a Ready)  down     volatile state and unsynced Ready lost
//	down     restart                      up       New from durable storage, app from its snapshot
//	up/down  heal, removed by a ConfRemove retired  shut down for good
//	(none)   ConfAddLearner proposed       up       fresh id, empty storage
//
// After every step the checker (checks.go) verifies: one leader per term
// across all history; log matching and leader append-only (an (index, term)
// pair names one log prefix everywhere, forever); leader completeness;
// state machine safety (every node applies the same entry at each index,
// each payload at most once, snapshots carry the committed state); durable
// term, vote and commit never move backwards; membership agrees at each
// index; every completed ReadIndex is at or above everything committed when
// it was issued. At the end the cluster is healed (links restored, no loss,
// every node up, removed nodes shut down once every remaining node has
// applied their removal): a leader must be elected, a
// proposal made after the heal must commit, every member must catch up, and
// every acknowledged proposal must be in the committed log.
//
// A failure prints the seed, the cluster, the last trace lines
// ("t=123 n2 -> n3 MsgApp term=4 logterm=3 idx=17 ents=3 commit=15", crash,
// restart and partition lines) and the command that replays it:
//
//	go test ./consensus/sim/ -run 'TestSimulation$' -count=1 -v -sim.seeds 1 -sim.seed 1234 -sim.v
//
// Besides random runs, Options.Scenario selects a scripted schedule
// (scenarios.go) with random deliveries and timeouts: Figure8 (the negative
// control, caught when the core commits previous-term entries by counting)
// and PersistRace (a follower acknowledges an entry the leader has not yet
// persisted, then the leader crashes).
//
// -sim.seeds N and -sim.seed S choose the seed range, -sim.steps the length
// of each run, -sim.v prints the (full, for one seed) trace of passing seeds.
//
// The package drives the core only through its public API. It never
// touches a clock, a disk, a socket or global randomness, and it never
// changes the core's behaviour except through Config (the negative control
// sets Config.TestingUnsafeCommitPreviousTerm).
package sim
