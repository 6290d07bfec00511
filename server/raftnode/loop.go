package raftnode

import (
	"fmt"
	"time"

	"github.com/lockd/lockd/consensus"
)

// run is the one goroutine that owns the core.
//
// A Ready that needs a synced write is written by a goroutine of its own
// (see handleReady) while the loop goes on stepping messages, ticks,
// proposals and reads into the core, sends a leader's new MsgApps at once
// (consensus.Raft.TakeEarlyMessages) and applies what commits meanwhile
// (consensus.Raft.TakeCommitted): a leader need not wait for its own fsync
// to replicate a new proposal, nor to answer a write its followers have
// acknowledged. The next Ready is taken once the write is done.
func (n *Node) run() {
	defer close(n.donec)
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	n.hold = time.NewTimer(time.Hour)
	n.hold.Stop()
	defer n.hold.Stop()
	defer n.failPending(ErrStopped)
	for {
		var synced <-chan error
		if n.sync != nil {
			synced = n.sync.done
		}
		select {
		case <-ticker.C:
			n.raft.Tick()
			n.quar.tick()
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.startProposal(p)
		case r := <-n.readc:
			n.startReadIndex(r)
		case f := <-n.ctrlc:
			f(n.raft)
		case <-n.hold.C:
			n.holding = false
		case err := <-synced:
			if err = n.finishSync(err); err != nil {
				n.fail(err)
				return
			}
		case <-n.stopc:
			n.waitSync()
			return
		case <-n.haltc:
			n.err.Store(n.haltErr)
			n.isLeader.Store(false)
			n.leader.Store(consensus.None)
			n.log.Error("node halted: its log stopped answering", "error", n.haltErr)
			return
		}
		n.drain()
		if err := n.advance(); err != nil {
			n.fail(err)
			return
		}
	}
}

// fail records the storage failure that stops the node.
func (n *Node) fail(err error) {
	n.waitSync()
	n.err.Store(err)
	n.log.Error("node stopped: storage failed", "error", err)
}

// waitSync waits for a write still running, so that nothing touches the
// store after run returns.
func (n *Node) waitSync() {
	if n.sync != nil {
		<-n.sync.done
	}
}

// advance moves the Ready cycle along: while a write runs it sends the
// leader's new replication messages (so followers write new entries while
// the leader still writes older ones) and applies what has committed
// meanwhile; otherwise it handles Readys until none is left or one is
// being written. Handling a Ready can make more ready at once (the leader
// counting its own fsync commits entries), hence the loop.
func (n *Node) advance() error {
	for {
		if n.sync != nil {
			n.tr.Send(n.raft.TakeEarlyMessages())
			n.takeCommitted()
			return nil
		}
		if !n.raft.HasReady() || n.deferWrite() {
			return nil
		}
		if err := n.handleReady(); err != nil {
			return err
		}
		n.drain()
	}
}

// deferWrite reports whether a leader puts off its next Ready, which is
// then taken when the hold timer fires or when something that cannot wait
// arrives first (see consensus.Raft.CanDeferWrite). Meanwhile it sends new
// replication messages and applies what commits, as during a write.
func (n *Node) deferWrite() bool {
	if n.cfg.LeaderWriteDelay <= 0 || !n.isLeader.Load() {
		return false
	}
	wait := n.cfg.LeaderWriteDelay - time.Since(n.lastWrite)
	if wait <= 0 {
		return false
	}
	n.tr.Send(n.raft.TakeEarlyMessages())
	n.takeCommitted()
	if !n.raft.CanDeferWrite() {
		return false
	}
	if !n.holding {
		n.hold.Reset(wait)
		n.holding = true
	}
	return true
}

// drain takes, without blocking, what else has arrived, so one Ready (one
// fsync) carries it all.
func (n *Node) drain() {
	for i := 0; i < n.cfg.MaxBatch; i++ {
		select {
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.startProposal(p)
		case r := <-n.readc:
			n.startReadIndex(r)
		case f := <-n.ctrlc:
			f(n.raft)
		default:
			return
		}
	}
}

// startProposal hands p to the core and keeps it, by its entry's index,
// until that entry applies; a proposal the core refuses is answered now.
func (n *Node) startProposal(p *proposal) {
	var err error
	if p.cc != nil {
		p.index, p.term, err = n.raft.ProposeConfChange(*p.cc)
	} else {
		p.index, p.term, err = n.raft.Propose(p.data)
	}
	if err != nil {
		p.done <- Applied{Err: err}
		return
	}
	n.waiters[p.index] = p
}

// startReadIndex asks the core for a read index under a new request ID
// and keeps r until the core confirms or drops it; a refusal is answered
// now.
func (n *Node) startReadIndex(r *readRequest) {
	n.nextRead++
	r.id = n.nextRead
	if err := n.raft.ReadIndex(r.id); err != nil {
		r.done <- err
		return
	}
	n.reads[r.id] = r
}

