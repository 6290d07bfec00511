package nemesis

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// ErrNotLinearizable: porcupine found no linearization of a lock's history.
var ErrNotLinearizable = errors.New("nemesis: history not linearizable")

// ErrCheckTimeout: porcupine ran out of time on a lock's history, so it is
// neither proven linearizable nor shown not to be.
var ErrCheckTimeout = errors.New("nemesis: linearizability check timed out")

// LockReport is the linearizability verdict on one lock's history.
type LockReport struct {
	Lock   string
	Ops    int
	Result porcupine.CheckResult
	// Visualization is the HTML file written for a failed check, if any.
	Visualization string
	// Stuck, for a failed check, are the earliest operations (by call
	// time) outside porcupine's longest partial linearization: where to
	// start reading the history.
	Stuck []Op
}

// PartitionByLock splits a history into one history per lock. Session-wide
// operations (Close, Expire) join the history of every lock their session
// touched.
func PartitionByLock(ops []Op) map[string][]Op {
	touched := map[uint64]map[string]bool{}
	out := map[string][]Op{}
	for _, op := range ops {
		if op.Lock == "" {
			continue
		}
		out[op.Lock] = append(out[op.Lock], op)
		if touched[op.Session] == nil {
			touched[op.Session] = map[string]bool{}
		}
		touched[op.Session][op.Lock] = true
	}
	for _, op := range ops {
		if op.Lock != "" {
			continue
		}
		for name := range touched[op.Session] {
			out[name] = append(out[name], op)
		}
	}
	return out
}

// porcupineOps converts a history, giving every pending operation a return
// time after everything else happened: it may take effect at any moment
// after its call, or never be observed.
func porcupineOps(ops []Op) []porcupine.Operation {
	var end int64
	for _, op := range ops {
		end = max(end, op.Call, op.Return)
	}
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		ret := op.Return
		if ret == Pending {
			ret = end + 1
		}
		out = append(out, porcupine.Operation{ClientId: op.Client, Input: op, Output: op, Call: op.Call, Return: ret})
	}
	return out
}

// CheckLinearizable checks every lock's history against LockModel, each
// within timeout. When a check fails and dir is not empty, it writes
// porcupine's visualisation to dir/<lock>.html. It returns one report per
// lock (sorted by name) and an error matching ErrNotLinearizable or
// ErrCheckTimeout if any lock failed.
func CheckLinearizable(ops []Op, timeout time.Duration, dir string) ([]LockReport, error) {
	model := LockModel()
	parts := PartitionByLock(ops)
	names := make([]string, 0, len(parts))
	for n := range parts {
		names = append(names, n)
	}
	sort.Strings(names)
	var reports []LockReport
	var errs []error
	for _, name := range names {
		res, info := porcupine.CheckOperationsVerbose(model, porcupineOps(parts[name]), timeout)
		r := LockReport{Lock: name, Ops: len(parts[name]), Result: res}
		switch res {
		case porcupine.Illegal:
			r.Stuck = stuck(parts[name], info, 3)
			var b strings.Builder
			for _, op := range r.Stuck {
				fmt.Fprintf(&b, "; first not linearized: op %d client %d [%v, %v] %s", op.ID, op.Client,
					time.Duration(op.Call), time.Duration(op.Return), DescribeOp(op))
			}
			errs = append(errs, fmt.Errorf("%w: lock %q (%d ops)%s", ErrNotLinearizable, name, r.Ops, b.String()))
		case porcupine.Unknown:
			errs = append(errs, fmt.Errorf("%w: lock %q (%d ops)", ErrCheckTimeout, name, r.Ops))
		}
		if res != porcupine.Ok && dir != "" {
			path := filepath.Join(dir, safeName(name)+".html")
			if err := os.MkdirAll(dir, 0o755); err == nil && porcupine.VisualizePath(model, info, path) == nil {
				r.Visualization = path
			}
		}
		reports = append(reports, r)
	}
	return reports, errors.Join(errs...)
}

// stuck returns the first n operations, by call time, that the longest
// partial linearization porcupine found leaves out.
func stuck(ops []Op, info porcupine.LinearizationInfo, n int) []Op {
	var best []porcupine.Operation
	for _, part := range info.PartialLinearizationsOperations() {
		for _, l := range part {
			if len(l) > len(best) {
				best = l
			}
		}
	}
	in := map[int]bool{}
	for _, o := range best {
		in[o.Input.(Op).ID] = true
	}
	sorted := append([]Op(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	var out []Op
	for _, op := range sorted {
		if !in[op.ID] && len(out) < n {
			out = append(out, op)
		}
	}
	return out
}

// safeName turns a lock name into a file name.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
