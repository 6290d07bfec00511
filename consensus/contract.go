package consensus

import (
	"fmt"
	"slices"
)

// The call order of the Ready contract (see Ready) that the core can see,
// checked on every call it concerns. A broken order is a bug in the driver,
// and the core panics, as it does on its own broken invariants: carrying
// on would let a message leave, or an entry count as applied, before the
// contract allows.
//
// What the core cannot see it cannot check: that the caller persisted a
// Ready before Advance, sent what it was given, or applied the committed
// entries it handed out (by Ready or TakeCommitted) before its next call
// into the core. Those stay the caller's side of the contract.

// misuse panics with a description of the driver's mistake.
func misuse(format string, args ...any) {
	panic(fmt.Sprintf("consensus: misuse of the Ready contract: "+format, args...))
}

// checkNoReadyOutstanding is Ready's precondition: the previous Ready has
// been passed to Advance. A second Ready before that would also hide the
// first one's unpersisted term and vote from TakeEarlyMessages and
// CanDeferWrite, which would then let messages leave before the vote that
// elected this leader is durable.
func (r *Raft) checkNoReadyOutstanding() {
	if r.outstanding != 0 {
		misuse("Ready called while Ready #%d has not been advanced", r.outstanding)
	}
}

// checkAdvancing is Advance's precondition: rd is the Ready handed out
// last, and not advanced yet. Advancing any other Ready (an older one
// again, or one the caller built, say around TakeCommitted's entries,
// which need no Advance) would tell the core that writes still running are
// durable.
func (r *Raft) checkAdvancing(rd Ready) {
	switch {
	case rd.seq == 0:
		misuse("Advance of a Ready that Ready did not hand out")
	case r.outstanding == 0:
		misuse("Advance of Ready #%d, which was already advanced", rd.seq)
	case rd.seq != r.outstanding:
		misuse("Advance of Ready #%d while Ready #%d is the one outstanding", rd.seq, r.outstanding)
	}
}

// checkTakenBeforeDefer is CanDeferWrite's precondition: the caller has
// just taken what TakeEarlyMessages and TakeCommitted hand out, since
// whatever it leaves there waits as long as the write is put off: new
// entries would not reach the followers, so nothing could commit without
// the deferred write; committed entries would not be applied. Checked on
// each call, so also while the caller keeps deferring.
func (r *Raft) checkTakenBeforeDefer() {
	if r.earlyPending() {
		misuse("CanDeferWrite before TakeEarlyMessages: replication messages are waiting to be taken")
	}
	if ents := r.takeableCommitted(1); len(ents) > 0 {
		misuse("CanDeferWrite before TakeCommitted: committed entry %d is waiting to be taken", ents[0].Index)
	}
}

// mayTakeEarly reports whether a leader's replication messages may leave
// ahead of the next Ready: it leads, and its term and vote are durable
// (handed out in a Ready that has been advanced).
func (r *Raft) mayTakeEarly() bool {
	if r.role != Leader || r.termVoteSyncing {
		return false
	}
	hs := r.hardState()
	return hs.Term == r.prevHard.Term && hs.Vote == r.prevHard.Vote
}

// earlyPending reports whether TakeEarlyMessages would have something to
// do: a broadcast of new proposals, or replication messages to hand out.
func (r *Raft) earlyPending() bool {
	return r.mayTakeEarly() && (r.appendPending || slices.ContainsFunc(r.msgs, isReplication))
}

// takeableCommitted returns up to n of the entries TakeCommitted would
// hand out: committed, not handed out, not behind a pending snapshot, and
// stopping before the first conf change.
func (r *Raft) takeableCommitted(n uint64) []Entry {
	l := r.log
	if l.unstable.snapshot != nil {
		return nil
	}
	lo := max(l.applying+1, l.firstIndex())
	hi := l.committed
	if n != noLimit {
		hi = min(hi, lo+n-1)
	}
	if hi < lo {
		return nil
	}
	ents, err := l.slice(lo, hi+1, noLimit)
	if err != nil {
		panic(fmt.Sprintf("consensus: committed entries [%d,%d]: %v", lo, hi, err))
	}
	for i, e := range ents {
		if e.Type == EntryConfChange {
			return ents[:i]
		}
	}
	return ents
}
