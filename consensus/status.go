package consensus

// Progress is the leader's view of one member's replication.
type Progress struct {
	// Match is the highest index known durable on the member.
	Match uint64
	// Next is the next index the leader will send.
	Next uint64
	// State is "probe", "replicate" or "snapshot".
	State string
	// RecentActive reports whether the member answered within the last
	// election timeout.
	RecentActive bool
	// IsLearner reports whether the member is a non-voting learner.
	IsLearner bool
}

// Status is a snapshot of a node's state for operators and tests.
type Status struct {
	ID        NodeID
	Role      Role
	Term      uint64
	Vote      NodeID
	Lead      NodeID
	Commit    uint64
	Applied   uint64
	LastIndex uint64
	ConfState ConfState
	// Progress is set on a leader only: one entry per member, itself
	// included (its Match is what it has persisted).
	Progress map[NodeID]Progress
	// LeadTransferee is the target of a leadership transfer in progress.
	LeadTransferee NodeID
}

// Status returns a copy of the node's current state.
func (r *Raft) Status() Status {
	s := Status{
		ID: r.id, Role: r.role, Term: r.term, Vote: r.vote, Lead: r.lead,
		Commit: r.log.committed, Applied: r.log.applied, LastIndex: r.log.lastIndex(),
		ConfState: cloneConfState(r.conf), LeadTransferee: r.leadTransferee,
	}
	if r.role == Leader {
		s.Progress = make(map[NodeID]Progress, len(r.prs))
		for id, pr := range r.prs {
			s.Progress[id] = Progress{Match: pr.Match, Next: pr.Next, State: pr.State.String(),
				RecentActive: r.recentlyActive(id, pr), IsLearner: pr.isLearner}
		}
	}
	return s
}

// ConfState returns a copy of the membership as currently applied.
func (r *Raft) ConfState() ConfState { return cloneConfState(r.conf) }
