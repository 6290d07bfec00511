package sim

import "github.com/lockd/lockd/consensus"

// figure8 is the schedule of the Raft
// paper's Figure 8 on three nodes, with one entry per message; deliveries
// and election timeouts stay random. It is the negative control's targeted
// schedule: only a core that commits a previous-term entry by counting
// replicas lets two different entries be committed at one index here.
//
//	(a) s1 leads and appends X at index k alone, then crashes.
//	(b) s2 is elected without X, appends its no-op at k, and crashes before
//	    anyone else sees it.
//	(c) s1 restarts and is re-elected; it replicates X to s3. A correct
//	    leader commits X only with its own no-op at k+1 on a majority; an
//	    unsafe one commits X at once. s1 then crashes, its last messages
//	    lost.
//	(d) s2 restarts. If s3 never got k+1, s2's log (k at a later term than
//	    X's) wins s3's vote, and s2 commits its no-op at k over X.
//
// Every phase waits at most a bounded number of ticks; the heal phase and
// its checks follow as in every run.
func (w *world) figure8() error {
	// silence crashes n and loses every message it has in flight, as if it
	// died before its sends left the machine.
	silence := func(n *node) {
		w.crash(n, noCrash)
		w.tracef("figure8: %d messages from %s lost", w.net.purge(n.id), n.id)
	}
	const limit = 300
	// (a)
	if ok, err := w.runUntil(limit, func() bool {
		l := w.leader()
		return l != nil && l.commit > 1 && w.caughtUpTo(l.commit)
	}); !ok || err != nil {
		return err
	}
	s1 := w.leader()
	k, err := w.proposeOn(s1, "fig8-X")
	if err != nil || k == 0 {
		return err
	}
	silence(s1)
	// (b)
	if ok, err := w.runUntil(limit, func() bool { l := w.leader(); return l != nil && l != s1 && l.term > s1.term }); !ok || err != nil {
		return err
	}
	s2 := w.leader()
	silence(s2) // its no-op never leaves
	if err := w.start(s1); err != nil {
		return err
	}
	// (c)
	if ok, err := w.runUntil(limit, func() bool { return s1.state == nodeUp && s1.role == consensus.Leader && s1.commit >= k }); !ok || err != nil {
		return err
	}
	silence(s1) // its append of k+1 never leaves
	if err := w.start(s2); err != nil {
		return err
	}
	// (d)
	_, err = w.runUntil(limit, func() bool { return s2.state == nodeUp && s2.role == consensus.Leader && s2.commit >= k })
	return err
}

// persistRace is the schedule of the leader's own persistence race
// (Raft thesis §10.2.1): the leader sends an entry before its sync, a
// follower acknowledges it, and the leader crashes before the sync ends.
//
//	(a) A leader L is elected and everyone caught up; L's link to s3 is cut.
//	(b) L proposes E; its sync runs in the background, the append to s2
//	    leaves early, s2 persists E and acknowledges it. A correct L does not
//	    count itself yet, so E is not committed (one copy of three).
//	(c) L crashes, losing E and its last messages; s2 is isolated.
//	(d) L restarts; L or s3, neither holding E, is elected and commits its
//	    no-op at E's index — over E, if L had counted E committed.
func (w *world) persistRace() error {
	const limit = 300
	if ok, err := w.runUntil(limit, func() bool {
		l := w.leader()
		return l != nil && l.commit > 1 && w.caughtUpTo(l.commit)
	}); !ok || err != nil {
		return err
	}
	l := w.leader()
	var others []consensus.NodeID
	for _, n := range w.nodes {
		if n != l {
			others = append(others, n.id)
		}
	}
	s2, s3 := others[0], others[1]
	w.net.oneWay([]consensus.NodeID{l.id}, []consensus.NodeID{s3})
	w.tracef("race: cut %s -/-> %s", l.id, s3)
	// (b)
	w.forceAsync, w.forceEarly = true, true
	k, err := w.proposeOn(l, "race-E")
	w.forceAsync, w.forceEarly = false, false
	if err != nil || k == 0 || l.pending == nil {
		return err
	}
	// The sync never ends during runUntil, so these waits may be generous.
	if _, err := w.runUntil(6, func() bool {
		return w.byID[s2].log.last() >= k
	}); err != nil {
		return err
	}
	// Let s2's acknowledgement reach L, sync still running.
	if _, err := w.runUntil(6, func() bool {
		return l.raft != nil && l.raft.Status().Progress[s2].Match >= k
	}); err != nil {
		return err
	}
	// (c)
	term := l.term
	w.crash(l, noCrash)
	w.tracef("race: %d messages from %s lost", w.net.purge(l.id), l.id)
	w.net.heal()
	w.net.split([]consensus.NodeID{s2}, []consensus.NodeID{l.id, s3})
	w.tracef("race: isolate %s", s2)
	if err := w.start(l); err != nil {
		return err
	}
	// (d)
	_, err = w.runUntil(limit, func() bool {
		n := w.leader()
		return n != nil && n.id != s2 && n.term > term && n.commit >= k
	})
	return err
}

// runUntil delivers and ticks, fault-free, until cond holds after a step
// or limit ticks pass; it reports whether cond held.
func (w *world) runUntil(limit uint64, cond func() bool) (bool, error) {
	for end := w.now + limit; w.now < end; {
		w.step++
		var err error
		if due := w.net.due(w.now); due > 0 && w.rng.Float64() < 0.9 {
			err = w.deliverOne(due)
		} else {
			err = w.tick()
		}
		if err == nil {
			err = w.endStep()
		}
		if err != nil {
			return false, err
		}
		if cond() {
			w.stats.ScriptPhases++
			return true, nil
		}
	}
	w.tracef("scenario: phase did not complete within %d ticks", limit)
	return false, nil
}

// caughtUpTo reports whether every running node has applied index i.
func (w *world) caughtUpTo(i uint64) bool {
	for _, n := range w.up() {
		if n.app.index < i {
			return false
		}
	}
	return true
}
