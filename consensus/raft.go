package consensus

import (
	"fmt"
	"math/rand/v2"

	"github.com/hashicorp/go-hclog"
)

// campaignTransfer is the Context of a MsgVote sent because of a leadership
// transfer: voters answer it even while they believe a leader is alive.
var campaignTransfer = []byte("campaign-transfer")

type campaignType uint8

const (
	campaignPreElection campaignType = iota
	campaignElection
	campaignTransferType
)

type stepFunc func(r *Raft, m Message) error

// Raft is one node's Raft state machine. It is not safe for concurrent use:
// one goroutine (the driver) calls every method.
type Raft struct {
	id     NodeID
	cfg    Config
	logger hclog.Logger
	rand   *rand.Rand

	// term and vote are the persistent currentTerm and votedFor.
	// Invariant: term never decreases.
	term uint64
	vote NodeID
	log  *raftLog

	// conf is the membership as of the last applied conf change (or
	// snapshot). prs holds one progress per member, self included; only a
	// leader's is meaningful.
	conf ConfState
	prs  map[NodeID]*progress

	role Role
	lead NodeID
	// votes collects (pre)vote answers during a campaign.
	votes map[NodeID]bool

	// leadTransferee is the target of a leadership transfer in progress.
	// Invariant: leadTransferee == None unless role == Leader.
	leadTransferee NodeID
	// pendingConfIndex is the index of the last conf change the leader
	// appended (or its first entry of the term); no new conf change may be
	// proposed until it is applied.
	pendingConfIndex uint64
	// removingSelf: this leader has appended its own removal; it accepts no
	// new proposals (they would outlive its leadership).
	removingSelf bool

	// electionElapsed counts ticks since the last reset: since a valid
	// leader message for followers, since the last campaign for
	// candidates, since the start of a transfer (or the last election
	// timeout) for a leader.
	electionElapsed  int
	heartbeatElapsed int
	// randomizedElectionTimeout is in [ElectionTick, 2*ElectionTick).
	randomizedElectionTimeout int
	// ticks is a monotonic tick counter (the leader's activity clock).
	ticks uint64

	step stepFunc
	tick func()

	reads     readIndexState
	forwarded []uint64 // ReadIndex ids forwarded to the leader, not yet answered

	// Output accumulated for the next Ready.
	msgs         []Message
	readStates   []ReadState
	droppedReads []uint64
	confChanged  bool
	// appendPending: proposals were appended since the last broadcast; the
	// next Ready sends them (batched) to every follower.
	appendPending bool
	prevHard      HardState
	prevSoft      SoftState
	// termVoteSyncing: the Ready handed out last changed term or vote and
	// has not been Advanced, so they may not be durable yet.
	termVoteSyncing bool
	// readySeq is the number of Readys handed out; outstanding is the seq
	// of the one not yet advanced, 0 if none (contract.go).
	// Invariant: outstanding == 0 || outstanding == readySeq, and
	// termVoteSyncing implies outstanding != 0.
	readySeq, outstanding uint64
}

// New restores a node from cfg.Storage: the hard state, the membership and
// the log. A node whose stored membership is empty (a node waiting to be
// added) starts as a follower that never campaigns.
func New(cfg Config) (*Raft, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hs, cs, err := cfg.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("consensus: initial state: %w", err)
	}
	lg, err := newLog(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("consensus: open log: %w", err)
	}
	if hs.Term > MaxTerm || lg.lastIndex() > MaxIndex {
		// Only an older version, which stepped unchecked peer messages,
		// could have written this; refuse it rather than wrap term+1.
		return nil, fmt.Errorf("%w: term %d or last index %d past the bounds (%d, %d)",
			ErrCorruptState, hs.Term, lg.lastIndex(), MaxTerm, MaxIndex)
	}
	if hs.Commit > lg.lastIndex() {
		return nil, fmt.Errorf("%w: commit %d past last index %d", ErrCorruptState, hs.Commit, lg.lastIndex())
	}
	lg.committed = max(lg.committed, hs.Commit)
	if cfg.Applied > lg.committed {
		return nil, fmt.Errorf("%w: applied %d past commit %d", ErrCorruptState, cfg.Applied, lg.committed)
	}
	lg.applied = max(lg.applied, cfg.Applied)
	lg.applying = lg.applied
	lg.unsafeOverwrite = cfg.TestingUnsafeCommitPreviousTerm
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	r := &Raft{
		id:     cfg.ID,
		cfg:    cfg,
		logger: logger.With("id", string(cfg.ID)),
		rand:   cfg.Rand,
		log:    lg,
		conf:   cloneConfState(cs),
		term:   hs.Term,
		vote:   hs.Vote,
	}
	r.syncProgress()
	r.becomeFollower(hs.Term, None)
	r.prevHard = r.hardState()
	r.prevSoft = r.softState()
	r.logger.Debug("restored", "term", r.term, "commit", lg.committed, "applied", lg.applied,
		"last_index", lg.lastIndex(), "voters", fmt.Sprint(r.conf.Voters), "learners", fmt.Sprint(r.conf.Learners))
	return r, nil
}

