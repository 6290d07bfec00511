package wal

import (
	"fmt"
	"testing"

	"github.com/lockd/lockd/consensus"
)

// BenchmarkSave measures one Save of n 128-byte entries plus a hard state,
// as the driver issues per Ready; "unsafe-nosync" shows the cost without
// fsync for comparison. Run with:
//
//	go test ./wal -run '^$' -bench BenchmarkSave -benchtime 2s
func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1, 64} {
		for _, unsafe := range []bool{false, true} {
			name := fmt.Sprintf("entries=%d", n)
			if unsafe {
				name += "/unsafe-nosync"
			}
			b.Run(name, func(b *testing.B) {
				opts := DefaultOptions(b.TempDir())
				opts.UnsafeNoSync = unsafe
				w := mustOpen(b, opts)
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
}

// BenchmarkEntries reads 64 recent 128-byte entries, as a leader does for
// a follower slightly behind, from the entry cache and from Badger.
//
//	go test ./wal -run '^$' -bench BenchmarkEntries
func BenchmarkEntries(b *testing.B) {
	for _, c := range []struct {
		name  string
		bytes int
	}{{"cached", 4 << 20}, {"badger", 0}} {
		b.Run(c.name, func(b *testing.B) {
			opts := DefaultOptions(b.TempDir())
			opts.CacheBytes = c.bytes
			w := mustOpen(b, opts)
			var es []consensus.Entry
			for i := uint64(1); i <= 4096; i++ {
				es = append(es, consensus.Entry{Index: i, Term: 1, Data: make([]byte, 128)})
			}
			mustSave(b, w, consensus.HardState{Term: 1, Commit: 4096}, es, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lo := uint64(4096-64*(1+i%8)) + 1
				got, err := w.Entries(lo, lo+64, noLimit)
				if err != nil || len(got) != 64 {
					b.Fatalf("Entries = %d, %v", len(got), err)
				}
			}
		})
	}
}
