package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lockd/lockd/consensus"
)

type nodeState uint8

const (
	nodeUp      nodeState = iota
	nodeDown              // crashed: only durable state remains
	nodeRetired           // removed from the cluster and shut down for good
)

// node is one simulated server: durable storage that survives crashes, and
// the volatile Raft object, application state and client bookkeeping that a
// crash throws away.
type node struct {
	id consensus.NodeID

	// Durable: only what the simulated driver has synced.
	store *consensus.MemoryStorage
	log   *chainLog // the checker's mirror of store's log
	hs    consensus.HardState

	state       nodeState
	incarnation int

	// Volatile, rebuilt on restart.
	raft      *consensus.Raft
	app       appState
	conf      consensus.ConfState // applied membership
	proposals map[uint64]proposal // log index → what this incarnation proposed there
	pending   *pendingReady       // a Ready whose sync is running, if any
	deferred  bool                // its next Ready was put off (CanDeferWrite): new entries not handed out yet
	role      consensus.Role
	term      uint64
	commit    uint64
	touched   bool // stepped during the current simulator step
}

type proposal struct {
	payload string
	term    uint64
}

// appState is the replicated application: the chain hash of every entry
// applied so far, which is what a snapshot carries.
type appState struct {
	index, term, hash uint64
}

func encodeApp(a appState) []byte {
	b := make([]byte, 0, 24)
	b = binary.BigEndian.AppendUint64(b, a.index)
	b = binary.BigEndian.AppendUint64(b, a.term)
	return binary.BigEndian.AppendUint64(b, a.hash)
}

// decodeApp restores the application from a snapshot. The bootstrap
// snapshot carries no data and stands for the empty application at index 1.
func decodeApp(s *consensus.Snapshot) (appState, error) {
	if len(s.Data) == 0 && s.Meta.Index == 1 && s.Meta.Term == 1 {
		return appState{index: 1, term: 1, hash: bootstrapHash}, nil
	}
	if len(s.Data) != 24 {
		return appState{}, fmt.Errorf("snapshot idx=%d term=%d carries %d bytes of application state, want 24", s.Meta.Index, s.Meta.Term, len(s.Data))
	}
	a := appState{
		index: binary.BigEndian.Uint64(s.Data),
		term:  binary.BigEndian.Uint64(s.Data[8:]),
		hash:  binary.BigEndian.Uint64(s.Data[16:]),
	}
	if a.index != s.Meta.Index || a.term != s.Meta.Term {
		return appState{}, fmt.Errorf("snapshot meta idx=%d term=%d carries application state of idx=%d term=%d", s.Meta.Index, s.Meta.Term, a.index, a.term)
	}
	return a, nil
}

func confString(c consensus.ConfState) string {
	v, l := slices.Clone(c.Voters), slices.Clone(c.Learners)
	slices.Sort(v)
	slices.Sort(l)
	return fmt.Sprintf("voters=%v learners=%v", v, l)
}

// crashPoint is where, inside the handling of one Ready, a node may crash.
type crashPoint uint8

const (
	noCrash            crashPoint = iota
	crashBeforePersist            // after the leader's early sends, before the sync
	crashAfterPersist             // synced, nothing else sent
	crashAfterSend                // messages out, nothing applied
	crashAfterApply               // applied, Advance not called
)

var crashPointNames = [...]string{"", "before-persist", "after-persist", "after-send", "after-apply"}

// pendingReady is a Ready whose sync is still running: handed out, the
// leader's early messages perhaps sent, nothing persisted. The node keeps
// stepping meanwhile (the core allows Step between Ready and Advance).
type pendingReady struct {
	rd      consensus.Ready
	after   []consensus.Message // messages still to send once synced
	leading bool                // the node led, in the same term, when this Ready was handed out
	applied bool                // rd was applied early, before its sync (see takeCommitted)
}