func (r *Raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

func (r *Raft) softState() SoftState { return SoftState{Lead: r.lead, Role: r.role} }

// promotable reports whether this node may campaign: it is a voter.
func (r *Raft) promotable() bool { return isVoter(r.conf, r.id) }

// syncProgress makes prs hold exactly one progress per member.
func (r *Raft) syncProgress() {
	if r.prs == nil {
		r.prs = map[NodeID]*progress{}
	}
	for id := range r.prs {
		if !r.conf.IsMember(id) {
			delete(r.prs, id)
		}
	}
	add := func(id NodeID, learner bool) {
		if pr, ok := r.prs[id]; ok {
			pr.isLearner = learner
			return
		}
		r.prs[id] = newProgress(r.log.lastIndex()+1, r.cfg.MaxInflightMsgs, learner, r.ticks)
	}
	for _, id := range r.conf.Voters {
		add(id, false)
	}
	for _, id := range r.conf.Learners {
		add(id, true)
	}
}

func (r *Raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.cfg.ElectionTick + r.rand.IntN(r.cfg.ElectionTick)
}

// reset moves to term (clearing the vote if the term changes) and clears
// all per-role state. A leader's pending reads are dropped.
func (r *Raft) reset(term uint64) {
	if term < r.term {
		panic(fmt.Sprintf("consensus: term moving back from %d to %d", r.term, term))
	}
	if r.term != term {
		r.term = term
		r.vote = None
	}
	r.setLead(None)
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.leadTransferee = None
	r.votes = map[NodeID]bool{}
	r.pendingConfIndex = 0
	r.removingSelf = false
	r.dropPendingReads()
	for id, pr := range r.prs {
		*pr = *newProgress(r.log.lastIndex()+1, r.cfg.MaxInflightMsgs, pr.isLearner, r.ticks)
		if id == r.id {
			pr.Match = r.log.stableIndex()
		}
	}
}

// setLead records the known leader; forwarded reads die with the old one.
func (r *Raft) setLead(lead NodeID) {
	if lead != r.lead {
		r.dropForwardedReads()
	}
	r.lead = lead
}

func (r *Raft) becomeFollower(term uint64, lead NodeID) {
	r.reset(term)
	r.step = stepFollower
	r.tick = r.tickElection
	r.setLead(lead)
	r.role = Follower
	r.logger.Debug("became follower", "term", r.term, "lead", string(lead))
}

func (r *Raft) becomePreCandidate() {
	if r.role == Leader {
		panic("consensus: leader cannot become pre-candidate")
	}
	// Pre-vote changes neither term nor vote (Raft thesis §9.6).
	r.step = stepCandidate
	r.tick = r.tickElection
	r.votes = map[NodeID]bool{}
	r.setLead(None)
	r.role = PreCandidate
	r.logger.Debug("became pre-candidate", "term", r.term)
}

func (r *Raft) becomeCandidate() {
	if r.role == Leader {
		panic("consensus: leader cannot become candidate")
	}
	r.reset(r.term + 1)
	r.step = stepCandidate
	r.tick = r.tickElection
	r.vote = r.id
	r.role = Candidate
	r.logger.Debug("became candidate", "term", r.term)
}

func (r *Raft) becomeLeader() {
	if r.role == Follower {
		panic("consensus: follower cannot become leader")
	}
	r.reset(r.term)
	r.step = stepLeader
	r.tick = r.tickHeartbeat
	r.setLead(r.id)
	r.role = Leader
	// The no-op entry of the new term (Raft §8). No conf change may be
	// proposed until it is applied, which also means the leader has
	// committed an entry of its own term (thesis §4.1, the single-server
	// change bug fix).
	if pr := r.prs[r.id]; pr != nil {
		pr.becomeReplicate() // the leader's own log needs no probing
	}
	idx := r.appendEntry(Entry{Type: EntryNoop})
	r.pendingConfIndex = idx
	r.logger.Info("became leader", "term", r.term, "last_index", idx)
}

// appendEntry stamps ents with the leader's term and next indexes, appends
// them (unstable), and returns the last index.
func (r *Raft) appendEntry(ents ...Entry) uint64 {
	li := r.log.lastIndex()
	for i := range ents {
		ents[i].Term = r.term
		ents[i].Index = li + 1 + uint64(i)
	}
	return r.log.append(ents)
}

// send queues m for the next Ready, stamping From and (except for votes and
// their answers, which carry their own) Term.
func (r *Raft) send(m Message) {
	m.From = r.id
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		if m.Term == 0 {
			panic(fmt.Sprintf("consensus: %s without a term", m.Type))
		}
	default:
		m.Term = r.term
	}
	r.msgs = append(r.msgs, m)
}

