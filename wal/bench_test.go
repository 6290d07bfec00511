package wal

import (
	"fmt"
	"testing"

	"github.com/lockd/lockd/consensus"
)

// BenchmarkSave measures one synced Save of n 128-byte entries plus a hard
// state, as the driver issues per Ready. Run with:
//
//	go test ./wal -run '^$' -bench BenchmarkSave -benchtime 2s
func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			w := mustOpen(b, DefaultOptions(b.TempDir()))
			data := make([]byte, 128)
			batch := make([]consensus.Entry, n)
			next := uint64(1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k := range batch {
					batch[k] = consensus.Entry{Index: next, Term: 1, Data: data}
					next++
				}
				if err := w.Save(consensus.HardState{Term: 1, Commit: next - 1}, batch, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
