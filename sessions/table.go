package sessions

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"time"
)

// ID names a session: the log index of the entry that opened it, which is
// unique and the same on every replica.
type ID uint64

// EndReason says why a session ended.
type EndReason uint8

const (
	// Expired: the leader proposed ExpireSession after its TTL ran out.
	Expired EndReason = iota + 1
	// Closed: the client closed the session.
	Closed
)

// err returns the error a request on a session that ended this way gets.
func (r EndReason) err() error {
	if r == Closed {
		return ErrSessionClosed
	}
	return ErrSessionExpired
}

// session is one open session.
type session struct {
	id       ID
	key      string
	ttl      time.Duration
	openedAt int64
	// owner is who opened the session and the hash of its secret; every
	// request on the session must present both (owner.go).
	owner Owner
	// mark is the client's highest acknowledged "lowest unanswered sequence
	// number": responses to sequence numbers below it are forgotten.
	// Invariant: every key of responses is >= mark.
	mark uint64
	// responses holds the encoded response, and the digest of the request,
	// of every applied request at or above mark.
	// Invariant: len(responses) <= Config.MaxResponses.
	responses map[uint64]response
}

// response is a kept answer and the digest of the request it answers.
type response struct {
	digest Digest
	data   []byte
}

// Info describes an open session for status queries.
type Info struct {
	ID       ID
	Key      string
	TTL      time.Duration
	OpenedAt int64
	// Owner is the principal that opened the session ("" on a cluster
	// without authentication). The secret's hash is not part of Info.
	Owner string
	// Mark is the lowest sequence number whose response is still kept.
	Mark uint64
	// Responses is how many responses the session keeps.
	Responses int
}

// Deadline is when the leader should expire a session if no keep-alive
// arrives.
type Deadline struct {
	ID ID
	At int64
}

// tombstone remembers why an ended session ended.
type tombstone struct {
	id     ID
	reason EndReason
}

// Table is the replicated session table. It is not safe for concurrent use:
// the server applies commands to it from one goroutine.
type Table struct {
	cfg      Config
	sessions map[ID]*session
	// keys maps the idempotency key of every open session that has one to
	// its ID. Invariant: keys[s.key] == s.id for every open s with a key.
	keys map[string]ID
	// ended and endedOrder remember the most recent MaxTombstones ended
	// sessions, oldest first. Invariant: no ID is both open and ended.
	ended      map[ID]EndReason
	endedOrder []tombstone
	// lastID is the highest ID ever opened; IDs only grow.
	lastID ID
}

// New returns an empty table.
func New(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newTable(cfg), nil
}

func newTable(cfg Config) *Table {
	return &Table{
		cfg:      cfg,
		sessions: make(map[ID]*session),
		keys:     make(map[string]ID),
		ended:    make(map[ID]EndReason),
	}
}

// Config returns the table's configuration.
func (t *Table) Config() Config { return t.cfg }

// Open opens a session owned by owner in the entry at index, applied at
// time now (unix nanoseconds, from the command). A non-empty key that names
// an open session returns that session and existing == true, so a retried
// open never opens two sessions; the retry must come from the same owner
// with the same secret (ErrSessionNotOwned, ErrBadSessionSecret otherwise).
// The TTL is clamped (see Config). The caller guarantees that index grows
// from call to call.
func (t *Table) Open(index uint64, now int64, key string, ttl time.Duration, owner Owner) (info Info, existing bool, err error) {
	if len(key) > t.cfg.MaxKeyLen {
		return Info{}, false, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidKey, len(key), t.cfg.MaxKeyLen)
	}
	if n := len(owner.SecretHash); n != 0 && n != sha256.Size {
		return Info{}, false, fmt.Errorf("%w: a secret hash of %d bytes", ErrBadSessionSecret, n)
	}
	if key != "" {
		if id, ok := t.keys[key]; ok {
			s := t.sessions[id]
			if err := s.authorize(owner); err != nil {
				return Info{}, false, err
			}
			return s.info(), true, nil
		}
	}
	id := ID(index)
	if id <= t.lastID {
		panic(fmt.Sprintf("sessions: open at index %d not above last session %d", index, t.lastID))
	}
	s := &session{id: id, key: key, ttl: t.cfg.clampTTL(ttl), openedAt: now, owner: owner.clone(),
		responses: make(map[uint64]response)}
	t.sessions[id] = s
	t.lastID = id
	if key != "" {
		t.keys[key] = id
	}
	return s.info(), false, nil
}

