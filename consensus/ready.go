package consensus

import (
	"fmt"
	"slices"
)

// Ready is everything the core asks the caller to do. The caller handles it
// in this order:
//
//  1. Persist HardState (if not zero), Snapshot (if not nil) and Entries
//     (appending, after truncating any stored suffix at Entries[0].Index),
//     in one synced write when MustSync.
//  2. Send Messages. Only the leader's replication messages (MsgApp,
//     MsgHeartbeat, MsgSnap with From == the leader) may leave before step 1
//     completes, and only when HardState.Term and HardState.Vote did not
//     change in this Ready (MessagesBeforePersist and MessagesAfterPersist
//     make the split); every other message (vote answers, append answers,
//     read-index messages) depends on persisted state and must wait.
//  3. Restore the application from Snapshot, then apply CommittedEntries in
//     order; record ConfState as the applied membership.
//  4. Call Advance(rd) with this Ready, before the next call to Ready.
//
// While step 1 runs (in the background, say), the caller may keep calling
// Step, Tick, Propose and ReadIndex; TakeEarlyMessages, to send a leader's
// new replication messages at once; and, once it has applied this Ready's
// CommittedEntries, TakeCommitted, applying what it returns, in order,
// before its next call into the core. A leader with no Ready outstanding
// may put off the next one while CanDeferWrite says so, calling
// TakeEarlyMessages and TakeCommitted before each CanDeferWrite.
//
// The core panics when the caller breaks the order it can see (see
// contract.go): Ready while a Ready is outstanding, Advance of any Ready
// but the outstanding one, CanDeferWrite with messages or committed
// entries left untaken.
type Ready struct {
	// SoftState is non-nil when the leader or the role changed.
	SoftState *SoftState
	// HardState is zero when unchanged; otherwise persist it.
	HardState HardState
	// Entries are new log entries to persist before the messages that
	// depend on them are sent. Entries[0].Index may be at or below the
	// stored last index: truncate the stored log there first.
	Entries []Entry
	// Snapshot, when non-nil, must be persisted (replacing the log) and
	// restored into the application before CommittedEntries are applied.
	Snapshot *Snapshot
	// CommittedEntries are to be applied in order. They are already
	// durable, or among Entries. Conf changes among them have already
	// taken effect inside the core.
	CommittedEntries []Entry
	// ConfState is non-nil when the membership changed (conf changes in
	// CommittedEntries, or a restored Snapshot): the membership after them.
	// Persist it no later than the applied index that covers those entries,
	// so that a restart (Config.Applied) never starts from an older one.
	ConfState *ConfState
	// Messages to send to peers; see the ordering rule above. Their entry
	// slices share memory with the log and must not be modified.
	Messages []Message
	// ReadStates are completed ReadIndex requests.
	ReadStates []ReadState
	// DroppedReads are ReadIndex request ids that will never complete
	// (leadership lost, leader changed), so the caller can fail them fast.
	DroppedReads []uint64
	// MustSync says the write of step 1 must be synced to disk (term, vote
	// or entries changed).
	MustSync bool

	// persistFirst: HardState changed term or vote, so no message may
	// leave before persisting.
	persistFirst bool
	// seq numbers this Ready among those its core handed out, from 1; 0
	// for a Ready the core did not hand out.
	seq uint64
}

// MessagesBeforePersist returns the messages that may be sent before the
// Ready is persisted: the leader's MsgApp, MsgHeartbeat and MsgSnap, when
// this Ready does not change term or vote (Raft thesis §10.2.1).
func (rd Ready) MessagesBeforePersist() []Message {
	var out []Message
	for _, m := range rd.Messages {
		if rd.earlyOK(m) {
			out = append(out, m)
		}
	}
	return out
}

// MessagesAfterPersist returns the messages that must wait until the
// Ready's HardState, Snapshot and Entries are durable.
func (rd Ready) MessagesAfterPersist() []Message {
	var out []Message
	for _, m := range rd.Messages {
		if !rd.earlyOK(m) {
			out = append(out, m)
		}
	}
	return out
}

