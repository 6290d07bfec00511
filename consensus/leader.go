package consensus

import (
	"slices"
)

func stepLeader(r *Raft, m Message) error {
	switch m.Type {
	case MsgReadIndex:
		id, ok := decodeReadID(m.Context)
		if !ok {
			return nil
		}
		r.handleReadIndex(m.From, id)
		return nil
	case MsgApp, MsgHeartbeat, MsgSnap:
		// Another leader in our term would break election safety (§5.2).
		r.logger.Error("leader got a leader message in its own term", "type", m.Type.String(),
			"from", string(m.From), "term", m.Term)
		return nil
	}
	pr := r.prs[m.From]
	if pr == nil || m.From == r.id {
		return nil
	}
	switch m.Type {
	case MsgAppResp:
		r.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		pr.lastActive = r.ticks
		pr.probeSent = false
		if pr.State == stateSnapshot && r.ticks-pr.snapshotSentAt >= uint64(r.cfg.ElectionTick) {
			// The follower is alive but has not acknowledged the snapshot
			// for an election timeout: assume it was lost and start over,
			// even if the caller never reports it (ReportSnapshot).
			pr.pendingSnapshot = 0
			pr.becomeProbe()
		}
		if pr.State == stateReplicate && pr.inflights.full() {
			// Let one more MsgApp through so a lost window recovers.
			pr.inflights.freeFirstOne()
		}
		if pr.Match < r.log.lastIndex() {
			r.sendAppend(m.From)
		}
		if len(m.Context) > 0 {
			r.recvReadAck(m.From, m.Context)
		}
	}
	return nil
}

// bcastAppend sends MsgApp (or MsgSnap) to every member that is not paused.
func (r *Raft) bcastAppend() {
	for _, id := range r.members() {
		if id != r.id {
			r.sendAppend(id)
		}
	}
}

// members lists voters then learners, in a deterministic order.
func (r *Raft) members() []NodeID {
	return append(slices.Clone(r.conf.Voters), r.conf.Learners...)
}

func (r *Raft) sendAppend(to NodeID) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends the entries after the follower's Next, batched up to
// MaxSizePerMsg; in replicate state it pipelines within the inflight window
// (thesis §10.2.1). A follower behind the first index gets the snapshot. It
// reports whether a message was sent.
func (r *Raft) maybeSendAppend(to NodeID, sendIfEmpty bool) bool {
	pr := r.prs[to]
	if pr == nil || pr.isPaused() {
		return false
	}
	prevIndex := pr.Next - 1
	prevTerm, errt := r.log.term(prevIndex)
	var ents []Entry
	var erre error
	if errt == nil {
		ents, erre = r.log.entries(pr.Next, r.cfg.MaxSizePerMsg)
	}
	if errt != nil || erre != nil {
		return r.sendSnapshot(to, pr)
	}
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	r.send(Message{To: to, Type: MsgApp, Index: prevIndex, LogTerm: prevTerm, Entries: ents,
		Commit: r.log.committed})
	switch pr.State {
	case stateReplicate:
		if n := len(ents); n > 0 {
			last := ents[n-1].Index
			pr.optimisticUpdate(last)
			pr.inflights.add(last)
		}
	case stateProbe:
		pr.probeSent = true
	}
	return true
}

func (r *Raft) sendSnapshot(to NodeID, pr *progress) bool {
	if !r.recentlyActive(to, pr) {
		return false
	}
	snap, err := r.log.snapshot()
	if err != nil {
		r.logger.Warn("snapshot unavailable", "to", string(to), "error", err)
		return false
	}
	if snap.IsEmpty() {
		r.logger.Error("follower needs a snapshot but there is none", "to", string(to), "next", pr.Next)
		return false
	}
	pr.becomeSnapshot(snap.Meta.Index)
	pr.snapshotSentAt = r.ticks
	r.logger.Debug("sending snapshot", "to", string(to), "index", snap.Meta.Index)
	r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
	return true
}

func (r *Raft) bcastHeartbeat(ctx []byte) {
	for _, id := range r.members() {
		if id == r.id {
			continue
		}
		pr := r.prs[id]
		r.send(Message{To: id, Type: MsgHeartbeat, Commit: min(pr.Match, r.log.committed), Context: ctx})
	}
}

func (r *Raft) handleAppendResponse(m Message, pr *progress) {
	pr.lastActive = r.ticks
	if m.Reject {
		next := m.RejectHint
		if m.RejectTerm > 0 {
			// Skip the follower's whole divergent term at once.
			next, _ = r.log.findConflictByTerm(m.RejectHint, m.RejectTerm)
		}
		if pr.maybeDecrTo(m.Index, next) {
			if pr.State == stateReplicate {
				pr.becomeProbe()
			}
			r.sendAppend(m.From)
		}
		return
	}
	wasPaused := pr.isPaused()
	if !pr.maybeUpdate(m.Index) && !(pr.Match == m.Index && pr.State == stateProbe) {
		return
	}
	switch {
	case pr.State == stateProbe:
		pr.becomeReplicate()
	case pr.State == stateSnapshot && pr.Match+1 >= r.log.firstIndex():
		pr.becomeProbe()
		pr.becomeReplicate()
	case pr.State == stateReplicate:
		pr.inflights.freeTo(m.Index)
	}
	if r.maybeCommit() {
		r.bcastAppend()
	} else if wasPaused {
		r.sendAppend(m.From)
	}
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.Match == r.log.lastIndex() {
		r.sendTimeoutNow(m.From)
	}
}

// quorumMatch is the highest index held durably by a majority of voters.
func (r *Raft) quorumMatch() uint64 {
	n := len(r.conf.Voters)
	if n == 0 {
		return 0
	}
	matches := make([]uint64, 0, n)
	for _, id := range r.conf.Voters {
		if pr := r.prs[id]; pr != nil {
			matches = append(matches, pr.Match)
		} else {
			matches = append(matches, 0)
		}
	}
	slices.Sort(matches)
	slices.Reverse(matches)
	return matches[n/2]
}

// maybeCommit advances the commit index to what a majority holds, but only
// by counting an entry of the current term (Raft §5.4.2, Figure 8). It
// reports whether the commit index moved.
func (r *Raft) maybeCommit() bool {
	mci := r.quorumMatch()
	var moved bool
	if r.cfg.TestingUnsafeCommitPreviousTerm {
		if mci > r.log.committed {
			r.log.commitTo(mci)
			moved = true
		}
	} else {
		moved = r.log.maybeCommit(mci, r.term)
	}
	if moved {
		r.releaseQueuedReads()
	}
	return moved
}

func (r *Raft) sendTimeoutNow(to NodeID) {
	r.logger.Info("transferring leadership", "to", string(to), "term", r.term)
	r.send(Message{To: to, Type: MsgTimeoutNow})
}

// committedCurrentTerm reports whether the leader has committed an entry of
// its own term (needed before serving reads, thesis §6.4).
func (r *Raft) committedCurrentTerm() bool {
	return r.log.termOr0(r.log.committed) == r.term
}
