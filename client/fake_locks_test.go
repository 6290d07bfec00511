package client

import (
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// fakeLock is one lock of the fake: holders, a FIFO queue, a revision.
type fakeLock struct {
	holders  []api.HolderInfo
	waiters  []fakeWaiter
	revision uint64
}

type fakeWaiter struct {
	session uint64
	mode    api.Mode
	value   []byte
}

func (fc *fakeCluster) lockInfoLocked(name string) api.LockInfo {
	l := fc.locks[name]
	if l == nil {
		return api.LockInfo{Name: name}
	}
	info := api.LockInfo{Name: name, Holders: append([]api.HolderInfo(nil), l.holders...), Revision: l.revision}
	for _, w := range l.waiters {
		info.Waiters = append(info.Waiters, api.WaiterInfo{Session: w.session, Mode: w.mode})
	}
	return info
}

func compatible(l *fakeLock, mode api.Mode) bool {
	if len(l.holders) == 0 {
		return true
	}
	return mode == api.ModeShared && l.holders[0].Mode == api.ModeShared
}

// changedLocked bumps the revision and pushes the holders to observers.
func (fc *fakeCluster) changedLocked(name string, l *fakeLock) {
	l.revision = fc.index
	ev := &api.HolderChangedEvent{Name: name, Revision: l.revision, Holders: append([]api.HolderInfo(nil), l.holders...)}
	for c := range fc.watchers[name] {
		if c.Err() != nil {
			delete(fc.watchers[name], c)
			continue
		}
		_ = c.Push(rpc.MsgType(api.PushHolderChanged), ev)
	}
}

func (fc *fakeCluster) acquireLocked(req *api.AcquireRequest) (any, *api.Error) {
	if req.Name == "" {
		return nil, &api.Error{Code: api.CodeInvalidName}
	}
	l := fc.locks[req.Name]
	if l == nil {
		l = &fakeLock{}
		fc.locks[req.Name] = l
	}
	for _, h := range l.holders {
		if h.Session == req.Session {
			return nil, &api.Error{Code: api.CodeAlreadyHolder}
		}
	}
	for i, w := range l.waiters {
		if w.session == req.Session {
			return nil, &api.Error{Code: api.CodeAlreadyWaiting}
		}
		_ = i
	}
	if len(l.waiters) == 0 && compatible(l, req.Mode) {
		l.holders = append(l.holders, api.HolderInfo{Session: req.Session, Mode: req.Mode, Token: fc.index, Value: req.Value, AcquiredAt: time.Now().UnixNano()})
		fc.changedLocked(req.Name, l)
		return &api.AcquireResponse{Granted: true, Token: fc.index}, nil
	}
	if !req.Wait {
		return nil, &api.Error{Code: api.CodeLockHeld, Message: req.Name}
	}
	l.waiters = append(l.waiters, fakeWaiter{session: req.Session, mode: req.Mode, value: req.Value})
	return &api.AcquireResponse{Queued: true, Position: len(l.waiters), QueuedIndex: fc.index}, nil
}

// promoteLocked grants the head of the queue while it fits, pushing one
// Granted per grant.
func (fc *fakeCluster) promoteLocked(name string, l *fakeLock) {
	granted := false
	for len(l.waiters) > 0 && compatible(l, l.waiters[0].mode) {
		w := l.waiters[0]
		l.waiters = l.waiters[1:]
		l.holders = append(l.holders, api.HolderInfo{Session: w.session, Mode: w.mode, Token: fc.index, Value: w.value})
		fc.pushSessionLocked(w.session, api.PushGranted, &api.GrantedEvent{Session: w.session, Name: name, Token: fc.index, Mode: w.mode})
		granted = true
	}
	if granted || len(l.holders) == 0 {
		fc.changedLocked(name, l)
	}
}

func (fc *fakeCluster) releaseLocked(session uint64, name string, token uint64) *api.Error {
	l := fc.locks[name]
	if l == nil {
		return &api.Error{Code: api.CodeNotHolder}
	}
	for i, h := range l.holders {
		if h.Session == session && h.Token == token {
			l.holders = append(l.holders[:i], l.holders[i+1:]...)
			fc.promoteLocked(name, l)
			return nil
		}
	}
	return &api.Error{Code: api.CodeNotHolder}
}

func (fc *fakeCluster) cancelWaitLocked(session uint64, name string) *api.Error {
	l := fc.locks[name]
	if l == nil {
		return &api.Error{Code: api.CodeNotWaiting}
	}
	for i, w := range l.waiters {
		if w.session == session {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			fc.promoteLocked(name, l)
			return nil
		}
	}
	return &api.Error{Code: api.CodeNotWaiting}
}

func (fc *fakeCluster) proclaimLocked(req *api.ProclaimRequest) *api.Error {
	l := fc.locks[req.Name]
	if l == nil {
		return &api.Error{Code: api.CodeNotHolder}
	}
	for i, h := range l.holders {
		if h.Session == req.Session && h.Token == req.Token {
			l.holders[i].Value = req.Value
			fc.changedLocked(req.Name, l)
			return nil
		}
	}
	return &api.Error{Code: api.CodeNotHolder}
}

// releaseAs releases name on behalf of session (a test acting as another
// client), as if its Release were applied.
func (fc *fakeCluster) releaseAs(session uint64, name string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.index++
	for _, h := range fc.lockInfoLocked(name).Holders {
		if h.Session == session {
			_ = fc.releaseLocked(session, name, h.Token)
		}
	}
}

// waitersOf returns the sessions queued on name, in order.
func (fc *fakeCluster) waitersOf(name string) []uint64 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var out []uint64
	for _, w := range fc.lockInfoLocked(name).Waiters {
		out = append(out, w.Session)
	}
	return out
}