// process drives n's Ready loop, as the driver would: hand out a Ready,
// send the leader's messages early or not, persist, send the rest, apply,
// Advance — possibly crashing between any two of these. Some Readys are
// left syncing in the background (finishSync completes them later); while
// one is, the loop stops.
func (w *world) process(n *node) error {
	if n.state != nodeUp {
		return nil
	}
	n.touch(w)
	if n.pending != nil {
		// The driver keeps going while the sync runs: a leader's new
		// replication messages leave at once, and what commits is applied.
		if w.rng.IntN(2) == 0 {
			for _, m := range n.raft.TakeEarlyMessages() {
				w.stats.EarlySent++
				w.sendMsg(n, m)
			}
		}
		if w.rng.IntN(2) == 0 {
			return w.takeCommitted(n)
		}
		return nil
	}
	// A scripted schedule (forceAsync, forceEarly) needs its Readys taken.
	if n.raft.HasReady() && !w.forceAsync && !w.forceEarly && w.rng.IntN(4) == 0 {
		if deferred, err := w.deferWrite(n); deferred || err != nil {
			return err
		}
	}
	for rounds := 0; n.pending == nil && n.raft.HasReady(); rounds++ {
		if rounds == 100 {
			return fmt.Errorf("%w: %s still HasReady after 100 Ready/Advance rounds", ErrContract, n.id)
		}
		p := &pendingReady{rd: n.raft.Ready()}
		n.deferred = false
		p.leading = n.role == consensus.Leader && (p.rd.HardState.IsEmpty() || p.rd.HardState.Term == n.term)
		// The leader's replication messages may leave before the sync
		// (Raft thesis §10.2.1); flip a coin whether this driver does so.
		p.after = p.rd.Messages
		if w.opts.TestingSendBeforePersist {
			for _, m := range p.rd.Messages {
				w.sendMsg(n, m)
			}
			p.after = nil
		} else if w.rng.IntN(2) == 0 || w.forceEarly {
			for _, m := range p.rd.MessagesBeforePersist() {
				w.sendMsg(n, m)
			}
			p.after = p.rd.MessagesAfterPersist()
		}
		if w.rng.Float64() < w.params.asyncSync || w.forceAsync {
			n.pending = p
			return nil
		}
		if err := w.complete(n, p); err != nil || n.state != nodeUp {
			return err
		}
	}
	return nil
}

// deferWrite puts off n's next Ready if the core allows it
// (CanDeferWrite), as the server's driver does for a leader within its
// LeaderWriteDelay: the leader's new replication messages leave and what
// commits is applied, with no Ready outstanding.
func (w *world) deferWrite(n *node) (bool, error) {
	for _, m := range n.raft.TakeEarlyMessages() {
		w.stats.EarlySent++
		w.sendMsg(n, m)
	}
	if ents := n.raft.TakeCommitted(); len(ents) > 0 {
		w.tracef("%s applies idx=%d..%d with its write deferred", n.id, ents[0].Index, ents[len(ents)-1].Index)
		w.stats.EarlyApplied += len(ents)
		if err := w.apply(n, &consensus.Ready{CommittedEntries: ents}); err != nil {
			return false, err
		}
	}
	if !n.raft.CanDeferWrite() {
		return false, nil
	}
	w.stats.DeferredWrites++
	n.deferred = true
	return true, nil
}

// takeCommitted applies, while n's Ready is still syncing, what the core
// hands out early (TakeCommitted), as the server's driver does: first the
// syncing Ready itself (its committed entries are durable on a quorum or
// among its own entries), then the entries committed since.
func (w *world) takeCommitted(n *node) error {
	p := n.pending
	if !p.rd.Snapshot.IsEmpty() {
		return nil // a snapshot must be restored first, after its sync
	}
	if !p.applied && p.rd.ConfState != nil {
		// Applying it would record its membership (SetConfState) before
		// the hard state that commits it is durable: a crash would then
		// restart with a membership ahead of its commit index. The server
		// records membership only in snapshots, which stay within the
		// durable commit; this driver waits for the sync instead.
		return nil
	}
	if !p.applied {
		if err := w.apply(n, &p.rd); err != nil {
			return err
		}
		p.applied = true
	}
	ents := n.raft.TakeCommitted()
	if len(ents) == 0 {
		return nil
	}
	w.tracef("%s applies idx=%d..%d during its sync", n.id, ents[0].Index, ents[len(ents)-1].Index)
	w.stats.EarlyApplied += len(ents)
	return w.apply(n, &consensus.Ready{CommittedEntries: ents})
}

