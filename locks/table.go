package locks

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// lock is one lock that has holders, waiters or a pending lock-delay; a lock
// with none of them is not in the table.
type lock struct {
	name string
	// holders in grant order. Invariant: either one Exclusive holder or any
	// number of Shared ones; no session appears twice among holders and
	// waiters together.
	holders []Holder
	// waiters in FIFO order, indexed by session. Invariant: unless a
	// lock-delay is set, the head waiter is not compatible with the holders
	// (else it would hold).
	waiters waitQueue
	// delayUntil: no grants while now < delayUntil; 0 = no delay.
	delayUntil int64
	// revision is the index of the entry that last changed holders or a
	// holder's value.
	revision uint64
}

// freedState is freed's entry for one name.
type freedState struct {
	revision uint64
	records  int
}

// freedRec remembers the revision at which a lock was freed and dropped.
type freedRec struct {
	name     string
	revision uint64
}

// Table is the replicated lock table. It is not safe for concurrent use.
type Table struct {
	cfg   Config
	locks map[string]*lock
	// bySession indexes, per session, the names of the locks it holds or
	// waits for. Derived from locks; rebuilt on Restore.
	bySession map[uint64]map[string]struct{}
	// delayed holds the names of locks with delayUntil != 0. Derived.
	delayed map[string]struct{}
	// freedOrder remembers the revisions of the last MaxFreed drops of a
	// lock, oldest first; freed is derived from it: per name, the latest
	// revision and how many records of the name freedOrder holds. A name may
	// be in both locks and freed; locks wins.
	freed      map[string]freedState
	freedOrder []freedRec
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
		cfg:       cfg,
		locks:     make(map[string]*lock),
		bySession: make(map[uint64]map[string]struct{}),
		delayed:   make(map[string]struct{}),
		freed:     make(map[string]freedState),
	}
}

// Config returns the table's configuration.
func (t *Table) Config() Config { return t.cfg }

// ValidateName checks a lock name: 1..MaxNameLen bytes of UTF-8 without NUL.
func (t *Table) ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > t.cfg.MaxNameLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidName, len(name), t.cfg.MaxNameLen)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: contains NUL", ErrInvalidName)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	return nil
}

func (t *Table) validateValue(v []byte) error {
	if len(v) > t.cfg.MaxValueLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrValueTooLarge, len(v), t.cfg.MaxValueLen)
	}
	return nil
}

// Get returns one lock. A lock not in the table is free; its Info then
// carries the revision at which it was freed if the table remembers it.
func (t *Table) Get(name string) Info {
	if l, ok := t.locks[name]; ok {
		return l.info()
	}
	return Info{Name: name, Revision: t.freed[name].revision}
}

// List returns every lock that has holders, waiters or a lock-delay, by name.
func (t *Table) List() []Info {
	out := make([]Info, 0, len(t.locks))
	for _, name := range slices.Sorted(maps.Keys(t.locks)) {
		out = append(out, t.locks[name].info())
	}
	return out
}

// Len returns the number of locks in the table.
func (t *Table) Len() int { return len(t.locks) }

// SessionLockCount returns how many locks a session holds or waits for,
// and whether name is one of them.
func (t *Table) SessionLockCount(session uint64, name string) (n int, has bool) {
	s := t.bySession[session]
	_, has = s[name]
	return len(s), has
}

// SessionLocks returns the locks a session holds or waits for, by name.
func (t *Table) SessionLocks(session uint64) []Info {
	names := slices.Sorted(maps.Keys(t.bySession[session]))
	out := make([]Info, 0, len(names))
	for _, name := range names {
		out = append(out, t.locks[name].info())
	}
	return out
}

// CheckToken reports whether token is the fencing token of a current holder
// of the lock (for a shared lock, of any holder): Chubby's CheckSequencer.
func (t *Table) CheckToken(name string, token uint64) bool {
	l, ok := t.locks[name]
	if !ok || token == 0 {
		return false
	}
	for _, h := range l.holders {
		if h.Token == token {
			return true
		}
	}
	return false
}

// NextDeadline returns the earliest end of a pending lock-delay: the leader
// proposes Tick at that time so the waiters behind it are granted.
func (t *Table) NextDeadline() (at int64, ok bool) {
	for name := range t.delayed { // min is order-independent
		d := t.locks[name].delayUntil
		if !ok || d < at {
			at, ok = d, true
		}
	}
	return at, ok
}

