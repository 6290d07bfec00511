package consensus

import (
	"bytes"
	"fmt"
)

// Step feeds one message from a peer into the state machine. Terms are
// checked here, once; the role's step function handles the rest. Malformed
// messages return ErrInvalidMessage, terms and indexes past MaxTerm and
// MaxIndex ErrOutOfRange, and messages that contradict what Raft
// guarantees ErrProtocolViolation; after any error nothing has changed.
// Stale messages are ignored.
func (r *Raft) Step(m Message) error {
	if err := validateMessage(m); err != nil {
		return err
	}
	if err := r.checkViolation(m); err != nil {
		r.logger.Warn("refusing a message that breaks the protocol", "type", m.Type.String(),
			"from", string(m.From), "term", m.Term, "error", err)
		return err
	}
	defer r.checkInvariants()
	switch {
	case m.Term > r.term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			force := bytes.Equal(m.Context, campaignTransfer)
			inLease := r.cfg.CheckQuorum && r.lead != None && r.electionElapsed < r.cfg.ElectionTick
			if !force && inLease {
				// A live leader was heard within the election timeout: the
				// candidate is probably partitioned or removed (thesis §4.2.3).
				r.logger.Debug("ignoring vote request in leader lease", "type", m.Type.String(),
					"from", string(m.From), "term", m.Term)
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// A pre-vote never changes our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// Granted pre-votes carry the future term; we bump it when we
			// win the pre-election.
		default:
			if isReplication(m) { // only a leader sends these
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.term:
		if m.Type == MsgHeartbeat || m.Type == MsgApp {
			// Reply with our term so a stale leader steps down (Figure 2:
			// "reply false if term < currentTerm"); with pre-vote and
			// check-quorum it would otherwise never learn it (thesis §9.6).
			r.send(Message{To: m.From, Type: MsgAppResp})
		} else if m.Type == MsgPreVote {
			r.send(Message{To: m.From, Type: MsgPreVoteResp, Term: r.term, Reject: true})
		}
		return nil
	}

	switch m.Type {
	case MsgVote, MsgPreVote:
		r.handleVoteRequest(m)
		return nil
	default:
		return r.step(r, m)
	}
}

func validateMessage(m Message) error {
	if m.Type < MsgApp || m.Type > MsgReadIndexResp {
		return fmt.Errorf("%w: unknown type %d", ErrInvalidMessage, m.Type)
	}
	if m.From == None {
		return fmt.Errorf("%w: %s without sender", ErrInvalidMessage, m.Type)
	}
	if m.Term == 0 {
		return fmt.Errorf("%w: %s without term", ErrInvalidMessage, m.Type)
	}
	if m.Type == MsgSnap && m.Snapshot.IsEmpty() {
		return fmt.Errorf("%w: MsgSnap without snapshot", ErrInvalidMessage)
	}
	if err := checkRange(m); err != nil {
		return err
	}
	return checkShape(m)
}

// handleVoteRequest answers MsgVote and MsgPreVote (Raft §5.2, §5.4.1).
func (r *Raft) handleVoteRequest(m Message) {
	respType := MsgVoteResp
	if m.Type == MsgPreVote {
		respType = MsgPreVoteResp
	}
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {
		r.send(Message{To: m.From, Type: respType, Term: m.Term})
		if m.Type == MsgVote {
			r.electionElapsed = 0
			r.vote = m.From
		}
		return
	}
	r.send(Message{To: m.From, Type: respType, Term: r.term, Reject: true})
}

// hup starts an election if this node may.
func (r *Raft) hup(t campaignType) {
	if r.role == Leader {
		return
	}
	if !r.promotable() {
		r.logger.Debug("not campaigning: not a voter")
		return
	}
	if r.hasUnappliedConfChange() {
		r.logger.Debug("not campaigning: committed conf change not yet applied")
		return
	}
	r.campaign(t)
}

func (r *Raft) hasUnappliedConfChange() bool {
	if r.log.committed <= r.log.applied {
		return false
	}
	lo := max(r.log.applied+1, r.log.firstIndex())
	ents, err := r.log.slice(lo, r.log.committed+1, noLimit)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Type == EntryConfChange {
			return true
		}
	}
	return false
}

func (r *Raft) campaign(t campaignType) {
	var term uint64
	var voteMsg MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg, term = MsgPreVote, r.term+1
		// Our own pre-vote needs nothing persisted.
		if r.poll(r.id, true) == voteWon {
			r.campaign(campaignElection)
			return
		}
	} else {
		r.becomeCandidate()
		voteMsg, term = MsgVote, r.term
		// Our own vote counts once the Ready holding it is persisted
		// (see Advance).
	}
	var ctx []byte
	if t == campaignTransferType {
		ctx = campaignTransfer
	}
	for _, id := range r.conf.Voters {
		if id == r.id {
			continue
		}
		r.send(Message{To: id, Type: voteMsg, Term: term, Index: r.log.lastIndex(),
			LogTerm: r.log.lastTerm(), Context: ctx})
	}
	r.logger.Debug("campaigning", "type", voteMsg.String(), "term", term)
}

