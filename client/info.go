package client

import (
	"context"
	"time"

	"github.com/lockd/lockd/api"
)

// ReadOption adjusts a read.
type ReadOption func(*readOpts)

type readOpts struct{ stale bool }

// WithStale reads the answering node's state without confirming with a
// quorum that it is current: faster, and available without a leader, but
// possibly behind. Reads are linearizable by default.
func WithStale() ReadOption { return func(o *readOpts) { o.stale = true } }

func readOptions(opts []ReadOption) api.ReadOptions {
	var o readOpts
	for _, opt := range opts {
		opt(&o)
	}
	return api.ReadOptions{Stale: o.stale}
}

// LockInfo describes one lock.
type LockInfo struct {
	Name    string
	Holders []HolderInfo
	Waiters []WaiterInfo // in FIFO order
	// Revision is the index of the last entry that changed the holders.
	Revision uint64
	// DelayUntil is the end of a lock-delay; zero if none.
	DelayUntil time.Time
}

// HolderInfo is one holder of a lock.
type HolderInfo struct {
	Session    uint64
	Mode       Mode
	Token      uint64
	Value      []byte
	AcquiredAt time.Time
}

// WaiterInfo is one queued request.
type WaiterInfo struct {
	Session  uint64
	Mode     Mode
	QueuedAt time.Time
}

// SessionInfo describes one session.
type SessionInfo struct {
	ID       uint64
	TTL      time.Duration
	OpenedAt time.Time
	// Owner is the principal that opened the session ("" on a cluster
	// without authentication). Only the owner, with the session's secret,
	// may act on it.
	Owner   string
	Held    []string // names of the locks it holds
	Waiting []string // names of the locks it waits for
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func holdersFrom(hs []api.HolderInfo) []HolderInfo {
	out := make([]HolderInfo, len(hs))
	for i, h := range hs {
		out[i] = HolderInfo{Session: h.Session, Mode: Mode(h.Mode), Token: h.Token, Value: h.Value, AcquiredAt: unixTime(h.AcquiredAt)}
	}
	return out
}

func lockFrom(l api.LockInfo) LockInfo {
	ws := make([]WaiterInfo, len(l.Waiters))
	for i, w := range l.Waiters {
		ws[i] = WaiterInfo{Session: w.Session, Mode: Mode(w.Mode), QueuedAt: unixTime(w.QueuedAt)}
	}
	return LockInfo{Name: l.Name, Holders: holdersFrom(l.Holders), Waiters: ws, Revision: l.Revision, DelayUntil: unixTime(l.DelayUntil)}
}

func sessionFrom(s api.SessionInfo) SessionInfo {
	return SessionInfo{ID: s.Session, TTL: time.Duration(s.TTL), OpenedAt: unixTime(s.OpenedAt), Owner: s.Owner, Held: s.Held, Waiting: s.Waiting}
}

// read runs a read request with retries (reads are idempotent).
func (c *Client) read(ctx context.Context, typ api.MsgType, req, resp any) error {
	return c.do(ctx, typ, func() any { return req }, resp)
}

// CheckToken reports whether token is the token of a current holder of
// name (Chubby's CheckSequencer): a downstream service calls it before
// acting on a request fenced with token. The read is linearizable.
func (c *Client) CheckToken(ctx context.Context, name string, token uint64) (bool, error) {
	var resp api.CheckTokenResponse
	err := c.read(ctx, api.MsgCheckToken, &api.CheckTokenRequest{Name: name, Token: token}, &resp)
	return resp.Current, err
}

// GetLock describes the lock name (no holders or waiters if it is free).
func (c *Client) GetLock(ctx context.Context, name string, opts ...ReadOption) (LockInfo, error) {
	var resp api.LockInfo
	if err := c.read(ctx, api.MsgGetLock, &api.GetLockRequest{ReadOptions: readOptions(opts), Name: name}, &resp); err != nil {
		return LockInfo{}, err
	}
	info := lockFrom(resp)
	if info.Name == "" {
		info.Name = name
	}
	return info, nil
}

// ListLocks lists the locks whose names start with prefix, by name.
func (c *Client) ListLocks(ctx context.Context, prefix string, opts ...ReadOption) ([]LockInfo, error) {
	var resp api.ListLocksResponse
	if err := c.read(ctx, api.MsgListLocks, &api.ListLocksRequest{ReadOptions: readOptions(opts), Prefix: prefix}, &resp); err != nil {
		return nil, err
	}
	out := make([]LockInfo, len(resp.Locks))
	for i, l := range resp.Locks {
		out[i] = lockFrom(l)
	}
	return out, nil
}

// GetSession describes one session.
func (c *Client) GetSession(ctx context.Context, id uint64, opts ...ReadOption) (SessionInfo, error) {
	var resp api.SessionInfo
	if err := c.read(ctx, api.MsgGetSession, &api.GetSessionRequest{ReadOptions: readOptions(opts), Session: id}, &resp); err != nil {
		return SessionInfo{}, err
	}
	return sessionFrom(resp), nil
}

// ListSessions lists every open session, by ID.
func (c *Client) ListSessions(ctx context.Context, opts ...ReadOption) ([]SessionInfo, error) {
	var resp api.ListSessionsResponse
	if err := c.read(ctx, api.MsgListSessions, &api.ListSessionsRequest{ReadOptions: readOptions(opts)}, &resp); err != nil {
		return nil, err
	}
	out := make([]SessionInfo, len(resp.Sessions))
	for i, s := range resp.Sessions {
		out[i] = sessionFrom(s)
	}
	return out, nil
}