func (l *lock) info() Info {
	in := Info{Name: l.name, DelayUntil: l.delayUntil, Revision: l.revision}
	in.Holders = cloneHolders(l.holders)
	for w := range l.waiters.all() {
		w.Value = slices.Clone(w.Value)
		in.Waiters = append(in.Waiters, w)
	}
	return in
}

func cloneHolders(hs []Holder) []Holder {
	out := make([]Holder, len(hs))
	for i, h := range hs {
		h.Value = slices.Clone(h.Value)
		out[i] = h
	}
	return out
}

// role returns where session appears in l: as holder i (-1 if not a
// holder), and whether it waits. Finding a waiter takes O(1), however long
// the queue.
func (l *lock) role(session uint64) (holder int, waiting bool) {
	for i, h := range l.holders {
		if h.Session == session {
			return i, false
		}
	}
	return -1, l.waiters.has(session)
}

// idle reports whether l may be dropped from the table.
func (l *lock) idle() bool {
	return len(l.holders) == 0 && l.waiters.Len() == 0 && l.delayUntil == 0
}

// compatible reports whether a request in mode m can hold together with
// holders.
func compatible(holders []Holder, m Mode) bool {
	if len(holders) == 0 {
		return true
	}
	return m == Shared && holders[0].Mode == Shared
}

func (t *Table) link(session uint64, name string) {
	s := t.bySession[session]
	if s == nil {
		s = make(map[string]struct{})
		t.bySession[session] = s
	}
	s[name] = struct{}{}
}

func (t *Table) unlink(session uint64, name string) {
	s := t.bySession[session]
	delete(s, name)
	if len(s) == 0 {
		delete(t.bySession, session)
	}
}

// lookupOrCreate returns the lock, creating it (taking over a remembered
// freed revision) if absent.
func (t *Table) lookupOrCreate(name string) *lock {
	if l, ok := t.locks[name]; ok {
		return l
	}
	l := &lock{name: name, revision: t.freed[name].revision}
	t.locks[name] = l
	return l
}

// dropIfIdle removes an idle lock and remembers its revision.
func (t *Table) dropIfIdle(l *lock) {
	if !l.idle() {
		return
	}
	delete(t.locks, l.name)
	t.rememberFreed(freedRec{name: l.name, revision: l.revision})
}

func (t *Table) rememberFreed(r freedRec) {
	if t.cfg.MaxFreed == 0 || r.revision == 0 {
		return
	}
	t.freed[r.name] = freedState{revision: r.revision, records: t.freed[r.name].records + 1}
	t.freedOrder = append(t.freedOrder, r)
	for len(t.freedOrder) > t.cfg.MaxFreed {
		old := t.freedOrder[0].name
		// A name freed again later keeps its newer revision until its
		// last record goes.
		if st := t.freed[old]; st.records <= 1 {
			delete(t.freed, old)
		} else {
			st.records--
			t.freed[old] = st
		}
		t.freedOrder[0] = freedRec{}
		t.freedOrder = t.freedOrder[1:]
	}
}

// setDelay records a lock-delay ending at until, keeping the later end.
func (t *Table) setDelay(l *lock, until int64) {
	if until > l.delayUntil {
		l.delayUntil = until
	}
	t.delayed[l.name] = struct{}{}
}

// Leader returns the election view of a lock: its first (oldest) holder,
// whose value names the leader, and the lock's revision. ok is false while
// nobody holds it.
func (t *Table) Leader(name string) (leader Holder, revision uint64, ok bool) {
	l, found := t.locks[name]
	if !found || len(l.holders) == 0 {
		return Holder{}, t.Get(name).Revision, false
	}
	return cloneHolders(l.holders[:1])[0], l.revision, true
}

// ChangedSince answers an observer that last saw the lock at revision
// since: the lock now, and whether its holders or values may differ from
// what the observer saw (the revision moved, including back to 0 when a
// freed lock's revision was forgotten).
func (t *Table) ChangedSince(name string, since uint64) (Info, bool) {
	in := t.Get(name)
	return in, in.Revision != since
}