type voteResult uint8

const (
	votePending voteResult = iota
	voteWon
	voteLost
)

// poll records a (pre)vote answer and tallies the voters.
func (r *Raft) poll(id NodeID, granted bool) voteResult {
	if _, ok := r.votes[id]; !ok {
		r.votes[id] = granted
	}
	yes, no := 0, 0
	for _, v := range r.conf.Voters {
		g, ok := r.votes[v]
		switch {
		case !ok:
		case g:
			yes++
		default:
			no++
		}
	}
	q := len(r.conf.Voters)/2 + 1
	switch {
	case yes >= q:
		return voteWon
	case no > len(r.conf.Voters)-q:
		return voteLost
	}
	return votePending
}

func stepFollower(r *Raft, m Message) error {
	switch m.Type {
	case MsgApp:
		r.electionElapsed = 0
		r.setLead(m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.setLead(m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.setLead(m.From)
		r.handleSnapshot(m)
	case MsgTimeoutNow:
		r.logger.Info("campaigning for leadership transfer", "term", r.term, "from", string(m.From))
		r.hup(campaignTransferType)
	case MsgReadIndexResp:
		r.handleReadIndexResp(m)
	}
	return nil
}

// wonElection moves a (pre)candidate that won its vote on: to a real
// election, or to leadership — unless it applied its own removal during the
// campaign, in which case it stands down (a removed node never leads).
func (r *Raft) wonElection() {
	switch {
	case !r.promotable():
		r.logger.Info("won an election after being removed; standing down", "term", r.term)
		r.becomeFollower(r.term, None)
	case r.role == PreCandidate:
		r.campaign(campaignElection)
	default:
		r.becomeLeader()
		r.bcastAppend()
	}
}

func stepCandidate(r *Raft, m Message) error {
	respType := MsgVoteResp
	if r.role == PreCandidate {
		respType = MsgPreVoteResp
	}
	switch m.Type {
	case MsgApp:
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case respType:
		switch r.poll(m.From, !m.Reject) {
		case voteWon:
			r.wonElection()
		case voteLost:
			r.becomeFollower(r.term, None)
		}
	}
	return nil
}

// handleAppendEntries is the follower side of AppendEntries (Raft §5.3),
// answering a mismatch with a conflict hint (thesis §5.3 optimisation).
func (r *Raft) handleAppendEntries(m Message) {
	if m.Index < r.log.committed {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	if last, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: last})
		return
	}
	hint := min(m.Index, r.log.lastIndex())
	hint, hintTerm := r.log.findConflictByTerm(hint, m.LogTerm)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true,
		RejectHint: hint, RejectTerm: hintTerm})
}

func (r *Raft) handleHeartbeat(m Message) {
	if m.Commit > r.log.committed && m.Commit <= r.log.lastIndex() {
		r.log.commitTo(m.Commit)
	}
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Context: m.Context})
}

// handleSnapshot installs a leader's snapshot if it is ahead of our commit
// (Raft §7).
func (r *Raft) handleSnapshot(m Message) {
	s := *m.Snapshot
	if r.restore(s) {
		r.logger.Info("restored snapshot", "index", s.Meta.Index, "term", s.Meta.Term)
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.lastIndex()})
		return
	}
	r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
}

func (r *Raft) restore(s Snapshot) bool {
	if s.Meta.Index <= r.log.committed {
		return false
	}
	if r.log.matchTerm(s.Meta.Index, s.Meta.Term) {
		// We already hold the snapshot's last entry: fast-forward commit.
		r.log.commitTo(s.Meta.Index)
		return false
	}
	s.Meta.Conf = cloneConfState(s.Meta.Conf)
	r.log.restore(s)
	r.conf = cloneConfState(s.Meta.Conf)
	r.syncProgress()
	r.confChanged = true
	return true
}
