package server

import (
	"context"
	"encoding/hex"
	"sort"
	"unicode/utf8"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/server/fsm"
)

// Bounds of one cluster view, so that a large cluster cannot make one
// page (or one poll of it) grow without limit. Totals are always exact.
const (
	maxViewLocks    = 1000
	maxViewSessions = 1000
	maxViewValue    = 256 // bytes of a holder's value shown
)

// ClusterView is the whole cluster as one node sees it: the body of the
// HTTP /cluster endpoint, the data of the web page at /, and of lockctl
// top --json.
//
// Members come from every member's own status (the cluster status the
// answering node collects over the peer port), with lag taken from the
// leader's replication progress. Sessions, locks and queues are the
// answering node's applied state, read without a round trip to the
// leader, so the view works on a follower and without a quorum; on a
// follower it trails the leader by that follower's lag (Applied says
// where it stands).
//
// Every string that comes from a client (lock names, values, owners)
// must be escaped by whoever renders it.
type ClusterView struct {
	Node      string `json:"node"`
	ClusterID string `json:"cluster_id"`
	Leader    string `json:"leader"`
	Term      uint64 `json:"term"`
	// Applied is the index of the applied state the sessions and locks
	// come from; Time its replicated time (unix ns).
	Applied uint64 `json:"applied"`
	Time    int64  `json:"time"`

	Members       []MemberView `json:"members"`
	MembersError  string       `json:"members_error,omitempty"`
	Sessions      SessionsView `json:"sessions"`
	Locks         []LockView   `json:"locks"`
	LocksTotal    int          `json:"locks_total"`
	LocksHeld     int          `json:"locks_held"`
	WaitersTotal  int          `json:"waiters_total"`
	LocksTruncate bool         `json:"locks_truncated,omitempty"`
	Events        []EventView  `json:"events"`
}

// MemberView is one member's line in the view.
type MemberView struct {
	ID         string `json:"id"`
	ClientAddr string `json:"client_addr"`
	Role       string `json:"role"`
	Learner    bool   `json:"learner"`
	Term       uint64 `json:"term"`
	Commit     uint64 `json:"commit"`
	Applied    uint64 `json:"applied"`
	// Match is the leader's replication progress of the member.
	Match uint64 `json:"match"`
	// Lag is how many entries the member trails the leader's commit
	// index: by its replication progress when the leader reports it,
	// else by its own applied index.
	Lag uint64 `json:"lag"`
	// Health is "ok", "no leader" (the member knows none), "lagging"
	// (Lag above the readiness bound) or "unreachable" (Error says why).
	Health string `json:"health"`
	Error  string `json:"error,omitempty"`
}

// SessionsView counts sessions and lists them (up to maxViewSessions).
type SessionsView struct {
	Total   int `json:"total"`
	Holding int `json:"holding"`
	Waiting int `json:"waiting"`
	Idle    int `json:"idle"`
	// ByOwner counts sessions per owner; absent when no session has one.
	ByOwner   map[string]int `json:"by_owner,omitempty"`
	List      []SessionView  `json:"list"`
	Truncated bool           `json:"truncated,omitempty"`
}

// SessionView is one session.
type SessionView struct {
	ID       uint64 `json:"id"`
	TTL      int64  `json:"ttl_ns"`
	OpenedAt int64  `json:"opened_at"`
	// Owner is the principal the session belongs to, when the cluster
	// records one.
	Owner   string   `json:"owner,omitempty"`
	Held    []string `json:"held"`
	Waiting []string `json:"waiting"`
}

// LockView is one lock: holders in grant order, waiters in queue order.
type LockView struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
	// DelayUntil is the end of a lock-delay (replicated unix ns), 0 if
	// none; Delayed is true while it is after the view's Time.
	DelayUntil int64        `json:"delay_until"`
	Delayed    bool         `json:"delayed"`
	Holders    []HolderView `json:"holders"`
	Waiters    []WaiterView `json:"waiters"`
}

// HolderView is one holder. Value is the holder's value as text when it
// is UTF-8, else as hex with ValueHex set; at most maxViewValue bytes of
// it (ValueTruncated).
type HolderView struct {
	Session        uint64 `json:"session"`
	Mode           string `json:"mode"`
	Token          uint64 `json:"token"`
	Value          string `json:"value"`
	ValueHex       bool   `json:"value_hex,omitempty"`
	ValueTruncated bool   `json:"value_truncated,omitempty"`
	AcquiredAt     int64  `json:"acquired_at"`
}

// WaiterView is one queued request; its position is its place in the list.
type WaiterView struct {
	Session  uint64 `json:"session"`
	Mode     string `json:"mode"`
	QueuedAt int64  `json:"queued_at"`
}

// ClusterView collects the view. It fails only when this node cannot
// report its own status (it stopped); members it cannot reach are marked
// unreachable, and without a cluster status the members list is empty
// with MembersError set.
func (s *Server) ClusterView(ctx context.Context) (ClusterView, error) {
	self, err := s.Status(ctx)
	if err != nil {
		return ClusterView{}, err
	}
	v := ClusterView{Node: self.ID, ClusterID: self.ClusterID, Leader: self.Leader, Term: self.Term, Members: []MemberView{}}
	if cs, err := s.clusterStatus(ctx, &api.ClusterStatusRequest{}); err != nil {
		v.MembersError = err.Error()
	} else {
		v.Members = membersView(cs.Nodes, s.cfg.ReadyMaxLag)
	}
	s.app.read(func(f *fsm.Machine) {
		v.Applied, v.Time = f.AppliedIndex(), f.Time()
		v.Sessions = sessionsView(f)
		fillLocks(&v, f)
	})
	v.Events = s.recent.list()
	return v, nil
}

