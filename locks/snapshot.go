package locks

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

const snapshotVersion = 1

// The snapshot layout: locks by name with holders and waiters in their
// order, then the freed-lock records oldest first. No maps, so the same
// table always encodes to the same bytes.
type snapTable struct {
	Version uint8
	Locks   []snapLock
	Freed   []snapFreed
}

type snapLock struct {
	Name       string
	Holders    []Holder
	Waiters    []Waiter
	DelayUntil int64
	Revision   uint64
}

type snapFreed struct {
	Name     string
	Revision uint64
}

func newHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.Canonical = true
	h.MaxInitLen = 4096
	return h
}

// Snapshot encodes the whole table (holders, queues, lock-delays,
// revisions, freed-lock revisions) deterministically.
func (t *Table) Snapshot() ([]byte, error) {
	st := snapTable{Version: snapshotVersion}
	for _, name := range slices.Sorted(maps.Keys(t.locks)) {
		l := t.locks[name]
		st.Locks = append(st.Locks, snapLock{Name: name, Holders: l.holders, Waiters: l.waiters.slice(),
			DelayUntil: l.delayUntil, Revision: l.revision})
	}
	for _, r := range t.freedOrder {
		st.Freed = append(st.Freed, snapFreed{Name: r.name, Revision: r.revision})
	}
	var out []byte
	if err := codec.NewEncoderBytes(&out, newHandle()).Encode(&st); err != nil {
		return nil, fmt.Errorf("locks: encode snapshot: %w", err)
	}
	return out, nil
}

// Restore replaces the table's contents with a snapshot's, checking the
// table's invariants. On error the table is unchanged.
func (t *Table) Restore(data []byte) error {
	var st snapTable
	if err := codec.NewDecoderBytes(data, newHandle()).Decode(&st); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	if st.Version != snapshotVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrCorruptSnapshot, st.Version, snapshotVersion)
	}
	nt := newTable(t.cfg)
	for i, sl := range st.Locks {
		if sl.Name == "" || (i > 0 && sl.Name <= st.Locks[i-1].Name) {
			return fmt.Errorf("%w: lock %q empty or out of order", ErrCorruptSnapshot, sl.Name)
		}
		l := &lock{name: sl.Name, holders: sl.Holders, delayUntil: sl.DelayUntil, revision: sl.Revision}
		// The waiters' index is derived here; the snapshot holds only
		// the queue.
		for _, w := range sl.Waiters {
			if !l.waiters.push(w) {
				return fmt.Errorf("%w: lock %q: session %d waits twice", ErrCorruptSnapshot, sl.Name, w.Session)
			}
		}
		if err := l.check(); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
		}
		nt.locks[l.name] = l
		for _, h := range l.holders {
			nt.link(h.Session, l.name)
		}
		for w := range l.waiters.all() {
			nt.link(w.Session, l.name)
		}
		if l.delayUntil != 0 {
			nt.delayed[l.name] = struct{}{}
		}
	}
	if len(st.Freed) > t.cfg.MaxFreed {
		st.Freed = st.Freed[len(st.Freed)-t.cfg.MaxFreed:]
	}
	for _, r := range st.Freed {
		if r.Name == "" || r.Revision == 0 {
			return fmt.Errorf("%w: freed record %q at revision %d", ErrCorruptSnapshot, r.Name, r.Revision)
		}
		nt.rememberFreed(freedRec{name: r.Name, revision: r.Revision})
	}
	*t = *nt
	return nil
}

// check verifies one lock's invariants.
func (l *lock) check() error {
	if l.idle() {
		return fmt.Errorf("lock %q is idle", l.name)
	}
	seen := make(map[uint64]bool, len(l.holders)+l.waiters.Len())
	for _, h := range l.holders {
		if !h.Mode.valid() || h.Mode != l.holders[0].Mode || h.Token == 0 || seen[h.Session] {
			return fmt.Errorf("lock %q: bad holder %+v", l.name, h)
		}
		seen[h.Session] = true
	}
	if len(l.holders) > 1 && l.holders[0].Mode == Exclusive {
		return fmt.Errorf("lock %q: %d exclusive holders", l.name, len(l.holders))
	}
	if err := l.waiters.check(); err != nil {
		return fmt.Errorf("lock %q: %w", l.name, err)
	}
	for w := range l.waiters.all() {
		if !w.Mode.valid() || seen[w.Session] {
			return fmt.Errorf("lock %q: bad waiter %+v", l.name, w)
		}
		seen[w.Session] = true
	}
	if l.delayUntil == 0 && headRun(l.holders, &l.waiters) > 0 {
		return fmt.Errorf("lock %q: head waiter grantable", l.name)
	}
	return nil
}