// finishSync completes n's background sync and carries on its Ready loop.
func (w *world) finishSync(n *node) error {
	p := n.pending
	n.pending = nil
	n.touch(w)
	w.stats.BackgroundSyncs++
	if err := w.complete(n, p); err != nil || n.state != nodeUp {
		return err
	}
	return w.process(n)
}

// complete persists a handed-out Ready, sends the rest of its messages,
// applies it and calls Advance, unless a crash cuts it short.
func (w *world) complete(n *node, p *pendingReady) error {
	crash := noCrash
	if w.rng.Float64() < w.prof.crashInReady {
		crash = crashPoint(1 + w.rng.IntN(4))
	}
	if crash == crashBeforePersist {
		w.crash(n, crash)
		return nil
	}
	if err := w.persist(n, p); err != nil {
		return err
	}
	if crash == crashAfterPersist {
		w.crash(n, crash)
		return nil
	}
	for _, m := range p.after {
		w.sendMsg(n, m)
	}
	if crash == crashAfterSend {
		w.crash(n, crash)
		return nil
	}
	if !p.applied {
		if err := w.apply(n, &p.rd); err != nil {
			return err
		}
	}
	if crash == crashAfterApply {
		w.crash(n, crash)
		return nil
	}
	n.raft.Advance(p.rd)
	return nil
}

// view is n's log as the core holds it: the durable log plus the entries
// (and snapshot) of a Ready still syncing.
func (n *node) view() (*chainLog, error) {
	if n.pending == nil {
		return n.log, nil
	}
	v := &chainLog{base: n.log.base, hashes: slices.Clone(n.log.hashes), terms: slices.Clone(n.log.terms)}
	rd := &n.pending.rd
	if !rd.Snapshot.IsEmpty() {
		app, err := decodeApp(rd.Snapshot)
		if err != nil {
			return nil, fmt.Errorf("%w: %s got a bad snapshot: %v", ErrContract, n.id, err)
		}
		v.reset(rd.Snapshot.Meta.Index, rd.Snapshot.Meta.Term, app.hash)
	}
	if _, err := v.append(rd.Entries); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrContract, n.id, err)
	}
	return v, nil
}

func (n *node) touch(w *world) {
	if !n.touched {
		n.touched = true
		w.touched = append(w.touched, n)
	}
}