// Check returns nil if id names an open session, and otherwise
// ErrSessionExpired, ErrSessionClosed or ErrUnknownSession.
func (t *Table) Check(id ID) error {
	if _, ok := t.sessions[id]; ok {
		return nil
	}
	if r, ok := t.ended[id]; ok {
		return fmt.Errorf("%w: session %d", r.err(), id)
	}
	return fmt.Errorf("%w: session %d", ErrUnknownSession, id)
}

// End ends an open session for reason, dropping its responses and its
// idempotency key, and remembers it in a tombstone. Ending a session that is
// not open returns the error Check gives and changes nothing.
func (t *Table) End(id ID, reason EndReason) (Info, error) {
	if reason != Expired && reason != Closed {
		panic(fmt.Sprintf("sessions: end with invalid reason %d", reason))
	}
	s, ok := t.sessions[id]
	if !ok {
		return Info{}, t.Check(id)
	}
	info := s.info()
	delete(t.sessions, id)
	if s.key != "" {
		delete(t.keys, s.key)
	}
	t.remember(tombstone{id: id, reason: reason})
	return info, nil
}

// remember adds a tombstone and forgets the oldest beyond the bound.
func (t *Table) remember(tb tombstone) {
	if t.cfg.MaxTombstones == 0 {
		return
	}
	t.ended[tb.id] = tb.reason
	t.endedOrder = append(t.endedOrder, tb)
	for len(t.endedOrder) > t.cfg.MaxTombstones {
		delete(t.ended, t.endedOrder[0].id)
		t.endedOrder[0] = tombstone{}
		t.endedOrder = t.endedOrder[1:]
	}
}

// Get returns the open session id.
func (t *Table) Get(id ID) (Info, bool) {
	s, ok := t.sessions[id]
	if !ok {
		return Info{}, false
	}
	return s.info(), true
}

// LastID returns the highest session ID ever opened (0 if none): the next
// Open must come from a later entry.
func (t *Table) LastID() ID { return t.lastID }

// Len returns the number of open sessions.
func (t *Table) Len() int { return len(t.sessions) }

// HasKey reports whether an open session has idempotency key key.
func (t *Table) HasKey(key string) bool {
	_, ok := t.keys[key]
	return ok
}

// List returns every open session, by ID.
func (t *Table) List() []Info {
	out := make([]Info, 0, len(t.sessions))
	for _, id := range t.sortedIDs() {
		out = append(out, t.sessions[id].info())
	}
	return out
}

// Deadlines is what a new leader needs: every open session's deadline
// counted afresh from now (its election), now + TTL, by ID. Sessions thus
// survive a failover if their client reaches the new leader in time.
func (t *Table) Deadlines(now int64) []Deadline {
	out := make([]Deadline, 0, len(t.sessions))
	for _, id := range t.sortedIDs() {
		out = append(out, Deadline{ID: id, At: addDuration(now, t.sessions[id].ttl)})
	}
	return out
}

func (t *Table) sortedIDs() []ID {
	ids := make([]ID, 0, len(t.sessions))
	for id := range t.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *session) info() Info {
	return Info{ID: s.id, Key: s.key, TTL: s.ttl, OpenedAt: s.openedAt, Owner: s.owner.Principal, Mark: s.mark,
		Responses: len(s.responses)}
}

// addDuration returns now + d, saturating instead of overflowing.
func addDuration(now int64, d time.Duration) int64 {
	const maxInt64 = 1<<63 - 1
	if d > 0 && now > maxInt64-int64(d) {
		return maxInt64
	}
	return now + int64(d)
}
