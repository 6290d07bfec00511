package consensus

import "fmt"

// Propose appends data to the leader's log and returns where it will be
// committed if it is: index and term. It is committed (and so appears in
// Ready.CommittedEntries) only if the entry at index still has term then.
// ErrNotLeader on a non-leader, ErrTransferInProgress during a leadership
// transfer, ErrProposalDropped if this leader is leaving the membership
// (its own removal is in the log) or is no longer a member.
func (r *Raft) Propose(data []byte) (index, term uint64, err error) {
	if err := r.checkProposable(); err != nil {
		return 0, 0, err
	}
	defer r.checkInvariants()
	idx := r.appendEntry(Entry{Type: EntryNormal, Data: data})
	// Broadcast at the next Ready, so every proposal taken in one driver
	// turn leaves in one MsgApp per follower instead of one each.
	r.appendPending = true
	return idx, r.term, nil
}

// ProposeConfChange proposes one single-server membership change (Raft
// thesis §4.1). It takes effect when applied (handed out in
// Ready.CommittedEntries). ErrConfChangePending while another is not yet
// applied; ErrUnknownNode or ErrInvalidConfChange for a change that does
// not fit the current membership.
func (r *Raft) ProposeConfChange(cc ConfChange) (index, term uint64, err error) {
	if err := r.checkProposable(); err != nil {
		return 0, 0, err
	}
	if r.pendingConfIndex > r.log.applied {
		return 0, 0, fmt.Errorf("%w: index %d not applied (applied %d)", ErrConfChangePending,
			r.pendingConfIndex, r.log.applied)
	}
	if err := checkConfChange(r.conf, cc); err != nil {
		return 0, 0, err
	}
	defer r.checkInvariants()
	idx := r.appendEntry(Entry{Type: EntryConfChange, Data: EncodeConfChange(cc)})
	r.pendingConfIndex = idx
	r.removingSelf = cc.Type == ConfRemove && cc.Node == r.id
	r.logger.Info("proposed conf change", "type", cc.Type, "node", string(cc.Node), "index", idx)
	r.bcastAppend()
	return idx, r.term, nil
}

func (r *Raft) checkProposable() error {
	switch {
	case r.role != Leader:
		return ErrNotLeader
	case r.leadTransferee != None:
		return fmt.Errorf("%w: to %s", ErrTransferInProgress, r.leadTransferee)
	case !r.conf.IsMember(r.id):
		return fmt.Errorf("%w: %s is not a member", ErrProposalDropped, r.id)
	case r.removingSelf:
		return fmt.Errorf("%w: leader %s is removing itself", ErrProposalDropped, r.id)
	}
	return nil
}

// TransferLeader hands leadership to the voter to (Raft thesis §3.10): the
// leader brings it up to date, then sends MsgTimeoutNow; proposals are
// refused meanwhile, and the transfer aborts after an election timeout.
// ErrNotLeader on a non-leader, ErrUnknownNode if to is not a voter; a
// transfer to self is a no-op.
func (r *Raft) TransferLeader(to NodeID) error {
	if r.role != Leader {
		return ErrNotLeader
	}
	if to == r.id {
		return nil
	}
	if !isVoter(r.conf, to) {
		return fmt.Errorf("%w: transfer to %s (not a voter)", ErrUnknownNode, to)
	}
	defer r.checkInvariants()
	if r.leadTransferee == to {
		return nil
	}
	r.leadTransferee = to
	r.electionElapsed = 0
	if r.prs[to].Match == r.log.lastIndex() {
		r.sendTimeoutNow(to)
	} else {
		r.sendAppend(to)
	}
	return nil
}

// ReportUnreachable tells the leader that the transport could not reach id:
// a pipelining follower drops back to probing.
func (r *Raft) ReportUnreachable(id NodeID) {
	if r.role != Leader {
		return
	}
	if pr := r.prs[id]; pr != nil && pr.State == stateReplicate && id != r.id {
		pr.becomeProbe()
	}
}

// ReportSnapshot tells the leader that sending a MsgSnap to id finished
// (failed false) or failed. Either way the follower goes back to probing;
// after a success it probes from past the snapshot. A snapshot that is
// neither acknowledged nor reported within an election timeout while the
// follower answers heartbeats is presumed lost and sent again.
func (r *Raft) ReportSnapshot(id NodeID, failed bool) {
	if r.role != Leader {
		return
	}
	pr := r.prs[id]
	if pr == nil || pr.State != stateSnapshot {
		return
	}
	if failed {
		pr.pendingSnapshot = 0
	}
	pr.becomeProbe()
	// Wait for a heartbeat answer before probing again.
	pr.probeSent = true
	r.checkInvariants()
}
