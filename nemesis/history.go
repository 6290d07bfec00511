package nemesis

import (
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"
)

// Kind is what an operation in a history did.
type Kind string

// Operation kinds. Acquire, Release, Read and Check name one lock; Close
// and Expire name a session and touch every lock it holds; Cleanup is the
// SDK's own release after an Acquire whose outcome was unknown.
const (
	KindAcquire Kind = "acquire"
	KindRelease Kind = "release"
	KindRead    Kind = "read"
	KindCheck   Kind = "check"
	KindClose   Kind = "close"
	KindExpire  Kind = "expire"
	KindCleanup Kind = "cleanup"
)

// Outcome is what a client learnt about its operation.
type Outcome string

// Outcomes. Unknown means the call ended (timeout, connection lost) without
// an answer: it may or may not have been applied, and the checker treats it
// as possibly applied at any time after its call.
const (
	OutcomeOK      Outcome = "ok"      // applied and succeeded
	OutcomeHeld    Outcome = "held"    // TryAcquire: ErrLockHeld
	OutcomeFenced  Outcome = "fenced"  // Release: the token is not a current hold
	OutcomeAlready Outcome = "already" // Acquire: ErrAlreadyHolder
	OutcomeFailed  Outcome = "failed"  // a definite answer that changed nothing
	OutcomeUnknown Outcome = "unknown" // no answer
)

// Mode is a lock mode as the history records it.
type Mode string

// Lock modes.
const (
	Exclusive Mode = "x"
	Shared    Mode = "s"
)

// Holder is one holder of a lock as a read returned it.
type Holder struct {
	Session uint64 `json:"session"`
	Mode    Mode   `json:"mode"`
	Token   uint64 `json:"token"`
}

// Pending is the Return time of an operation whose outcome is unknown; the
// checker replaces it with a time after every other event.
const Pending int64 = -1

// Op is one operation of a history: who did what to which lock, when it
// was called and when it returned (nanoseconds on the monotonic clock since
// the history began), and what it returned.
type Op struct {
	ID      int      `json:"id"`
	Client  int      `json:"client"`
	Session uint64   `json:"session"`
	Lock    string   `json:"lock,omitempty"`
	Kind    Kind     `json:"kind"`
	Mode    Mode     `json:"mode,omitempty"`
	Wait    bool     `json:"wait,omitempty"`
	Token   uint64   `json:"token,omitempty"`
	Holders []Holder `json:"holders,omitempty"`
	Valid   bool     `json:"valid,omitempty"`
	Outcome Outcome  `json:"outcome"`
	Err     string   `json:"err,omitempty"`
	Call    int64    `json:"call"`
	Return  int64    `json:"return"`
}

// History records operations from many goroutines. Times come from the
// monotonic clock, relative to when the history was created.
type History struct {
	start time.Time

	mu  sync.Mutex
	ops []Op
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Now is the current time on the history's clock.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

// Add records op (its Call set by the caller from Now, its Return from Now
// or Pending) and returns its ID.
func (h *History) Add(op Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = len(h.ops)
	h.ops = append(h.ops, op)
	return op.ID
}

// Ops returns a copy of the recorded operations.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Len is the number of recorded operations.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// WriteJSON writes ops to path, one JSON document.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// sortHolders orders holders by session, the order the model keeps.
func sortHolders(hs []Holder) []Holder {
	out := append([]Holder(nil), hs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Session < out[j].Session })
	return out
}
