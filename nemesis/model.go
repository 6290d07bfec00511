package nemesis

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// lockState is the model's state of one lock: its holders (by session; a
// token of 0 is a grant whose token nobody has seen yet), the sessions that
// have ended (closed or expired: they can hold nothing more), and the
// highest token granted so far.
//
// Invariant: holders sorted by session, ended sorted and unique. States are
// values: step functions copy before changing.
type lockState struct {
	holders []Holder
	ended   []uint64
	last    uint64
}

func (s lockState) clone() lockState {
	return lockState{holders: slices.Clone(s.holders), ended: slices.Clone(s.ended), last: s.last}
}

func (s lockState) holding(session uint64) int {
	for i, h := range s.holders {
		if h.Session == session {
			return i
		}
	}
	return -1
}

func (s lockState) isEnded(session uint64) bool {
	_, ok := slices.BinarySearch(s.ended, session)
	return ok
}

// compatible reports whether mode could be granted now.
func (s lockState) compatible(m Mode) bool {
	if m == Exclusive {
		return len(s.holders) == 0
	}
	for _, h := range s.holders {
		if h.Mode == Exclusive {
			return false
		}
	}
	return true
}

func (s lockState) grant(session uint64, m Mode, token uint64) lockState {
	n := s.clone()
	n.holders = sortHolders(append(n.holders, Holder{Session: session, Mode: m, Token: token}))
	if token > n.last {
		n.last = token
	}
	return n
}

func (s lockState) drop(session uint64) lockState {
	i := s.holding(session)
	if i < 0 {
		return s
	}
	n := s.clone()
	n.holders = slices.Delete(n.holders, i, i+1)
	return n
}

func (s lockState) end(session uint64) lockState {
	n := s.drop(session).clone()
	if i, ok := slices.BinarySearch(n.ended, session); !ok {
		n.ended = slices.Insert(n.ended, i, session)
	}
	return n
}

// tokenMatches: a holder's token is t, or not yet known.
func tokenMatches(h Holder, t uint64) bool { return h.Token == 0 || h.Token == t }

// stepLock returns every state the lock may be in after op, or none if op
// cannot have happened in state s. This is the sequential specification of
// one lock that histories are checked against.
func stepLock(s lockState, op Op) []lockState {
	switch op.Kind {
	case KindAcquire:
		return stepAcquire(s, op)
	case KindRelease:
		i := s.holding(op.Session)
		held := i >= 0 && tokenMatches(s.holders[i], op.Token)
		switch op.Outcome {
		case OutcomeOK:
			if held {
				return []lockState{s.drop(op.Session)}
			}
			return nil
		case OutcomeFenced:
			// A hold with an unseen token may be another hold than this one.
			if held && s.holders[i].Token == op.Token {
				return nil
			}
			return []lockState{s}
		case OutcomeUnknown:
			if held {
				return []lockState{s, s.drop(op.Session)}
			}
			return []lockState{s}
		}
		return []lockState{s}
	case KindCleanup:
		return []lockState{s, s.drop(op.Session)}
	case KindRead:
		return stepRead(s, op)
	case KindCheck:
		found, unseen := false, false
		for _, h := range s.holders {
			found = found || h.Token == op.Token
			unseen = unseen || h.Token == 0
		}
		if op.Valid == found || unseen {
			return []lockState{s}
		}
		return nil
	case KindClose:
		switch op.Outcome {
		case OutcomeOK:
			return []lockState{s.end(op.Session)}
		case OutcomeUnknown:
			return []lockState{s, s.end(op.Session)}
		}
		return []lockState{s}
	case KindExpire:
		return []lockState{s.end(op.Session)}
	}
	panic(fmt.Sprintf("nemesis: model has no rule for %q", op.Kind))
}

func stepAcquire(s lockState, op Op) []lockState {
	canGrant := !s.isEnded(op.Session) && s.holding(op.Session) < 0 && s.compatible(op.Mode)
	switch op.Outcome {
	case OutcomeOK:
		// Tokens only grow: a grant's token is above every earlier one.
		if canGrant && op.Token > s.last {
			return []lockState{s.grant(op.Session, op.Mode, op.Token)}
		}
		return nil
	case OutcomeHeld:
		if !s.compatible(op.Mode) {
			return []lockState{s}
		}
		return nil
	case OutcomeAlready:
		// The workload never asks twice: only a request applied twice
		// can find its own session holding.
		if s.holding(op.Session) >= 0 {
			return []lockState{s}
		}
		return nil
	case OutcomeUnknown:
		if canGrant {
			return []lockState{s, s.grant(op.Session, op.Mode, 0)}
		}
		return []lockState{s}
	}
	return []lockState{s}
}

func stepRead(s lockState, op Op) []lockState {
	got := sortHolders(op.Holders)
	if len(got) != len(s.holders) {
		return nil
	}
	n := s.clone()
	for i, h := range s.holders {
		g := got[i]
		if g.Session != h.Session || g.Mode != h.Mode || !tokenMatches(h, g.Token) {
			return nil
		}
		if h.Token == 0 {
			// The read shows the token of a grant whose answer was lost.
			n.holders[i].Token = g.Token
			if g.Token > n.last {
				n.last = g.Token
			}
		}
	}
	return []lockState{n}
}

func equalStates(a, b lockState) bool {
	return a.last == b.last && slices.Equal(a.holders, b.holders) && slices.Equal(a.ended, b.ended)
}

func hashState(s lockState) uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, s.last, s.holders, s.ended)
	return h.Sum64()
}

func describeState(s lockState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "last=%d holders=[", s.last)
	for i, h := range s.holders {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "s%d/%s/t%d", h.Session, h.Mode, h.Token)
	}
	fmt.Fprintf(&b, "] ended=%v", s.ended)
	return b.String()
}

// DescribeOp renders an operation the way the visualisation shows it.
func DescribeOp(op Op) string {
	switch op.Kind {
	case KindAcquire:
		w := "try"
		if op.Wait {
			w = "wait"
		}
		return fmt.Sprintf("s%d acquire(%s,%s) -> %s t%d %s", op.Session, op.Mode, w, op.Outcome, op.Token, op.Err)
	case KindRelease:
		return fmt.Sprintf("s%d release(t%d) -> %s %s", op.Session, op.Token, op.Outcome, op.Err)
	case KindRead:
		return fmt.Sprintf("read -> %v", op.Holders)
	case KindCheck:
		return fmt.Sprintf("check(t%d) -> %v", op.Token, op.Valid)
	}
	return fmt.Sprintf("s%d %s -> %s %s", op.Session, op.Kind, op.Outcome, op.Err)
}

// LockModel is the porcupine model of one lock. Operations are Op values
// (input and output alike); outcomes that are unknown make the model
// nondeterministic.
func LockModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Init: func() []interface{} { return []interface{}{lockState{}} },
		Step: func(state, input, _ interface{}) []interface{} {
			next := stepLock(state.(lockState), input.(Op))
			out := make([]interface{}, len(next))
			for i, n := range next {
				out[i] = n
			}
			return out
		},
		Equal:             func(a, b interface{}) bool { return equalStates(a.(lockState), b.(lockState)) },
		Hash:              func(s interface{}) uint64 { return hashState(s.(lockState)) },
		DescribeOperation: func(input, _ interface{}) string { return DescribeOp(input.(Op)) },
		DescribeState:     func(s interface{}) string { return describeState(s.(lockState)) },
	}
	return nm.ToModel()
}