// Tick advances logical time by one tick.
func (r *Raft) Tick() {
	r.ticks++
	r.tick()
	r.checkInvariants()
}

func (r *Raft) pastElectionTimeout() bool {
	return r.electionElapsed >= r.randomizedElectionTimeout
}

func (r *Raft) tickElection() {
	r.electionElapsed++
	if r.promotable() && r.pastElectionTimeout() {
		r.electionElapsed = 0
		if r.cfg.PreVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	}
}

func (r *Raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.cfg.ElectionTick {
		r.electionElapsed = 0
		if r.leadTransferee != None {
			r.logger.Info("leadership transfer timed out", "to", string(r.leadTransferee), "term", r.term)
			r.leadTransferee = None
		}
	}
	if r.cfg.CheckQuorum && !r.quorumActive() {
		r.logger.Warn("stepping down: no quorum heard within an election timeout", "term", r.term)
		r.becomeFollower(r.term, None)
		return
	}
	if r.heartbeatElapsed >= r.cfg.HeartbeatTick {
		r.heartbeatElapsed = 0
		// Every heartbeat carries the newest pending read round, so a lost
		// round is confirmed by the next one (acks confirm earlier rounds).
		r.bcastHeartbeat(r.lastPendingReadCtx())
	}
}

// recentlyActive reports whether the member answered within the last
// election timeout.
func (r *Raft) recentlyActive(id NodeID, pr *progress) bool {
	return id == r.id || r.ticks-pr.lastActive < uint64(r.cfg.ElectionTick)
}

// quorumActive reports whether a majority of voters answered within the
// last election timeout.
func (r *Raft) quorumActive() bool {
	n := 0
	for _, id := range r.conf.Voters {
		if pr := r.prs[id]; pr != nil && r.recentlyActive(id, pr) {
			n++
		}
	}
	return n > len(r.conf.Voters)/2
}

// checkInvariants panics if the core's own invariants are broken.
func (r *Raft) checkInvariants() {
	l := r.log
	if !(l.applied <= l.applying && l.applying <= l.committed && l.committed <= l.lastIndex()) {
		panic(fmt.Sprintf("consensus: log invariant broken: applied %d applying %d committed %d last %d",
			l.applied, l.applying, l.committed, l.lastIndex()))
	}
	if r.outstanding != 0 && r.outstanding != r.readySeq || r.termVoteSyncing && r.outstanding == 0 {
		panic(fmt.Sprintf("consensus: Ready bookkeeping broken: outstanding %d of %d, term/vote syncing %v",
			r.outstanding, r.readySeq, r.termVoteSyncing))
	}
	if r.leadTransferee != None && r.role != Leader {
		panic("consensus: transfer in progress on a non-leader")
	}
	if r.role == Leader && r.lead != r.id {
		panic("consensus: leader does not know itself as lead")
	}
	if r.role == Leader {
		for _, pr := range r.prs {
			pr.check()
		}
	}
}