// persist syncs a Ready's snapshot, entries and hard state into n's durable
// storage, checking each against the history.
func (w *world) persist(n *node, p *pendingReady) error {
	rd := &p.rd
	if !rd.Snapshot.IsEmpty() {
		s := rd.Snapshot
		app, err := decodeApp(s)
		if err != nil {
			return fmt.Errorf("%w: %s got a bad snapshot: %v", ErrContract, n.id, err)
		}
		if err := n.store.ApplySnapshot(*s); err != nil {
			return fmt.Errorf("%w: %s cannot persist snapshot idx=%d: %v", ErrContract, n.id, s.Meta.Index, err)
		}
		n.log.reset(s.Meta.Index, s.Meta.Term, app.hash)
		w.tracef("%s installs snapshot idx=%d term=%d", n.id, s.Meta.Index, s.Meta.Term)
		w.stats.SnapshotsInstalled++
		if err := w.check.onSnapshot(n.id, s.Meta.Index, s.Meta.Term, app.hash); err != nil {
			return err
		}
	}
	if len(rd.Entries) > 0 {
		if err := w.check.onLeaderAppend(n.id, p.leading, n.term, rd.Entries[0].Index, n.log.last()); err != nil {
			return err
		}
		if err := n.store.Append(rd.Entries); err != nil {
			return fmt.Errorf("%w: %s cannot persist entries [%d..%d]: %v", ErrContract, n.id, rd.Entries[0].Index, rd.Entries[len(rd.Entries)-1].Index, err)
		}
		// The durable commit point, if this log still holds it (not below
		// an installed snapshot), and its chain hash before the append.
		commit, commitHash := uint64(0), uint64(0)
		if h, _, ok := n.log.at(n.hs.Commit); ok {
			commit, commitHash = n.hs.Commit, h
		}
		first, err := n.log.append(rd.Entries)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrContract, n.id, err)
		}
		if err := w.check.onPersist(n.id, n.log, first, commit, commitHash); err != nil {
			return err
		}
	}
	if !rd.HardState.IsEmpty() {
		if err := w.check.onHardState(n.id, n.hs, rd.HardState, n.log.last()); err != nil {
			return err
		}
		if err := n.store.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("%w: %s cannot persist hard state: %v", ErrContract, n.id, err)
		}
		n.hs = rd.HardState
		if err := w.check.onCommit(n.id, n.hs.Term, n.hs.Commit, n.log); err != nil {
			return err
		}
	}
	return nil
}

// apply restores a snapshot into the application, applies committed
// entries, and completes reads.
func (w *world) apply(n *node, rd *consensus.Ready) error {
	if !rd.Snapshot.IsEmpty() {
		app, _ := decodeApp(rd.Snapshot) // checked in persist
		n.app = app
		n.conf = copyConf(rd.Snapshot.Meta.Conf)
		if err := w.check.onConf(n.id, app.index, confString(n.conf)); err != nil {
			return err
		}
	}
	for i := range rd.CommittedEntries {
		e := &rd.CommittedEntries[i]
		if e.Index != n.app.index+1 {
			return fmt.Errorf("%w: %s applies idx=%d after idx=%d", ErrContract, n.id, e.Index, n.app.index)
		}
		h := chainHash(n.app.hash, e)
		if err := w.check.onApply(n.id, e, h); err != nil {
			return err
		}
		n.app = appState{index: e.Index, term: e.Term, hash: h}
		if p, ok := n.proposals[e.Index]; ok {
			delete(n.proposals, e.Index)
			if e.Type == consensus.EntryNormal && e.Term == p.term && string(e.Data) == p.payload {
				w.check.onAck(p.payload, e.Index)
				w.stats.Acked++
				if w.probeIndex == 0 && strings.HasPrefix(p.payload, "heal-") {
					w.probeIndex = e.Index
				}
			}
		}
		if e.Type == consensus.EntryConfChange {
			cc, err := consensus.DecodeConfChange(e.Data)
			if err != nil {
				return fmt.Errorf("%w: %s applies an undecodable conf change at idx=%d: %v", ErrContract, n.id, e.Index, err)
			}
			if cc.Type == consensus.ConfRemove && !w.removed[cc.Node] {
				w.removed[cc.Node] = true
				w.stats.Removed++
			}
		}
	}
	if rd.ConfState != nil {
		n.conf = copyConf(*rd.ConfState)
		if err := n.store.SetConfState(n.conf); err != nil {
			return fmt.Errorf("%w: %s cannot persist membership: %v", ErrContract, n.id, err)
		}
		if err := w.check.onConf(n.id, n.app.index, confString(n.conf)); err != nil {
			return err
		}
	}
	for _, rs := range rd.ReadStates {
		if err := w.check.onReadDone(n.id, rs); err != nil {
			return err
		}
		w.stats.ReadsDone++
	}
	return nil
}

// sendMsg puts m on the network.
func (w *world) sendMsg(n *node, m consensus.Message) {
	if w.net.send(w.rng, w.now, n.incarnation, m) == 0 {
		w.tracef("lost %s", fmtMsg(&m))
		w.lostMsg(n.incarnation, &m, false)
	}
}