func (rd Ready) earlyOK(m Message) bool {
	if rd.persistFirst {
		return false
	}
	return isReplication(m)
}

// isReplication reports whether m is a leader's replication message: only
// a leader sends these, and they may leave before its Ready is persisted.
func isReplication(m Message) bool {
	return m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap
}

// HasReady reports whether Ready would return anything to do.
func (r *Raft) HasReady() bool {
	if r.softState() != r.prevSoft {
		return true
	}
	if hs := r.hardState(); hs != r.prevHard {
		return true
	}
	u := &r.log.unstable
	return len(u.entries) > 0 || u.snapshot != nil || r.log.hasNextCommitted() ||
		len(r.msgs) > 0 || len(r.readStates) > 0 || len(r.droppedReads) > 0 || r.confChanged ||
		r.appendPending
}

// Ready returns the work pending since the last Ready and marks it handed
// out. The caller must pass it to Advance before calling Ready again.
func (r *Raft) Ready() Ready {
	r.checkNoReadyOutstanding()
	defer r.checkInvariants()
	var rd Ready
	// Committed entries first: conf changes among them take effect now,
	// and may change role, messages and dropped reads below.
	if r.log.hasNextCommitted() {
		rd.CommittedEntries = r.log.nextCommitted()
		r.log.applying = rd.CommittedEntries[len(rd.CommittedEntries)-1].Index
		r.applyConfChanges(rd.CommittedEntries)
	}
	if r.confChanged {
		cs := cloneConfState(r.conf)
		rd.ConfState = &cs
		r.confChanged = false
	}
	if r.appendPending {
		r.appendPending = false
		if r.role == Leader {
			r.bcastAppend()
		}
	}
	if u := &r.log.unstable; len(u.entries) > 0 || u.snapshot != nil {
		rd.Entries = slices.Clone(u.entries)
		if u.snapshot != nil {
			s := *u.snapshot
			s.Meta.Conf = cloneConfState(s.Meta.Conf)
			rd.Snapshot = &s
		}
	}
	if ss := r.softState(); ss != r.prevSoft {
		rd.SoftState = &ss
		r.prevSoft = ss
	}
	if hs := r.hardState(); hs != r.prevHard {
		rd.HardState = hs
		rd.persistFirst = hs.Term != r.prevHard.Term || hs.Vote != r.prevHard.Vote
		rd.MustSync = rd.persistFirst
		r.prevHard = hs
	}
	r.termVoteSyncing = rd.persistFirst
	rd.MustSync = rd.MustSync || len(rd.Entries) > 0 || rd.Snapshot != nil
	rd.Messages, r.msgs = r.msgs, nil
	rd.ReadStates, r.readStates = r.readStates, nil
	rd.DroppedReads, r.droppedReads = r.droppedReads, nil
	r.readySeq++
	rd.seq = r.readySeq
	r.outstanding = rd.seq
	return rd
}

// Advance tells the core that rd (from the last Ready) has been persisted
// and its committed entries applied.
func (r *Raft) Advance(rd Ready) {
	r.checkAdvancing(rd)
	defer r.checkInvariants()
	r.outstanding = 0
	r.termVoteSyncing = false
	l := r.log
	if rd.Snapshot != nil {
		idx := rd.Snapshot.Meta.Index
		l.unstable.stableSnapTo(idx)
		l.applied = max(l.applied, idx)
		l.applying = max(l.applying, idx)
	}
	if n := len(rd.Entries); n > 0 {
		last := rd.Entries[n-1]
		l.unstable.stableTo(last.Index, last.Term)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		idx := rd.CommittedEntries[n-1].Index
		if idx > l.applying {
			if !l.unsafeOverwrite {
				panic(fmt.Sprintf("consensus: advancing applied to %d past handed-out %d", idx, l.applying))
			}
			idx = l.applying // negative-control mode rolled the commit back
		}
		l.applied = max(l.applied, idx)
	}
	switch r.role {
	case Leader:
		// The leader counts itself only for what it has persisted.
		if pr := r.prs[r.id]; pr != nil && pr.maybeUpdate(l.stableIndex()) {
			if r.maybeCommit() {
				r.bcastAppend()
			}
		}
	case Candidate:
		// Our own vote counts once the Ready that recorded it is durable.
		if !rd.HardState.IsEmpty() && rd.HardState.Term == r.term && rd.HardState.Vote == r.id {
			switch r.poll(r.id, true) {
			case voteWon:
				r.wonElection()
			case voteLost:
				r.becomeFollower(r.term, None)
			}
		}
	}
}

