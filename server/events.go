package server

import (
	"sync"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// eventRouter sends the FSM's events to the client connections that want
// them: a session's Granted, Lost and SessionExpired go to the
// connections that attached the session (Attach, or automatically on
// OpenSession and Acquire); HolderChanged goes to the connections that
// observe the lock. Pushing never blocks (rpc.Conn.Push drops a slow
// consumer's connection instead), so routing is safe on the apply path.
type eventRouter struct {
	mu       sync.Mutex
	sessions map[uint64]map[*rpc.Conn]struct{}
	names    map[string]map[*rpc.Conn]struct{}
	conns    map[*rpc.Conn]*connSubs
}

// connSubs is what one connection subscribed to, for cleanup on close.
type connSubs struct {
	sessions map[uint64]struct{}
	names    map[string]struct{}
}

// maxSubsPerConn bounds what one connection may attach or observe.
const maxSubsPerConn = 1 << 16

func newEventRouter() *eventRouter {
	return &eventRouter{
		sessions: map[uint64]map[*rpc.Conn]struct{}{},
		names:    map[string]map[*rpc.Conn]struct{}{},
		conns:    map[*rpc.Conn]*connSubs{},
	}
}

// subs returns c's subscriptions, watching c's close the first time.
// Caller holds mu.
func (r *eventRouter) subs(c *rpc.Conn) *connSubs {
	cs, ok := r.conns[c]
	if !ok {
		cs = &connSubs{sessions: map[uint64]struct{}{}, names: map[string]struct{}{}}
		r.conns[c] = cs
		go func() {
			<-c.Done()
			r.drop(c)
		}()
	}
	return cs
}

// attach binds sessions' events to c. It reports false if c already has
// too many subscriptions.
func (r *eventRouter) attach(c *rpc.Conn, ids ...uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-c.Done():
		return true // closed: nothing to route to
	default:
	}
	cs := r.subs(c)
	for _, id := range ids {
		if _, ok := cs.sessions[id]; ok {
			continue
		}
		if len(cs.sessions)+len(cs.names) >= maxSubsPerConn {
			return false
		}
		cs.sessions[id] = struct{}{}
		set := r.sessions[id]
		if set == nil {
			set = map[*rpc.Conn]struct{}{}
			r.sessions[id] = set
		}
		set[c] = struct{}{}
	}
	return true
}

// observe subscribes c to holder changes of name.
func (r *eventRouter) observe(c *rpc.Conn, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-c.Done():
		return true
	default:
	}
	cs := r.subs(c)
	if _, ok := cs.names[name]; ok {
		return true
	}
	if len(cs.sessions)+len(cs.names) >= maxSubsPerConn {
		return false
	}
	cs.names[name] = struct{}{}
	set := r.names[name]
	if set == nil {
		set = map[*rpc.Conn]struct{}{}
		r.names[name] = set
	}
	set[c] = struct{}{}
	return true
}

// drop forgets everything c subscribed to.
func (r *eventRouter) drop(c *rpc.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, ok := r.conns[c]
	if !ok {
		return
	}
	delete(r.conns, c)
	for id := range cs.sessions {
		r.unbind(r.sessions, id, c)
	}
	for name := range cs.names {
		if set := r.names[name]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(r.names, name)
			}
		}
	}
}

func (r *eventRouter) unbind(m map[uint64]map[*rpc.Conn]struct{}, id uint64, c *rpc.Conn) {
	if set := m[id]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, id)
		}
	}
}

// route pushes one entry's events. It runs on the apply path with the FSM
// write lock held; f is the FSM after the entry, whose policy decides
// whether an observer may still see a lock's holders (a revoked
// observer gets no more pushes).
func (r *eventRouter) route(f *fsm.Machine, evs []fsm.Event) {
	if len(evs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		switch e := ev.(type) {
		case fsm.Granted:
			r.pushSession(e.Session, api.PushGranted, &api.GrantedEvent{Session: e.Session, Name: e.Name, Token: e.Token, Mode: api.Mode(e.Mode)})
		case fsm.Lost:
			r.pushSession(e.Session, api.PushLost, &api.LostEvent{Session: e.Session, Name: e.Name, Token: e.Token, Reason: lostReason(e.Reason)})
		case fsm.SessionExpired:
			r.pushSession(e.Session, api.PushSessionExpired, &api.SessionExpiredEvent{Session: e.Session})
		case fsm.HolderChanged:
			ev := &api.HolderChangedEvent{Name: e.Name, Revision: e.Revision, Holders: holderInfos(e.Holders)}
			for c := range r.names[e.Name] {
				if mayObserve(f, c, e.Name) {
					_ = c.Push(rpc.MsgType(api.PushHolderChanged), ev)
				}
			}
		}
	}
	// Lost and SessionExpired come before any later event of the session;
	// an expired session's bindings are dropped after its pushes.
	for _, ev := range evs {
		if e, ok := ev.(fsm.SessionExpired); ok {
			for c := range r.sessions[e.Session] {
				if cs := r.conns[c]; cs != nil {
					delete(cs.sessions, e.Session)
				}
			}
			delete(r.sessions, e.Session)
		}
	}
}

func (r *eventRouter) pushSession(id uint64, typ api.PushType, v any) {
	for c := range r.sessions[id] {
		_ = c.Push(rpc.MsgType(typ), v)
	}
}

// refreshObservers pushes the current holders of every observed lock
// after a snapshot install, whose entries produced no events. Observers
// drop pushes whose revision they have seen. Caller holds the FSM write
// lock.
func (r *eventRouter) refreshObservers(f *fsm.Machine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, set := range r.names {
		in := f.Lock(name)
		ev := &api.HolderChangedEvent{Name: name, Revision: in.Revision, Holders: holderInfos(in.Holders)}
		for c := range set {
			if mayObserve(f, c, name) {
				_ = c.Push(rpc.MsgType(api.PushHolderChanged), ev)
			}
		}
	}
}

// broadcast pushes v to every client connection.
func broadcast(srv *rpc.Server, typ api.PushType, v any) {
	for _, c := range srv.Conns() {
		_ = c.Push(rpc.MsgType(typ), v)
	}
}

func lostReason(r locks.LostReason) string {
	switch r {
	case locks.LostExpired:
		return "expired"
	case locks.LostClosed:
		return "closed"
	}
	return "unknown"
}

func holderInfos(hs []locks.Holder) []api.HolderInfo {
	if len(hs) == 0 {
		return nil
	}
	out := make([]api.HolderInfo, len(hs))
	for i, h := range hs {
		out[i] = api.HolderInfo{Session: h.Session, Mode: api.Mode(h.Mode), Token: h.Token, Value: h.Value, AcquiredAt: h.AcquiredAt}
	}
	return out
}

// announceLeader pushes a LeaderChangedEvent to every client connection
// once the new leader's client address is known (or could not be learnt).
func (s *Server) announceLeader(lead consensus.NodeID, term uint64, gen uint64) {
	defer s.wg.Done()
	ev := &api.LeaderChangedEvent{Leader: string(lead), Term: max(term, s.node.Term())}
	if lead != consensus.None {
		ev.LeaderAddr = s.leaderHint(s.ctx)
	}
	if s.leases.generation() != gen || s.ctx.Err() != nil {
		return // a newer change will announce itself
	}
	broadcast(s.client, api.PushLeaderChanged, ev)
}

// mayObserve reports whether c's principal may watch the lock name now.
func mayObserve(f *fsm.Machine, c *rpc.Conn, name string) bool {
	p := principalOf(c)
	return p == "" || f.Allowed(p, fsm.PermObserve, name)
}