// syncing is a Ready whose synced write runs in the background.
type syncing struct {
	rd    consensus.Ready
	hs    consensus.HardState // the hard state being written, or zero
	start time.Time
	done  chan error // receives the write's result, once
}

// handleReady sends, applies, persists and advances, in the order the Ready
// contract requires (see consensus.Ready). Committed entries are durable on
// a quorum already, so without a snapshot to install first they are
// applied (and proposers answered) before this node's own write of the new
// entries. That write runs in the background when it must sync; the Ready
// is finished by finishSync. A Ready with a snapshot is handled whole here.
func (n *Node) handleReady() error {
	rd := n.raft.Ready()
	if !rd.HardState.IsEmpty() {
		n.term.Store(rd.HardState.Term) // published for status and logs
	}
	if rd.SoftState != nil {
		n.publishLeader(rd.SoftState)
	}
	n.tr.Send(rd.MessagesBeforePersist())
	if !rd.Snapshot.IsEmpty() {
		return n.installSnapshot(rd)
	}
	n.applyAll(rd)
	hs, ok := n.toWrite(rd)
	if !ok {
		n.tr.Send(rd.MessagesAfterPersist()) // nothing to wait for
		return n.finishReady(rd)
	}
	s := &syncing{rd: rd, hs: hs, start: time.Now(), done: make(chan error, 1)}
	n.sync = s
	n.lastWrite = s.start
	go func() { s.done <- n.store.Save(hs, rd.Entries, nil) }()
	return nil
}

// installSnapshot persists a Ready carrying a snapshot, restores the state
// machine from it and finishes the Ready, all before anything else.
func (n *Node) installSnapshot(rd consensus.Ready) error {
	start := time.Now()
	hs, _ := n.toWrite(rd)
	if err := n.save(hs, rd.Entries, rd.Snapshot); err != nil {
		return err
	}
	if err := n.sm.Restore(rd.Snapshot.Data); err != nil {
		return fmt.Errorf("raftnode: restore snapshot at %d: %w", rd.Snapshot.Meta.Index, err)
	}
	if n.hooks.Snapshot != nil {
		n.hooks.Snapshot("installed", len(rd.Snapshot.Data), time.Since(start))
	}
	n.applied = rd.Snapshot.Meta.Index
	n.snapIndex = rd.Snapshot.Meta.Index
	n.setConf(rd.Snapshot.Meta.Conf)
	n.failWaitersUpTo(n.applied)
	n.tr.Send(rd.MessagesAfterPersist())
	n.applyAll(rd)
	return n.finishReady(rd)
}

// finishSync completes the Ready whose write has ended with err.
func (n *Node) finishSync(err error) error {
	s := n.sync
	n.sync = nil
	if err != nil {
		return fmt.Errorf("raftnode: wal save: %w", err)
	}
	n.wrote(s.hs, time.Since(s.start))
	n.tr.Send(s.rd.MessagesAfterPersist())
	return n.finishReady(s.rd)
}

// finishReady does what is left of a persisted, sent and applied Ready:
// reads, Advance, and what Advance makes due.
func (n *Node) finishReady(rd consensus.Ready) error {
	for _, rs := range rd.ReadStates {
		if r, ok := n.reads[rs.RequestID]; ok {
			delete(n.reads, rs.RequestID)
			r.index = rs.Index
			n.readWait = append(n.readWait, r)
		}
	}
	for _, id := range rd.DroppedReads {
		if r, ok := n.reads[id]; ok {
			delete(n.reads, id)
			r.done <- ErrReadDropped
		}
	}
	n.raft.Advance(rd)
	n.releaseReads()
	if !rd.HardState.IsEmpty() {
		n.commit.Store(rd.HardState.Commit)
	}
	n.appliedAt.Store(n.applied)
	return n.maybeSnapshot()
}

// takeCommitted applies what has committed while a write runs.
func (n *Node) takeCommitted() {
	ents := n.raft.TakeCommitted()
	if len(ents) == 0 {
		return
	}
	for _, e := range ents {
		n.apply(e)
	}
	n.releaseReads()
	n.appliedAt.Store(n.applied)
}

// toWrite decides what the Ready must make durable: it returns the hard
// state to write (zero if unchanged) and whether a synced write is needed.
// A Ready whose only change is a higher commit index needs no fsync (the
// commit index can be learned again from the leader), so its hard state is
// kept and written with the next write that must sync.
func (n *Node) toWrite(rd consensus.Ready) (consensus.HardState, bool) {
	if !rd.HardState.IsEmpty() {
		n.hs = rd.HardState
	}
	if !rd.MustSync && len(rd.Entries) == 0 && rd.Snapshot.IsEmpty() {
		n.hsDirty = n.hsDirty || !rd.HardState.IsEmpty()
		return consensus.HardState{}, false
	}
	hs := rd.HardState
	if hs.IsEmpty() && n.hsDirty {
		hs = n.hs
	}
	return hs, true
}

