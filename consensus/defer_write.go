package consensus

// CanDeferWrite reports whether a leader may put off taking its next Ready
// for a while, so that its own log write, when it comes, carries more
// entries: a leader's write is one fsync however many entries it holds.
//
// It may when nothing but its own write would wait: it leads, with its
// term and vote durable; the pending Ready holds only new entries to
// write, a higher commit index and what TakeEarlyMessages and
// TakeCommitted hand out meanwhile (so the caller calls both first, and
// must keep calling them while it defers); and its followers alone make a
// quorum that keeps up, so that entries commit without the leader's
// write. Reads, role changes, membership changes, leadership transfers
// and snapshots are never put off.
//
// A follower keeps up if it is replicating and answered within the last
// election timeout. A follower that is gone stops counting after that
// timeout; one that answers, but slowly, keeps counting, and commits may
// then wait for the leader's deferred write. The caller's bound on the
// deferral bounds that cost.
//
// Deferring is always safe: it only makes the leader's own copy of the
// entries durable later; an entry still commits only once a quorum has
// it. The caller bounds how long it defers.
//
// It panics if TakeEarlyMessages or TakeCommitted would still hand out
// something: the caller did not call them first (see contract.go).
func (r *Raft) CanDeferWrite() bool {
	r.checkTakenBeforeDefer()
	if !r.mayTakeEarly() || r.leadTransferee != None {
		return false
	}
	if r.softState() != r.prevSoft {
		return false
	}
	if r.log.unstable.snapshot != nil || r.log.hasNextCommitted() || len(r.msgs) > 0 ||
		len(r.readStates) > 0 || len(r.droppedReads) > 0 || r.confChanged || r.appendPending {
		return false
	}
	return r.followersKeepUp()
}

// followersKeepUp reports whether the voters other than this leader make a
// quorum of members that keep up (see CanDeferWrite).
func (r *Raft) followersKeepUp() bool {
	n := 0
	for _, id := range r.conf.Voters {
		if id == r.id {
			continue
		}
		pr := r.prs[id]
		if pr != nil && r.recentlyActive(id, pr) && pr.State == stateReplicate {
			n++
		}
	}
	return n > len(r.conf.Voters)/2
}