// membersView turns the collected statuses into member lines. The leader
// is the member that says it leads in the highest term.
func membersView(nodes []api.ClusterNode, maxLag uint64) []MemberView {
	var lead *api.NodeStatus
	for _, n := range nodes {
		if n.Status != nil && n.Status.Role == "leader" && (lead == nil || n.Status.Term > lead.Term) {
			lead = n.Status
		}
	}
	match := map[string]uint64{}
	if lead != nil {
		for _, p := range lead.Progress {
			match[p.ID] = p.Match
		}
	}
	out := make([]MemberView, 0, len(nodes))
	for _, n := range nodes {
		m := MemberView{ID: n.ID, ClientAddr: n.ClientAddr, Health: "ok"}
		if n.Status == nil {
			m.Health, m.Error, m.Role = "unreachable", n.Error, "unknown"
			out = append(out, m)
			continue
		}
		st := n.Status
		m.Role, m.Term, m.Commit, m.Applied = st.Role, st.Term, st.Commit, st.Applied
		for _, p := range st.Progress {
			if p.ID == n.ID {
				m.Learner = p.Learner
			}
		}
		if lead != nil {
			for _, p := range lead.Progress {
				if p.ID == n.ID {
					m.Learner = p.Learner
				}
			}
			done, ok := match[n.ID]
			if !ok || n.ID == lead.ID {
				done = st.Applied
			}
			m.Match = done
			if lead.Commit > done {
				m.Lag = lead.Commit - done
			}
		}
		switch {
		case st.Leader == "":
			m.Health = "no leader"
		case m.Lag > maxLag:
			m.Health = "lagging"
		}
		out = append(out, m)
	}
	return out
}

// sessionsView counts and lists the sessions; the caller holds the FSM
// read lock.
func sessionsView(f *fsm.Machine) SessionsView {
	var v SessionsView
	v.List = []SessionView{}
	for _, si := range f.Sessions() {
		info, ok, _ := sessionInfo(f, uint64(si.ID), readsAll)
		if !ok {
			continue
		}
		sv := sessionViewOf(info)
		v.add(sv)
	}
	return v
}

// sessionViewOf converts one session's info.
func sessionViewOf(info api.SessionInfo) SessionView {
	return SessionView{ID: info.Session, TTL: info.TTL, OpenedAt: info.OpenedAt, Owner: info.Owner,
		Held: nonNil(info.Held), Waiting: nonNil(info.Waiting)}
}

// readsAll lets the view and the metrics see every lock: the HTTP port
// is for operators and carries no identity (see docs/OPERATIONS.md).
func readsAll(*fsm.Machine, string) bool { return true }

// add counts sv and lists it while there is room.
func (v *SessionsView) add(sv SessionView) {
	v.Total++
	switch {
	case len(sv.Held) > 0:
		v.Holding++
	case len(sv.Waiting) > 0:
		v.Waiting++
	default:
		v.Idle++
	}
	if sv.Owner != "" {
		if v.ByOwner == nil {
			v.ByOwner = map[string]int{}
		}
		v.ByOwner[sv.Owner]++
	}
	if len(v.List) < maxViewSessions {
		v.List = append(v.List, sv)
	} else {
		v.Truncated = true
	}
}

// fillLocks lists the locks (the caller holds the FSM read lock), the
// held and waited-for ones first, then by name.
func fillLocks(v *ClusterView, f *fsm.Machine) {
	all := f.Locks()
	v.LocksTotal = len(all)
	v.Locks = []LockView{}
	for _, in := range all {
		if len(in.Holders) > 0 {
			v.LocksHeld++
		}
		v.WaitersTotal += len(in.Waiters)
	}
	sort.SliceStable(all, func(i, j int) bool {
		bi, bj := len(all[i].Holders)+len(all[i].Waiters) > 0, len(all[j].Holders)+len(all[j].Waiters) > 0
		if bi != bj {
			return bi
		}
		return all[i].Name < all[j].Name
	})
	for _, in := range all {
		if len(v.Locks) == maxViewLocks {
			v.LocksTruncate = true
			break
		}
		info := lockInfo(in)
		lv := LockView{Name: info.Name, Revision: info.Revision, DelayUntil: info.DelayUntil,
			Delayed: info.DelayUntil > v.Time, Holders: []HolderView{}, Waiters: []WaiterView{}}
		for _, h := range info.Holders {
			hv := HolderView{Session: h.Session, Mode: h.Mode.String(), Token: h.Token, AcquiredAt: h.AcquiredAt}
			hv.Value, hv.ValueHex, hv.ValueTruncated = valueText(h.Value)
			lv.Holders = append(lv.Holders, hv)
		}
		for _, w := range info.Waiters {
			lv.Waiters = append(lv.Waiters, WaiterView{Session: w.Session, Mode: w.Mode.String(), QueuedAt: w.QueuedAt})
		}
		v.Locks = append(v.Locks, lv)
	}
}

// valueText shows a value as text if it is UTF-8, else as hex, cut to
// maxViewValue bytes.
func valueText(b []byte) (text string, isHex, cut bool) {
	valid := utf8.Valid(b)
	if len(b) > maxViewValue {
		n := maxViewValue
		for valid && n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b, cut = b[:n], true
	}
	if valid {
		return string(b), false, cut
	}
	return hex.EncodeToString(b), true, cut
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
