package raftnode

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCommit measures committed proposals per second on a three-node
// loopback cluster with fsync on, and the latency of each proposal from
// Propose to applied on the leader.
//
//	go test ./server/raftnode -run '^$' -bench BenchmarkCommit -benchtime 20000x
func BenchmarkCommit(b *testing.B) {
	for _, proposers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
			c := newTestCluster(b, 3, nil)
			lead := c.leader()
			c.propose("warmup", 10)
			payload := make([]byte, 64)
			var next atomic.Int64
			lat := make([][]time.Duration, proposers)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for p := 0; p < proposers; p++ {
				wg.Add(1)
				go func(p int) {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						_, err := lead.node.Propose(ctx, payload)
						cancel()
						if err != nil {
							b.Errorf("propose: %v", err)
							return
						}
						lat[p] = append(lat[p], time.Since(t0))
					}
				}(p)
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(lat...)
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "entries/s")
			b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
		})
	}
}