// TakeCommitted hands out entries committed since the last Ready, for a
// caller whose sync of that Ready is still running (it may Step meanwhile):
// applying them need not wait for the sync. They are durable on a quorum,
// though perhaps not yet on this node (a leader's followers can commit an
// entry the leader is still writing, or has not written yet). Never a conf
// change (those go out with the next Ready, which applies them to the
// membership) nor anything after it, and nothing while a snapshot is
// pending.
//
// The caller must already have applied the outstanding Ready's
// CommittedEntries, and must apply these, in order, before its next call
// into the core: they count as applied at once, and need no Advance (an
// Advance of a Ready built around them panics, see contract.go). The core
// cannot see the application itself; that order is the caller's to keep.
func (r *Raft) TakeCommitted() []Entry {
	defer r.checkInvariants()
	ents := r.takeableCommitted(noLimit)
	if len(ents) == 0 {
		return nil
	}
	l := r.log
	last := ents[len(ents)-1].Index
	l.applying = last
	l.applied = max(l.applied, last)
	return ents
}

// TakeEarlyMessages hands out, for a caller whose sync of the last Ready is
// still running, the leader's replication messages (MsgApp, MsgHeartbeat,
// MsgSnap) produced since, including the broadcast of proposals taken
// meanwhile, which the next Ready would otherwise send: followers can
// start writing new entries while the leader is still writing older ones.
// Like MessagesBeforePersist these may leave before anything is persisted
// (Raft thesis §10.2.1), but only once this leader's term and vote are
// durable: nothing while a Ready that changed them is syncing, and nothing
// unless this node leads. Other messages stay for the next Ready.
func (r *Raft) TakeEarlyMessages() []Message {
	defer r.checkInvariants()
	if !r.mayTakeEarly() {
		return nil
	}
	if r.appendPending {
		r.appendPending = false
		r.bcastAppend()
	}
	var out []Message
	kept := r.msgs[:0]
	for _, m := range r.msgs {
		if isReplication(m) {
			out = append(out, m)
		} else {
			kept = append(kept, m)
		}
	}
	clear(r.msgs[len(kept):])
	r.msgs = kept
	return out
}

// applyConfChanges applies the conf changes among ents (committed, being
// handed out) to the membership. A change that no longer fits (re-applied
// after a restart whose stored membership already includes it) is skipped.
func (r *Raft) applyConfChanges(ents []Entry) {
	for _, e := range ents {
		if e.Type != EntryConfChange {
			continue
		}
		cc, err := DecodeConfChange(e.Data)
		if err != nil {
			r.logger.Error("skipping undecodable committed conf change", "index", e.Index, "error", err)
			continue
		}
		if err := checkConfChange(r.conf, cc); err != nil {
			r.logger.Warn("skipping conf change that does not fit", "index", e.Index, "error", err)
			continue
		}
		r.conf = applyConfChange(r.conf, cc)
		r.confChanged = true
		r.syncProgress()
		r.logger.Info("applied conf change", "index", e.Index, "type", cc.Type, "node", string(cc.Node),
			"voters", fmt.Sprint(r.conf.Voters), "learners", fmt.Sprint(r.conf.Learners))
		if r.role != Leader {
			continue
		}
		if cc.Type == ConfRemove && cc.Node == r.id {
			r.logger.Info("stepping down: removed from the configuration", "term", r.term)
			r.becomeFollower(r.term, None)
			continue
		}
		if r.leadTransferee != None && !isVoter(r.conf, r.leadTransferee) {
			r.leadTransferee = None
		}
		if r.maybeCommit() {
			r.bcastAppend()
		} else if cc.Type == ConfAddLearner {
			r.sendAppend(cc.Node)
		}
	}
}
