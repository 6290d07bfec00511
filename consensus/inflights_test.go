package consensus

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// contents lists the window's indexes, oldest first.
func (in *inflights) contents() []uint64 {
	out := []uint64{}
	for i := range in.count() {
		out = append(out, in.at(i))
	}
	return out
}

// inflightsOp is one call on an inflights window, for table tests.
type inflightsOp struct {
	op    string // "add", "freeTo", "freeFirstOne", "reset"
	index uint64
}

func (o inflightsOp) apply(in *inflights) {
	switch o.op {
	case "add":
		in.add(o.index)
	case "freeTo":
		in.freeTo(o.index)
	case "freeFirstOne":
		in.freeFirstOne()
	case "reset":
		in.reset()
	default:
		panic("unknown op " + o.op)
	}
}

func opAdd(i uint64) inflightsOp    { return inflightsOp{"add", i} }
func opFreeTo(i uint64) inflightsOp { return inflightsOp{"freeTo", i} }

var opFreeFirstOne = inflightsOp{op: "freeFirstOne"}

// Reference: Raft thesis §10.2.1 (pipelining bounded by a window): the
// window holds what was sent and not acknowledged, oldest first, however
// often the ring wraps.
func TestInflightsHoldsUnacknowledgedIndexesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		ops      []inflightsOp
		want     []uint64
		wantFull bool
	}{
		{"empty window", 3, nil, []uint64{}, false},
		{"adds fill the window", 3, []inflightsOp{opAdd(5), opAdd(7), opAdd(9)}, []uint64{5, 7, 9}, true},
		{"freeTo releases every index at or below it", 3,
			[]inflightsOp{opAdd(5), opAdd(7), opAdd(9), opFreeTo(7)}, []uint64{9}, false},
		{"freeTo between indexes releases only those below", 3,
			[]inflightsOp{opAdd(5), opAdd(7), opAdd(9), opFreeTo(6)}, []uint64{7, 9}, false},
		{"freeTo below the oldest releases nothing", 3,
			[]inflightsOp{opAdd(5), opAdd(7), opFreeTo(4)}, []uint64{5, 7}, false},
		{"freeTo past the newest empties the window", 3,
			[]inflightsOp{opAdd(5), opAdd(7), opAdd(9), opFreeTo(100)}, []uint64{}, false},
		{"freeTo on an empty window is a no-op", 3, []inflightsOp{opFreeTo(10)}, []uint64{}, false},
		{"an add after a free wraps around the ring", 3,
			[]inflightsOp{opAdd(5), opAdd(7), opAdd(9), opFreeTo(6), opAdd(11)}, []uint64{7, 9, 11}, true},
		{"freeTo across the wrap point", 3,
			[]inflightsOp{opAdd(5), opAdd(7), opAdd(9), opFreeTo(7), opAdd(11), opAdd(13), opFreeTo(11)}, []uint64{13}, false},
		{"freeFirstOne releases only the oldest", 3,
			[]inflightsOp{opAdd(5), opAdd(7), opAdd(9), opFreeFirstOne}, []uint64{7, 9}, false},
		{"freeFirstOne on an empty window is a no-op", 3, []inflightsOp{opFreeFirstOne}, []uint64{}, false},
		{"reset empties the window", 3,
			[]inflightsOp{opAdd(5), opAdd(7), {op: "reset"}, opAdd(1)}, []uint64{1}, false},
		{"a window of one is full after one add", 1, []inflightsOp{opAdd(3)}, []uint64{3}, true},
		{"a window of one reopens when acknowledged", 1,
			[]inflightsOp{opAdd(3), opFreeTo(3), opAdd(4)}, []uint64{4}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInflights(tc.size)
			for _, op := range tc.ops {
				op.apply(in)
			}
			if got := in.contents(); !slices.Equal(got, tc.want) {
				t.Fatalf("window %v, want %v", got, tc.want)
			}
			if in.count() != len(tc.want) || in.full() != tc.wantFull {
				t.Fatalf("count %d full %v, want %d %v", in.count(), in.full(), len(tc.want), tc.wantFull)
			}
		})
	}
}

// The window refuses what the leader never does: sending past it, or a
// MsgApp that does not go past the one before.
func TestInflightsPanicsOnAddBeyondItsContract(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		setup []inflightsOp
		add   uint64
		want  string
	}{
		{"add to a full window", 2, []inflightsOp{opAdd(1), opAdd(2)}, 3, "full inflights window"},
		{"add below the newest", 3, []inflightsOp{opAdd(5)}, 4, "inflight index 4 not above 5"},
		{"add equal to the newest", 3, []inflightsOp{opAdd(5)}, 5, "inflight index 5 not above 5"},
		{"add below the newest after a wrap", 2,
			[]inflightsOp{opAdd(1), opAdd(2), opFreeTo(1), opAdd(3), opFreeTo(2)}, 3, "inflight index 3 not above 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInflights(tc.size)
			for _, op := range tc.setup {
				op.apply(in)
			}
			mustPanic(t, tc.want, func() { in.add(tc.add) })
		})
	}
}

// checkBelow is the progress invariant that every index in flight is below
// the follower's Next.
func TestInflightsCheckBelowPanicsUnlessEveryIndexIsBelowNext(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ops   []inflightsOp
		next  uint64
		panic bool
	}{
		{"empty window, any next", nil, 1, false},
		{"newest below next", []inflightsOp{opAdd(5), opAdd(7)}, 8, false},
		{"newest equal to next", []inflightsOp{opAdd(5), opAdd(7)}, 7, true},
		{"newest above next", []inflightsOp{opAdd(5), opAdd(7)}, 6, true},
		{"newest above next after a wrap", []inflightsOp{opAdd(5), opAdd(7), opFreeTo(5), opAdd(9)}, 9, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newInflights(2)
			for _, op := range tc.ops {
				op.apply(in)
			}
			if tc.panic {
				mustPanic(t, "not below next", func() { in.checkBelow(tc.next) })
			} else if msg, ok := panicOf(func() { in.checkBelow(tc.next) }); ok {
				t.Fatalf("checkBelow(%d) panicked: %s", tc.next, msg)
			}
		})
	}
}

// A seeded random walk of adds and frees keeps the ring equal to a plain
// slice model, for several window sizes (every wrap-around position).
func TestInflightsMatchesASliceModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for size := 1; size <= 5; size++ {
		in := newInflights(size)
		var model []uint64
		next := uint64(1)
		for step := range 2000 {
			switch k := rng.IntN(10); {
			case k < 5 && len(model) < size:
				next += uint64(1 + rng.IntN(3))
				in.add(next)
				model = append(model, next)
			case k < 8:
				to := next - uint64(rng.IntN(6))
				in.freeTo(to)
				for len(model) > 0 && model[0] <= to {
					model = model[1:]
				}
			case k < 9:
				in.freeFirstOne()
				if len(model) > 0 {
					model = model[1:]
				}
			default:
				if rng.IntN(20) == 0 {
					in.reset()
					model = nil
				}
			}
			if got := in.contents(); !slices.Equal(got, append([]uint64{}, model...)) || in.full() != (len(model) == size) {
				t.Fatalf("size %d step %d: window %v full %v, model %v", size, step, got, in.full(), model)
			}
		}
	}
}
