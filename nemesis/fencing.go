package nemesis

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrStaleToken: the protected resource refused an access whose fencing
// token is below the highest it has seen.
var ErrStaleToken = errors.New("nemesis: stale fencing token")

// ErrFencingViolation: the resource's log or the grants show a broken lock
// promise (overlapping holders, a lost update, a token that went back).
var ErrFencingViolation = errors.New("nemesis: fencing violation")

// ErrAtMostOnce: a request was answered as if it had been applied twice.
var ErrAtMostOnce = errors.New("nemesis: request applied more than once")

// Access is one access to a protected resource that it accepted.
type Access struct {
	Seq    int    `json:"seq"` // order of acceptance
	Client int    `json:"client"`
	Token  uint64 `json:"token"`
	Write  bool   `json:"write"`
	Value  int64  `json:"value"` // read: value seen; write: value written
	Fenced bool   `json:"fenced"`
	OpID   string `json:"op_id,omitempty"` // the client's id of this increment
	Time   int64  `json:"time"`
}

// Resource is a downstream service protected by a lock: a counter that
// accepts a read or a write only with a fencing token at least as high as
// the highest it has seen (and then remembers that token). Workers
// increment it read-modify-write while they hold the lock; every accepted
// access is logged for the checker. Safe for concurrent use.
type Resource struct {
	Name string
	h    *History

	mu      sync.Mutex
	highest uint64
	value   int64
	log     []Access
}

// NewResource returns a resource named name whose log uses h's clock.
func NewResource(name string, h *History) *Resource { return &Resource{Name: name, h: h} }

func (r *Resource) admit(token uint64) error {
	if token < r.highest {
		return fmt.Errorf("%w: %d < %d on %s", ErrStaleToken, token, r.highest, r.Name)
	}
	r.highest = token
	return nil
}

// Read returns the counter if token is not stale.
func (r *Resource) Read(client int, token uint64) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.admit(token); err != nil {
		return 0, err
	}
	r.log = append(r.log, Access{Seq: len(r.log), Client: client, Token: token, Value: r.value, Fenced: true, Time: r.h.Now()})
	return r.value, nil
}

// Write sets the counter to value if token is not stale.
func (r *Resource) Write(client int, token uint64, value int64, opID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.admit(token); err != nil {
		return err
	}
	r.value = value
	r.log = append(r.log, Access{Seq: len(r.log), Client: client, Token: token, Write: true, Value: value, Fenced: true, OpID: opID, Time: r.h.Now()})
	return nil
}

// WriteUnfenced sets the counter without looking at the token: what a
// client that ignores fencing does. Only the negative control uses it.
func (r *Resource) WriteUnfenced(client int, token uint64, value int64, opID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.value = value
	r.log = append(r.log, Access{Seq: len(r.log), Client: client, Token: token, Write: true, Value: value, OpID: opID, Time: r.h.Now()})
}

// Log returns a copy of the accepted accesses, in order.
func (r *Resource) Log() []Access {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Access(nil), r.log...)
}

// Value is the counter's current value.
func (r *Resource) Value() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.value
}

// CheckResource checks the accepted accesses of one resource guarded by an
// exclusive lock:
//   - tokens never go back: an access under token T after one under T' > T
//     means a deposed holder acted after its successor (overlapping
//     holders);
//   - one token epoch belongs to one client;
//   - no lost update: each accepted write is the previous value plus one,
//     so the final value counts every accepted increment;
//   - each increment (OpID) is accepted at most once.
func CheckResource(name string, log []Access) error {
	var errs []error
	var prevTok uint64
	owner := map[uint64]int{}
	seen := map[string]bool{}
	var value int64
	writes := 0
	for _, a := range log {
		if a.Token < prevTok {
			errs = append(errs, fmt.Errorf("%w: %s: access #%d by client %d under token %d after token %d (overlapping holders)",
				ErrFencingViolation, name, a.Seq, a.Client, a.Token, prevTok))
		}
		prevTok = max(prevTok, a.Token)
		if c, ok := owner[a.Token]; ok && c != a.Client {
			errs = append(errs, fmt.Errorf("%w: %s: token %d used by clients %d and %d", ErrFencingViolation, name, a.Token, c, a.Client))
		}
		owner[a.Token] = a.Client
		if !a.Write {
			continue
		}
		writes++
		if a.Value != value+1 {
			errs = append(errs, fmt.Errorf("%w: %s: lost update: access #%d by client %d wrote %d over %d (token %d)",
				ErrFencingViolation, name, a.Seq, a.Client, a.Value, value, a.Token))
		}
		value = a.Value
		if a.OpID != "" {
			if seen[a.OpID] {
				errs = append(errs, fmt.Errorf("%w: %s: increment %s accepted twice", ErrAtMostOnce, name, a.OpID))
			}
			seen[a.OpID] = true
		}
	}
	if value != int64(writes) {
		errs = append(errs, fmt.Errorf("%w: %s: final value %d after %d accepted increments", ErrFencingViolation, name, value, writes))
	}
	return errors.Join(errs...)
}

// CheckTokenOrder checks that a lock's grants carry strictly increasing
// tokens in real time: a grant whose Acquire returned before another
// Acquire was called has the smaller token.
func CheckTokenOrder(ops []Op) error {
	byLock := map[string][]Op{}
	for _, op := range ops {
		if op.Kind == KindAcquire && op.Outcome == OutcomeOK {
			byLock[op.Lock] = append(byLock[op.Lock], op)
		}
	}
	var errs []error
	names := make([]string, 0, len(byLock))
	for n := range byLock {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		grants := byLock[name]
		byCall := append([]Op(nil), grants...)
		sort.Slice(byCall, func(i, j int) bool { return byCall[i].Call < byCall[j].Call })
		byRet := append([]Op(nil), grants...)
		sort.Slice(byRet, func(i, j int) bool { return byRet[i].Return < byRet[j].Return })
		var best Op
		j := 0
		for _, g := range byCall {
			for ; j < len(byRet) && byRet[j].Return < g.Call; j++ {
				if byRet[j].Token > best.Token {
					best = byRet[j]
				}
			}
			if best.Token != 0 && g.Token <= best.Token {
				errs = append(errs, fmt.Errorf("%w: %s: grant op %d (token %d) follows grant op %d (token %d)",
					ErrFencingViolation, name, g.ID, g.Token, best.ID, best.Token))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckAtMostOnce reports answers that only a request applied twice can
// produce: an Acquire answered "already holder" (the workload never asks
// for a lock its session holds or may hold) and a forgotten response.
func CheckAtMostOnce(ops []Op) error {
	var errs []error
	for _, op := range ops {
		if op.Outcome == OutcomeAlready {
			errs = append(errs, fmt.Errorf("%w: op %d: session %d acquire of %s answered already-holder (applied twice, or the client lost track of a grant)", ErrAtMostOnce, op.ID, op.Session, op.Lock))
		}
	}
	return errors.Join(errs...)
}
