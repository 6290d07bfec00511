package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lockd/lockd/consensus"
)

// ErrNoHandOff: a leader stopping gracefully did not hand leadership over
// (no follower was up and caught up, or the transfer did not complete);
// the error says why. The node stops all the same.
var ErrNoHandOff = errors.New("server: leadership not handed over")

// handOff hands leadership to a follower that can take it before this
// node stops, and waits until this node no longer leads. It gives up at
// once, saying why, when no follower is recently active, caught up (it
// holds every committed entry) and answering now, when the transfer is
// abandoned (the core drops it after an election timeout), or when ctx
// ends. Losing leadership meanwhile ends the wait: there is nothing left
// to hand over.
func (s *Server) handOff(ctx context.Context) error {
	target, why := s.handOffTarget(ctx)
	if target == consensus.None {
		s.log.Warn("stopping without a leadership hand-off", "reason", why)
		return fmt.Errorf("%w: %s", ErrNoHandOff, why)
	}
	if err := s.node.TransferLeader(ctx, target); err != nil {
		s.log.Warn("stopping without a leadership hand-off", "reason", "the transfer was refused", "to", target, "error", err)
		return fmt.Errorf("%w: transfer to %s: %w", ErrNoHandOff, target, err)
	}
	self := consensus.NodeID(s.cfg.ID)
	poll := time.NewTicker(s.cfg.Node.TickInterval)
	defer poll.Stop()
	for {
		ch := s.node.LeaderChanged()
		if lead := s.node.Leader(); lead != self && lead != consensus.None {
			s.log.Info("handed leadership over before shutdown", "to", lead)
			return nil
		}
		if !s.node.IsLeader() {
			s.log.Info("no longer leading; stopping before a new leader is known", "transferred_to", target)
			return nil
		}
		select {
		case <-ch:
		case <-poll.C:
			st, err := s.node.Status(ctx)
			if err == nil && st.Role == consensus.Leader && st.LeadTransferee == consensus.None {
				s.log.Warn("stopping without a leadership hand-off", "reason", "the transfer was abandoned", "to", target)
				return fmt.Errorf("%w: the transfer to %s was abandoned", ErrNoHandOff, target)
			}
		case <-ctx.Done():
			s.log.Warn("stopping without a leadership hand-off", "reason", "shutdown timeout", "to", target)
			return fmt.Errorf("%w: transfer to %s: %w", ErrNoHandOff, target, ctx.Err())
		}
	}
}

// handOffTarget is the voter to hand leadership to: among those the core
// counts recently active, replicating and holding every committed entry,
// the most caught-up one that answers a node-info request now (a process
// that stopped a moment ago still looks active to the core for up to an
// election timeout). None, with the reason, if there is no such voter.
func (s *Server) handOffTarget(ctx context.Context) (consensus.NodeID, string) {
	st, err := s.node.Status(ctx)
	if err != nil {
		return consensus.None, "status: " + err.Error()
	}
	if st.Role != consensus.Leader {
		return consensus.None, "no longer leading"
	}
	var cands []consensus.NodeID
	var skipped []string
	for _, v := range st.ConfState.Voters {
		p := st.Progress[v]
		switch {
		case v == st.ID:
			continue
		case !p.RecentActive:
			skipped = append(skipped, string(v)+" not heard from")
		case p.State != "replicate":
			skipped = append(skipped, string(v)+" not replicating ("+p.State+")")
		case p.Match < st.Commit:
			skipped = append(skipped, fmt.Sprintf("%s behind (match %d, commit %d)", v, p.Match, st.Commit))
		default:
			cands = append(cands, v)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := st.Progress[cands[i]].Match, st.Progress[cands[j]].Match
		return a > b || a == b && cands[i] < cands[j]
	})
	for _, v := range cands {
		actx, cancel := context.WithTimeout(ctx, s.handOffPingTimeout())
		_, err := s.members.ask(actx, v, st.ConfState.Addrs[v])
		cancel()
		if err == nil {
			return v, ""
		}
		skipped = append(skipped, fmt.Sprintf("%s does not answer (%v)", v, err))
	}
	if len(skipped) == 0 {
		return consensus.None, "no other voter"
	}
	return consensus.None, "no follower can take over: " + strings.Join(skipped, "; ")
}

// handOffPingTimeout bounds the check that a hand-off target answers: an
// election timeout, the time the core would keep it counted active.
func (s *Server) handOffPingTimeout() time.Duration {
	return s.cfg.Node.TickInterval * time.Duration(s.cfg.Node.ElectionTick)
}
