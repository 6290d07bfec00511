package fsm

import (
	"fmt"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

const fsmSnapshotVersion = 1

// fsmSnapshot is the layout of FSM snapshots: the applied index and time,
// then each table's own deterministic encoding.
type fsmSnapshot struct {
	Version  uint8
	Index    uint64
	Time     int64
	Sessions []byte
	Locks    []byte
	// Policy is the authorization policy's grants, sorted. Omitted when
	// empty, so a snapshot without grants has the bytes it always had,
	// and a snapshot of an older version (none) restores an empty policy.
	Policy []Grant `codec:",omitempty"`
}

// Snapshot encodes the whole state (applied index and time, sessions with
// their dedup windows, locks with queues, delays and revisions, the
// authorization policy). The same
// state always gives the same bytes.
func (f *Machine) Snapshot() ([]byte, error) {
	ss, err := f.sessions.Snapshot()
	if err != nil {
		return nil, err
	}
	ls, err := f.locks.Snapshot()
	if err != nil {
		return nil, err
	}
	st := fsmSnapshot{Version: fsmSnapshotVersion, Index: f.index, Time: f.now, Sessions: ss, Locks: ls, Policy: f.policy.grants}
	out, err := f.codec.encode(&st)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode snapshot: %w", err)
	}
	return out, nil
}

// Restore replaces the state with a snapshot's; empty data is the initial
// state. It checks that every session the lock table names is open. On
// error the FSM is unchanged.
func (f *Machine) Restore(data []byte) error {
	if len(data) == 0 {
		f.reset()
		return nil
	}
	st, err := f.decodeSnapshot(data)
	if err != nil {
		return err
	}
	f.sessions, f.locks, f.policy, f.index, f.now = st.sessions, st.locks, st.policy, st.index, st.now
	return nil
}

// CheckSnapshot reports, with ErrCorruptSnapshot, whether Restore would
// refuse data, without touching the state: a node checks a snapshot a peer
// sent before anything is written over its own. It reads only the
// machine's configuration, so it may run on any goroutine, concurrently
// with the machine's other methods.
func (f *Machine) CheckSnapshot(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	_, err := f.decodeSnapshot(data)
	return err
}

// decodedSnapshot is a snapshot decoded into fresh tables.
type decodedSnapshot struct {
	sessions *sessions.Table
	locks    *locks.Table
	policy   policy
	index    uint64
	now      int64
}

// decodeSnapshot decodes data into new tables and checks that every
// session the lock table names is open.
func (f *Machine) decodeSnapshot(data []byte) (decodedSnapshot, error) {
	var st fsmSnapshot
	if err := f.codec.decode(data, &st); err != nil {
		return decodedSnapshot{}, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	if st.Version != fsmSnapshotVersion {
		return decodedSnapshot{}, fmt.Errorf("%w: version %d, want %d", ErrCorruptSnapshot, st.Version, fsmSnapshotVersion)
	}
	ss, _ := sessions.New(f.cfg.Sessions)
	if err := ss.Restore(st.Sessions); err != nil {
		return decodedSnapshot{}, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	if last := uint64(ss.LastID()); last > st.Index {
		return decodedSnapshot{}, fmt.Errorf("%w: session %d opened after applied index %d", ErrCorruptSnapshot, last, st.Index)
	}
	ls, _ := locks.New(f.cfg.Locks)
	if err := ls.Restore(st.Locks); err != nil {
		return decodedSnapshot{}, fmt.Errorf("%w: %w", ErrCorruptSnapshot, err)
	}
	for _, l := range ls.List() {
		for _, h := range l.Holders {
			if _, ok := ss.Get(sessions.ID(h.Session)); !ok {
				return decodedSnapshot{}, fmt.Errorf("%w: lock %q held by session %d that is not open", ErrCorruptSnapshot, l.Name, h.Session)
			}
		}
		for _, w := range l.Waiters {
			if _, ok := ss.Get(sessions.ID(w.Session)); !ok {
				return decodedSnapshot{}, fmt.Errorf("%w: lock %q awaited by session %d that is not open", ErrCorruptSnapshot, l.Name, w.Session)
			}
		}
	}
	pol, err := restorePolicy(st.Policy)
	if err != nil {
		return decodedSnapshot{}, fmt.Errorf("%w: policy: %w", ErrCorruptSnapshot, err)
	}
	return decodedSnapshot{sessions: ss, locks: ls, policy: pol, index: st.Index, now: st.Time}, nil
}
