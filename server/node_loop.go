package server

import (
	"fmt"
	"time"

	"github.com/lockd/lockd/consensus"
)

// run is the one goroutine that owns the core.
func (n *Node) run() {
	defer close(n.donec)
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	defer n.failPending(ErrStopped)
	for {
		select {
		case <-ticker.C:
			n.raft.Tick()
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.propose1(p)
		case r := <-n.readc:
			n.read1(r)
		case f := <-n.ctrlc:
			f(n.raft)
		case <-n.stopc:
			return
		}
		n.drain()
		// Advance can make more ready at once (the leader counting its own
		// fsync commits entries), so keep going until nothing is left.
		for n.raft.HasReady() {
			if err := n.handleReady(); err != nil {
				n.err.Store(err)
				n.log.Error("node stopped: storage failed", "error", err)
				return
			}
			n.drain()
		}
	}
}

// drain takes, without blocking, what else has arrived, so one Ready (one
// fsync) carries it all.
func (n *Node) drain() {
	for i := 0; i < n.cfg.MaxBatch; i++ {
		select {
		case m := <-n.recvc:
			n.step(m)
		case p := <-n.propc:
			n.propose1(p)
		case r := <-n.readc:
			n.read1(r)
		case f := <-n.ctrlc:
			f(n.raft)
		default:
			return
		}
	}
}

func (n *Node) step(m consensus.Message) {
	if err := n.raft.Step(m); err != nil {
		n.log.Debug("step rejected message", "type", m.Type.String(), "from", m.From, "error", err)
	}
}

func (n *Node) propose1(p *proposal) {
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

func (n *Node) read1(r *readRequest) {
	n.nextRead++
	r.id = n.nextRead
	if err := n.raft.ReadIndex(r.id); err != nil {
		r.done <- err
		return
	}
	n.reads[r.id] = r
}

// handleReady persists, sends, applies and advances, in the order the Ready
// contract requires (see consensus.Ready).
func (n *Node) handleReady() error {
	rd := n.raft.Ready()
	if !rd.HardState.IsEmpty() {
		n.term.Store(rd.HardState.Term) // published for status and logs
	}
	if rd.SoftState != nil {
		n.publishLeader(rd.SoftState)
	}
	n.tr.Send(rd.MessagesBeforePersist())
	// Committed entries are durable on a quorum already, so without a
	// snapshot to install first they are applied (and proposers answered)
	// before this node's own fsync of the new entries, not after it.
	installSnap := !rd.Snapshot.IsEmpty()
	if !installSnap {
		n.applyAll(rd)
	}
	if err := n.persist(rd); err != nil {
		return err
	}
	if installSnap {
		if err := n.sm.Restore(rd.Snapshot.Data); err != nil {
			return fmt.Errorf("server: restore snapshot at %d: %w", rd.Snapshot.Meta.Index, err)
		}
		n.applied = rd.Snapshot.Meta.Index
		n.snapIndex = rd.Snapshot.Meta.Index
		n.setConf(rd.Snapshot.Meta.Conf)
		n.failWaitersUpTo(n.applied)
	}
	n.tr.Send(rd.MessagesAfterPersist())
	if installSnap {
		n.applyAll(rd)
	}
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

// persist writes what the Ready must make durable in one synced write. A
// Ready whose only change is a higher commit index needs no fsync (the
// commit index can be learned again from the leader), so its hard state is
// kept and written with the next write that must sync.
func (n *Node) persist(rd consensus.Ready) error {
	if !rd.HardState.IsEmpty() {
		n.hs = rd.HardState
	}
	if !rd.MustSync && len(rd.Entries) == 0 && rd.Snapshot.IsEmpty() {
		n.hsDirty = n.hsDirty || !rd.HardState.IsEmpty()
		return nil
	}
	hs := rd.HardState
	if hs.IsEmpty() && n.hsDirty {
		hs = n.hs
	}
	return n.save(hs, rd.Entries, rd.Snapshot)
}

func (n *Node) save(hs consensus.HardState, ents []consensus.Entry, snap *consensus.Snapshot) error {
	start := time.Now()
	if err := n.store.Save(hs, ents, snap); err != nil {
		return fmt.Errorf("server: wal save: %w", err)
	}
	if !hs.IsEmpty() {
		n.hsDirty = false
	}
	if n.hooks.Fsync != nil {
		n.hooks.Fsync(time.Since(start))
	}
	return nil
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
	// The snapshot's index must not be above the stored commit index.
	if n.hsDirty {
		if err := n.save(n.hs, nil, nil); err != nil {
			return err
		}
	}
	data, err := n.sm.Snapshot()
	if err != nil {
		return fmt.Errorf("server: state machine snapshot: %w", err)
	}
	if _, err := n.store.CreateSnapshot(n.applied, n.conf, data); err != nil {
		return fmt.Errorf("server: create snapshot at %d: %w", n.applied, err)
	}
	if err := n.store.Compact(n.applied); err != nil {
		return fmt.Errorf("server: compact to %d: %w", n.applied, err)
	}
	n.log.Debug("snapshot taken", "index", n.applied, "bytes", len(data))
	n.snapIndex = n.applied
	return nil
}
