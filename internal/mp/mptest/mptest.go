// Package mptest draws random values at the edges of msgpack's forms, for
// the tests that compare the hand-written codecs (package mp and its
// callers) with go-msgpack. Tests only.
package mptest

import (
	"math"
	"math/rand/v2"
	"strings"
)

// EdgeInts are the integers at the edges of msgpack's integer forms.
var EdgeInts = []int64{0, 1, 31, 32, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
	math.MaxInt32, math.MaxInt32 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
	-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}

// Int returns an edge integer, or one at random.
func Int(rng *rand.Rand) int64 {
	if rng.IntN(4) == 0 {
		return rng.Int64() - rng.Int64()
	}
	return EdgeInts[rng.IntN(len(EdgeInts))]
}

// Uint returns a non-negative edge integer, math.MaxUint64, or one at
// random.
func Uint(rng *rand.Rand) uint64 {
	switch rng.IntN(4) {
	case 0:
		return rng.Uint64()
	case 1:
		return math.MaxUint64
	}
	return uint64(EdgeInts[rng.IntN(len(EdgeInts))])
}

// String returns a string whose length in bytes is at or next to an edge
// of the str forms, with two-byte runes in it.
func String(rng *rand.Rand) string {
	lens := []int{0, 1, 31, 32, 255, 256, 65535, 65536}
	return strings.Repeat("é", lens[rng.IntN(len(lens))]/2) + strings.Repeat("x", rng.IntN(2))
}

// Bytes returns nil, an empty slice, or random bytes of a length at an
// edge of the bin forms.
func Bytes(rng *rand.Rand) []byte {
	switch rng.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	lens := []int{1, 255, 256, 65535, 65536}
	b := make([]byte, lens[rng.IntN(len(lens))])
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
