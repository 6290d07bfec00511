package server

import (
	"fmt"
	"sync"
	"time"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server/fsm"
)

// recentEvents is how many events the web view's event list keeps.
const recentEvents = 200

// EventView is one recent event of the cluster view: something the state
// machine did at an applied entry, or a leadership change this node saw.
// Lock names come from clients: whoever renders them must escape them.
type EventView struct {
	// Index is the applied entry (0 for a leadership change).
	Index uint64 `json:"index"`
	// Time is the replicated time of the entry (unix ns); for a
	// leadership change, the replicated time last applied.
	Time    int64  `json:"time"`
	Kind    string `json:"kind"`
	Lock    string `json:"lock,omitempty"`
	Session uint64 `json:"session,omitempty"`
	Token   uint64 `json:"token,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// eventLog keeps the last recentEvents events in a ring, oldest first on
// read. It is written on the apply path (under the FSM write lock) and on
// the node loop, read by HTTP requests.
type eventLog struct {
	mu   sync.Mutex
	ring []EventView // Invariant: len(ring) <= cap, next < cap
	next int
	cap  int
}

func newEventLog(n int) *eventLog { return &eventLog{cap: n} }

func (l *eventLog) add(ev EventView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < l.cap {
		l.ring = append(l.ring, ev)
		return
	}
	l.ring[l.next] = ev
	l.next = (l.next + 1) % l.cap
}

// recordApplied adds an applied entry's events.
func (l *eventLog) recordApplied(index uint64, at int64, evs []fsm.Event) {
	for _, ev := range evs {
		v := EventView{Index: index, Time: at}
		switch e := ev.(type) {
		case fsm.SessionOpened:
			v.Kind, v.Session, v.Detail = "session_opened", e.Session, fmt.Sprintf("ttl %s", durationText(e.TTL))
		case fsm.SessionClosed:
			v.Kind, v.Session = "session_closed", e.Session
		case fsm.SessionExpired:
			v.Kind, v.Session = "session_expired", e.Session
		case fsm.Granted:
			v.Kind, v.Session, v.Lock, v.Token = "granted_from_queue", e.Session, e.Name, e.Token
		case fsm.Lost:
			v.Kind, v.Session, v.Lock, v.Token, v.Detail = "lost", e.Session, e.Name, e.Token, lostReason(e.Reason)
		case fsm.HolderChanged:
			v.Kind, v.Lock = "holders_changed", e.Name
			v.Detail = fmt.Sprintf("%d holder(s)", len(e.Holders))
		default:
			continue
		}
		l.add(v)
	}
}

// recordLeader adds a leadership change.
func (l *eventLog) recordLeader(lead consensus.NodeID, term uint64, at int64) {
	v := EventView{Time: at, Kind: "leader_changed", Detail: fmt.Sprintf("term %d: leader %s", term, lead)}
	if lead == consensus.None {
		v.Detail = fmt.Sprintf("term %d: no leader", term)
	}
	l.add(v)
}

// list returns the events, oldest first.
func (l *eventLog) list() []EventView {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]EventView, 0, len(l.ring))
	out = append(out, l.ring[l.next:]...)
	return append(out, l.ring[:l.next]...)
}

func durationText(ns int64) string {
	return fmt.Sprint(time.Duration(ns))
}