// crash throws away everything volatile on n.
func (w *world) crash(n *node, at crashPoint) {
	where := ""
	if at != noCrash {
		where = " " + crashPointNames[at]
		w.stats.CrashesInReady++
	}
	w.tracef("crash %s%s (durable term=%d vote=%s commit=%d last=%d)", n.id, where, n.hs.Term, n.hs.Vote, n.hs.Commit, n.log.last())
	n.raft = nil
	n.proposals = nil
	n.pending = nil
	n.deferred = false
	n.state = nodeDown
	w.stats.Crashes++
}

// start boots n from its durable storage.
func (w *world) start(n *node) error {
	snap, err := n.store.Snapshot()
	if err != nil {
		return fmt.Errorf("%w: %s: reading durable snapshot: %v", ErrContract, n.id, err)
	}
	if snap.IsEmpty() {
		n.app = appState{}
	} else if n.app, err = decodeApp(&snap); err != nil {
		return fmt.Errorf("%w: %s: durable snapshot: %v", ErrContract, n.id, err)
	}
	cfg := consensus.DefaultConfig(n.id, n.store)
	cfg.ElectionTick = w.params.electionTick
	cfg.HeartbeatTick = w.params.heartbeatTick
	cfg.PreVote = w.params.preVote
	cfg.CheckQuorum = w.params.checkQuorum
	cfg.MaxSizePerMsg = w.params.maxSizePerMsg
	cfg.MaxInflightMsgs = w.params.maxInflight
	cfg.Applied = snap.Meta.Index
	cfg.TestingUnsafeCommitPreviousTerm = w.opts.UnsafeCommitPreviousTerm
	cfg.Rand = w.childRand()
	r, err := consensus.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %s: New: %v", ErrContract, n.id, err)
	}
	n.raft = r
	n.conf = r.ConfState()
	n.proposals = map[uint64]proposal{}
	n.state = nodeUp
	n.incarnation++
	st := r.Status()
	n.role, n.term, n.commit = st.Role, st.Term, st.Commit
	if n.incarnation > 1 {
		w.tracef("restart %s (term=%d commit=%d applied=%d last=%d)", n.id, st.Term, st.Commit, snap.Meta.Index, n.log.last())
		w.stats.Restarts++
	}
	return w.process(n)
}

// newNode creates a server. Founding members start from the bootstrap
// snapshot; a node added later starts empty and learns from the leader.
func (w *world) newNode(id consensus.NodeID, founding *consensus.ConfState) *node {
	n := &node{id: id, store: consensus.NewMemoryStorage(), state: nodeDown}
	if founding != nil {
		boot := consensus.BootstrapSnapshot(*founding)
		if err := n.store.ApplySnapshot(boot); err != nil {
			panic(fmt.Sprintf("sim: bootstrap %s: %v", id, err))
		}
		n.hs = consensus.HardState{Term: 1}
		if err := n.store.SetHardState(n.hs); err != nil {
			panic(fmt.Sprintf("sim: bootstrap %s: %v", id, err))
		}
		n.log = newChainLog(1, 1, bootstrapHash)
	} else {
		n.log = newChainLog(0, 0, 0)
	}
	w.nodes = append(w.nodes, n)
	w.byID[id] = n
	return n
}

// expected reports whether err is a caller-mistake error the core may
// rightly return to a driver that does not know who leads.
func expected(err error) bool {
	for _, e := range []error{consensus.ErrNotLeader, consensus.ErrNoLeader, consensus.ErrConfChangePending,
		consensus.ErrUnknownNode, consensus.ErrInvalidConfChange, consensus.ErrTransferInProgress,
		consensus.ErrProposalDropped} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errName is a short, stable rendering of an expected error for the trace.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	s := err.Error()
	return strings.TrimPrefix(s, "consensus: ")
}
