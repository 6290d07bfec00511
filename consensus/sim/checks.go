package sim

import (
	"errors"
	"fmt"

	"github.com/lockd/lockd/consensus"
)

var (
	// ErrSafety marks a broken Raft safety property.
	ErrSafety = errors.New("sim: safety violation")
	// ErrLiveness marks a healed cluster that failed to make progress.
	ErrLiveness = errors.New("sim: liveness violation")
	// ErrContract marks the core breaking its API contract: an unexpected
	// error, a panic, a Ready that cannot be persisted, a Ready loop that
	// never settles.
	ErrContract = errors.New("sim: core broke its contract")
	// ErrInvalidOptions marks Options a run cannot use.
	ErrInvalidOptions = errors.New("sim: invalid options")
)

func safetyf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSafety}, args...)...)
}

// entryKey names a log entry by position and term.
type entryKey struct{ index, term uint64 }

// firstSeen remembers which node first showed a fact, for messages.
type firstSeen struct {
	hash uint64
	node consensus.NodeID
}

type commitRec struct {
	known bool
	hash  uint64 // chain hash of the committed log up to this index
	term  uint64 // term of the entry
	in    uint64 // term of the node that first showed it committed
	node  consensus.NodeID
}

type applyRec struct {
	term uint64
	typ  consensus.EntryType
	data string
	hash uint64
	node consensus.NodeID
}

type readRec struct {
	node  consensus.NodeID
	floor uint64 // highest index known committed when the read was issued
	done  bool
}

// checker holds the global history that Raft's safety properties are
// stated over, and checks each new fact against it. It sees only plain
// values, so tests can feed it fabricated histories.
type checker struct {
	leaders   map[uint64]consensus.NodeID // term → the one leader of that term
	entries   map[entryKey]firstSeen      // (index, term) → chain hash, ever persisted anywhere
	committed []commitRec                 // index → the committed log, as first seen
	maxCommit uint64                      // highest index ever seen committed
	applied   []applyRec                  // index → what every node must apply there
	payloads  map[string]uint64           // payload → the index it was applied at
	confs     map[uint64]string           // index → membership after applying up to it
	reads     map[uint64]*readRec         // ReadIndex request id → request
	acked     []ackRec                    // acknowledged proposals, in order
}

type ackRec struct {
	payload string
	index   uint64
}

func newChecker() *checker {
	return &checker{
		leaders:  map[uint64]consensus.NodeID{},
		entries:  map[entryKey]firstSeen{{1, 1}: {bootstrapHash, "bootstrap"}},
		payloads: map[string]uint64{},
		confs:    map[uint64]string{},
		reads:    map[uint64]*readRec{},
	}
}

