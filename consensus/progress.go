package consensus

import "fmt"

// progressState is how the leader currently replicates to one follower.
type progressState uint8

const (
	// stateProbe: one MsgApp at a time until the follower's match is found.
	stateProbe progressState = iota
	// stateReplicate: optimistic pipelining within the inflight window.
	stateReplicate
	// stateSnapshot: a snapshot is being sent; no MsgApp until it lands.
	stateSnapshot
)

func (s progressState) String() string {
	switch s {
	case stateProbe:
		return "probe"
	case stateReplicate:
		return "replicate"
	case stateSnapshot:
		return "snapshot"
	}
	return "unknown"
}

// progress is the leader's view of one member (itself included).
type progress struct {
	// Match is the highest index known to be durable on the member; Next is
	// the next index to send. Invariant: Match < Next.
	Match, Next uint64
	State       progressState
	// pendingSnapshot is the index of the snapshot being sent (snapshot
	// state only).
	pendingSnapshot uint64
	// probeSent pauses a probing follower after one MsgApp until it answers
	// or a heartbeat response arrives.
	probeSent bool
	// snapshotSentAt is the leader tick at which the pending snapshot was
	// sent (snapshot state only).
	snapshotSentAt uint64
	// lastActive is the leader tick at which the member last answered.
	lastActive uint64
	// inflights is the window of unacknowledged MsgApp (replicate state
	// only; empty in the others). Invariant: each of its indexes < Next.
	inflights *inflights
	isLearner bool
}

func newProgress(next uint64, maxInflight int, learner bool, now uint64) *progress {
	return &progress{Next: next, inflights: newInflights(maxInflight), isLearner: learner, lastActive: now}
}

func (p *progress) check() {
	if p.Match >= p.Next {
		panic(fmt.Sprintf("consensus: progress match %d >= next %d", p.Match, p.Next))
	}
	p.inflights.checkBelow(p.Next)
}

func (p *progress) resetState(s progressState) {
	p.probeSent = false
	p.pendingSnapshot = 0
	p.State = s
	p.inflights.reset()
}

func (p *progress) becomeProbe() {
	if p.State == stateSnapshot {
		pending := p.pendingSnapshot
		p.resetState(stateProbe)
		p.Next = max(p.Match+1, pending+1)
	} else {
		p.resetState(stateProbe)
		p.Next = p.Match + 1
	}
	p.check()
}

func (p *progress) becomeReplicate() {
	p.resetState(stateReplicate)
	p.Next = p.Match + 1
}

func (p *progress) becomeSnapshot(index uint64) {
	p.resetState(stateSnapshot)
	p.pendingSnapshot = index
}

// maybeUpdate records that the member holds everything up to n; it reports
// whether Match moved.
func (p *progress) maybeUpdate(n uint64) bool {
	updated := false
	if p.Match < n {
		p.Match = n
		updated = true
		p.probeSent = false
	}
	p.Next = max(p.Next, n+1)
	return updated
}

// maybeDecrTo handles a rejected MsgApp at index rejected with the
// follower's hint matchHint; it reports whether Next moved (false for a
// stale rejection).
func (p *progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if p.State == stateReplicate {
		if rejected <= p.Match {
			return false
		}
		p.Next = p.Match + 1
		return true
	}
	if p.Next-1 != rejected {
		return false
	}
	if rejected <= p.Match {
		// The follower no longer holds entries it acknowledged (a lost
		// disk, or a very late duplicate rejection). Lowering Match never
		// moves the commit index back; re-syncing beats probing the same
		// index forever.
		p.Match = min(p.Match, matchHint, rejected-1)
		p.Next = p.Match + 1
		p.probeSent = false
		return true
	}
	p.Next = max(min(rejected, matchHint+1), p.Match+1)
	p.probeSent = false
	return true
}

// optimisticUpdate advances Next past a MsgApp just sent in replicate state.
func (p *progress) optimisticUpdate(last uint64) { p.Next = last + 1 }

// isPaused reports whether the leader should hold back MsgApp to the member.
func (p *progress) isPaused() bool {
	switch p.State {
	case stateProbe:
		return p.probeSent
	case stateReplicate:
		return p.inflights.full()
	default:
		return true
	}
}
