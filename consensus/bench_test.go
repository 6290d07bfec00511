package consensus

import (
	"fmt"
	"testing"
)

// BenchmarkProposeCommitThreeNodes measures the core alone: one proposal
// at a time through a three-node in-process network (persist to
// MemoryStorage, deliver, apply) until it is applied everywhere.
func BenchmarkProposeCommitThreeNodes(b *testing.B) {
	nw := newNetwork(b, 3)
	nw.campaign("n1")
	data := make([]byte, 128)
	b.ResetTimer()
	for range b.N {
		if _, _, err := nw.nodes["n1"].r.Propose(data); err != nil {
			b.Fatal(err)
		}
		nw.stabilize()
	}
	b.StopTimer()
	if got := nw.nodes["n3"].r.log.applied; got < uint64(b.N) {
		b.Fatalf("applied %d of %d", got, b.N)
	}
}

// BenchmarkProposeBatchedThreeNodes measures batching: 64 proposals per
// round of persist/deliver, as a driver collects them during one fsync.
func BenchmarkProposeBatchedThreeNodes(b *testing.B) {
	for _, batch := range []int{16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			nw := newNetwork(b, 3)
			nw.campaign("n1")
			data := make([]byte, 128)
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				for range batch {
					if _, _, err := nw.nodes["n1"].r.Propose(data); err != nil {
						b.Fatal(err)
					}
				}
				nw.stabilize()
			}
		})
	}
}