// onPersist checks entries just made durable on node from index first on:
// an (index, term) pair names one entry with one history everywhere and
// forever (log matching, and leader append-only), and the log up to the
// node's durable commit index is what it was (commitHash, the chain hash
// at commit before the append; rewriting identical entries is allowed).
func (c *checker) onPersist(node consensus.NodeID, log *chainLog, first, commit, commitHash uint64) error {
	if first <= commit {
		if h, _, ok := log.at(commit); !ok || h != commitHash {
			return safetyf("log matching: %s replaced its log from idx=%d, changing entries at or below its commit index %d", node, first, commit)
		}
	}
	for i := first; i <= log.last(); i++ {
		h, t, _ := log.at(i)
		if err := c.recordEntry(node, i, t, h); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) recordEntry(node consensus.NodeID, index, term, hash uint64) error {
	k := entryKey{index, term}
	prev, ok := c.entries[k]
	if !ok {
		c.entries[k] = firstSeen{hash, node}
		return nil
	}
	if prev.hash != hash {
		return safetyf("log matching: %s and %s both hold an entry at idx=%d term=%d but their logs up to it differ", prev.node, node, index, term)
	}
	return nil
}

// onLeaderAppend checks leader append-only: a node that still leads the
// term it was last seen leading never replaces entries of its own log.
func (c *checker) onLeaderAppend(node consensus.NodeID, leading bool, term, first, last uint64) error {
	if leading && first <= last {
		return safetyf("leader append-only: %s, leader of term %d, replaces its log from idx=%d (last %d)", node, term, first, last)
	}
	return nil
}

// onSnapshot checks a snapshot just installed on node: its state must be
// the committed log's state at its index.
func (c *checker) onSnapshot(node consensus.NodeID, index, term, hash uint64) error {
	if err := c.recordEntry(node, index, term, hash); err != nil {
		return err
	}
	if index < uint64(len(c.committed)) && c.committed[index].known && c.committed[index].hash != hash {
		return safetyf("state machine safety: %s installed a snapshot at idx=%d term=%d that differs from the committed log (first committed by %s)", node, index, term, c.committed[index].node)
	}
	return nil
}

// onCommit checks that node's log up to its commit index is the committed
// log, and records commit indexes seen for the first time. nodeTerm is the
// node's current term (for leader completeness: an entry first seen
// committed by a node in term T was committed in a term <= T).
func (c *checker) onCommit(node consensus.NodeID, nodeTerm, commit uint64, log *chainLog) error {
	if commit == 0 {
		return nil
	}
	if commit > log.last() {
		return safetyf("commit: %s has commit index %d beyond its durable last index %d", node, commit, log.last())
	}
	for uint64(len(c.committed)) <= commit {
		c.committed = append(c.committed, commitRec{})
	}
	lo := log.base
	if c.maxCommit+1 > lo {
		lo = c.maxCommit + 1
	}
	for i := lo; i <= commit; i++ {
		h, t, _ := log.at(i)
		c.committed[i] = commitRec{known: true, hash: h, term: t, in: nodeTerm, node: node}
	}
	if commit > c.maxCommit {
		c.maxCommit = commit
	}
	h, t, ok := log.at(commit)
	if rec := c.committed[commit]; ok && rec.known && rec.hash != h {
		return safetyf("committed entry changed: %s has committed idx=%d term=%d, but idx=%d term=%d was committed first (by %s in term %d) with a different log", node, commit, t, commit, rec.term, rec.node, rec.in)
	}
	return nil
}

// onLeader checks election safety (one leader per term, across all history)
// and leader completeness (the new leader holds every entry committed in an
// earlier term).
func (c *checker) onLeader(node consensus.NodeID, term uint64, log *chainLog) error {
	if prev, ok := c.leaders[term]; ok {
		if prev != node {
			return safetyf("election safety: %s and %s are both leader of term %d", prev, node, term)
		}
		return nil
	}
	c.leaders[term] = node
	for i := c.maxCommit; i >= 1 && i < uint64(len(c.committed)); i-- {
		rec := c.committed[i]
		if !rec.known || rec.in >= term {
			continue
		}
		// The newest entry committed before this term; by the chain hash,
		// holding it means holding every entry before it.
		h, _, ok := log.at(i)
		if !ok && i < log.base {
			h, _, _ = log.at(log.base)
			if log.base < uint64(len(c.committed)) && c.committed[log.base].known && c.committed[log.base].hash == h {
				return nil
			}
			return safetyf("leader completeness: %s became leader of term %d from a snapshot at idx=%d that is not the committed log", node, term, log.base)
		}
		if !ok || h != rec.hash {
			return safetyf("leader completeness: %s became leader of term %d without idx=%d term=%d, committed in term %d by %s (its last index is %d)", node, term, i, rec.term, rec.in, rec.node, log.last())
		}
		return nil
	}
	return nil
}

// onApply checks state machine safety: every node applies the same entry at
// each index, each payload at most once, and the node's state hash agrees
// with the committed log.
func (c *checker) onApply(node consensus.NodeID, e *consensus.Entry, hash uint64) error {
	for uint64(len(c.applied)) <= e.Index {
		c.applied = append(c.applied, applyRec{})
	}
	rec := &c.applied[e.Index]
	if rec.node == consensus.None {
		*rec = applyRec{term: e.Term, typ: e.Type, data: string(e.Data), hash: hash, node: node}
		if e.Type == consensus.EntryNormal {
			if at, dup := c.payloads[rec.data]; dup {
				return safetyf("state machine safety: payload %q applied at idx=%d and again at idx=%d (by %s)", rec.data, at, e.Index, node)
			}
			c.payloads[rec.data] = e.Index
		}
	} else if rec.term != e.Term || rec.typ != e.Type || rec.data != string(e.Data) {
		return safetyf("state machine safety: %s applied idx=%d term=%d %q but %s applied idx=%d term=%d %q", node, e.Index, e.Term, shortData(e), rec.node, e.Index, rec.term, shortData(&consensus.Entry{Type: rec.typ, Data: []byte(rec.data)}))
	} else if rec.hash != hash {
		return safetyf("state machine safety: %s and %s applied the same idx=%d but their states before it differ", node, rec.node, e.Index)
	}
	if e.Index < uint64(len(c.committed)) && c.committed[e.Index].known && c.committed[e.Index].hash != hash {
		return safetyf("state machine safety: %s applied idx=%d term=%d which is not the committed entry (idx=%d term=%d first committed by %s)", node, e.Index, e.Term, e.Index, c.committed[e.Index].term, c.committed[e.Index].node)
	}
	return nil
}

// onConf checks that every node has the same membership after applying up
// to index.
func (c *checker) onConf(node consensus.NodeID, index uint64, conf string) error {
	if prev, ok := c.confs[index]; ok && prev != conf {
		return safetyf("membership: %s has %s after idx=%d, another node had %s", node, conf, index, prev)
	}
	c.confs[index] = conf
	return nil
}

// onHardState checks that a node's durable term, vote and commit index
// never move backwards, across crashes and restarts.
func (c *checker) onHardState(node consensus.NodeID, prev, next consensus.HardState, lastIndex uint64) error {
	switch {
	case next.Term < prev.Term:
		return safetyf("hard state: %s persisted term %d after term %d", node, next.Term, prev.Term)
	case next.Term == prev.Term && prev.Vote != consensus.None && next.Vote != prev.Vote:
		return safetyf("hard state: %s changed its vote in term %d from %s to %s", node, next.Term, prev.Vote, next.Vote)
	case next.Commit < prev.Commit:
		return safetyf("hard state: %s persisted commit %d after commit %d", node, next.Commit, prev.Commit)
	case next.Commit > lastIndex:
		return safetyf("hard state: %s persisted commit %d beyond its durable last index %d", node, next.Commit, lastIndex)
	}
	return nil
}

// onReadStart records a ReadIndex request: a read that completes must
// reflect everything committed before it was issued.
func (c *checker) onReadStart(id uint64, node consensus.NodeID) {
	c.reads[id] = &readRec{node: node, floor: c.maxCommit}
}

func (c *checker) onReadDone(node consensus.NodeID, rs consensus.ReadState) error {
	r, ok := c.reads[rs.RequestID]
	if !ok {
		return safetyf("read index: %s completed read %d that was never issued", node, rs.RequestID)
	}
	if rs.Index > c.maxCommit {
		return safetyf("read index: read %d completed on %s at idx=%d, beyond the highest committed index %d", rs.RequestID, node, rs.Index, c.maxCommit)
	}
	if rs.Index < r.floor {
		return safetyf("read index: read %d issued on %s completed on %s at idx=%d, below idx=%d which was committed before the read was issued", rs.RequestID, r.node, node, rs.Index, r.floor)
	}
	r.done = true
	return nil
}

// onAck records a proposal its proposer saw applied under the index and
// term Propose returned: a client would have been told it succeeded.
func (c *checker) onAck(payload string, index uint64) {
	c.acked = append(c.acked, ackRec{payload, index})
}

// checkAcked checks that every acknowledged proposal is in the committed
// log up to commit, at the index it was acknowledged at.
func (c *checker) checkAcked(commit uint64) error {
	for _, a := range c.acked {
		p, idx := a.payload, a.index
		if idx > commit {
			return safetyf("acknowledged proposal %q at idx=%d is beyond the final commit index %d", p, idx, commit)
		}
		if idx >= uint64(len(c.applied)) || c.applied[idx].data != p {
			return safetyf("acknowledged proposal %q at idx=%d is not in the final committed log", p, idx)
		}
	}
	return nil
}

func shortData(e *consensus.Entry) string {
	switch e.Type {
	case consensus.EntryNoop:
		return "noop"
	case consensus.EntryConfChange:
		if cc, err := consensus.DecodeConfChange(e.Data); err == nil {
			return fmt.Sprintf("conf %v %s", cc.Type, cc.Node)
		}
		return "conf ?"
	}
	return string(e.Data)
}
