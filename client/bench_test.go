package client

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkAcquireRelease measures acquire+release pairs through the SDK
// against an in-process three-node cluster (fsync on), each of the
// concurrent workers with its own session and lock (one Client, one
// connection); it reports pairs/s and the p50/p99 latency of
// a pair. A measurement, not a pass/fail test:
//
//	go test ./client -run '^$' -bench AcquireRelease -benchtime 3s
func BenchmarkAcquireRelease(b *testing.B) {
	tc := newTestCluster(b, 3)
	c := newTestClient(b, integrationConfig(tc))
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			sessions := make([]*Session, clients)
			for i := range sessions {
				sessions[i] = newTestSession(b, c)
			}
			ctx := testCtx(b)
			defer func() {
				for _, s := range sessions {
					_ = s.Close(ctx)
				}
			}()
			lat := make([][]time.Duration, clients)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprintf("bench/%d", i)
					for n := i; n < b.N; n += clients {
						t0 := time.Now()
						l, err := sessions[i].Acquire(ctx, name)
						if err != nil {
							b.Error(err)
							return
						}
						if err := l.Release(ctx); err != nil {
							b.Error(err)
							return
						}
						lat[i] = append(lat[i], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			if len(all) == 0 {
				return
			}
			sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "pairs/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		})
	}
}