// save writes synchronously, on the loop.
func (n *Node) save(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) error {
	start := time.Now()
	if err := n.store.Save(hs, ents, snap); err != nil {
		return fmt.Errorf("raftnode: wal save: %w", err)
	}
	n.wrote(hs, time.Since(start))
	return nil
}

// wrote records a completed synced write of hs that took d.
func (n *Node) wrote(hs consensus.HardState, d time.Duration) {
	if !hs.IsEmpty() {
		n.hsDirty = false
	}
	if n.hooks.Fsync != nil {
		n.hooks.Fsync(d)
	}
}

func (n *Node) applyAll(rd consensus.Ready) {
	for _, e := range rd.CommittedEntries {
		n.apply(e)
	}
	if rd.ConfState != nil {
		n.setConf(*rd.ConfState)
	}
}

func (n *Node) apply(e consensus.Entry) {
	if e.Index <= n.applied {
		return
	}
	var res any
	if e.Type == consensus.EntryNormal {
		res = n.sm.Apply(e.Index, e.Data)
	}
	n.applied = e.Index
	if p, ok := n.waiters[e.Index]; ok {
		delete(n.waiters, e.Index)
		if p.term == e.Term {
			p.done <- Applied{Index: e.Index, Result: res}
		} else {
			p.done <- Applied{Index: e.Index, Err: ErrProposalLost}
		}
	}
}

// failWaitersUpTo fails proposals whose index a snapshot jumped over: the
// entries may have committed, but this node can no longer tell the result.
func (n *Node) failWaitersUpTo(index uint64) {
	for i, p := range n.waiters {
		if i <= index {
			delete(n.waiters, i)
			p.done <- Applied{Index: i, Err: ErrProposalLost}
		}
	}
}

func (n *Node) releaseReads() {
	kept := n.readWait[:0]
	for _, r := range n.readWait {
		if r.index <= n.applied {
			r.done <- nil
		} else {
			kept = append(kept, r)
		}
	}
	n.readWait = kept
}

func (n *Node) failPending(err error) {
	for i, p := range n.waiters {
		delete(n.waiters, i)
		p.done <- Applied{Err: err}
	}
	for id, r := range n.reads {
		delete(n.reads, id)
		r.done <- err
	}
	for _, r := range n.readWait {
		r.done <- err
	}
	n.readWait = nil
}

func (n *Node) setConf(cs consensus.ConfState) {
	n.conf = cs
	n.tr.SetPeers(cs.Addrs)
	if n.hooks.ConfChanged != nil {
		n.hooks.ConfChanged(cs)
	}
}

func (n *Node) publishLeader(ss *consensus.SoftState) {
	term := n.term.Load()
	n.isLeader.Store(ss.Role == consensus.Leader)
	if n.leader.Load().(consensus.NodeID) != ss.Lead {
		n.leader.Store(ss.Lead)
		n.log.Info("leader changed", "leader", ss.Lead, "term", term, "role", ss.Role.String())
		n.leaderMu.Lock()
		close(n.leaderCh)
		n.leaderCh = make(chan struct{})
		n.leaderMu.Unlock()
		if n.hooks.LeaderChanged != nil {
			n.hooks.LeaderChanged(ss.Lead, term, ss.Lead == n.cfg.ID)
		}
	}
}

// maybeSnapshot captures the state machine every SnapshotEntries applied
// entries and compacts the log below it.
func (n *Node) maybeSnapshot() error {
	if n.cfg.SnapshotEntries == 0 || n.applied-n.snapIndex < n.cfg.SnapshotEntries {
		return nil
	}
	if n.applied > n.hs.Commit {
		// Applied during a write (takeCommitted) past the latest commit
		// index handed out: a snapshot there would be beyond the stored
		// commit index. The next Ready raises it.
		return nil
	}
	// The snapshot's index must not be above the stored commit index.
	if n.hsDirty {
		if err := n.save(n.hs, nil, nil); err != nil {
			return err
		}
	}
	start := time.Now()
	data, err := n.sm.Snapshot()
	if err != nil {
		return fmt.Errorf("raftnode: state machine snapshot: %w", err)
	}
	if _, err := n.store.CreateSnapshot(n.applied, n.conf, data); err != nil {
		return fmt.Errorf("raftnode: create snapshot at %d: %w", n.applied, err)
	}
	if err := n.store.Compact(n.applied); err != nil {
		return fmt.Errorf("raftnode: compact to %d: %w", n.applied, err)
	}
	n.log.Debug("snapshot taken", "index", n.applied, "bytes", len(data))
	if n.hooks.Snapshot != nil {
		n.hooks.Snapshot("taken", len(data), time.Since(start))
	}
	n.snapIndex = n.applied
	return nil
}
