package server

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// BenchmarkAcquireReleasePairs measures acquire+release pairs through the
// client protocol on a three-node loopback cluster with fsync on, each
// client on its own session and lock. It reports pairs/s and the p50 and
// p99 latency of one pair.
//
//	go test ./server/ -run '^$' -bench AcquireReleasePairs -benchtime 3s
func BenchmarkAcquireReleasePairs(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchPairs(b, clients)
		})
	}
}

func benchPairs(b *testing.B, clients int) {
	c := newSvcCluster(b, 3, nil)
	lead := c.leader()
	type worker struct {
		cl   *svcClient
		s    uint64
		name string
		lat  []time.Duration
	}
	ws := make([]*worker, clients)
	for i := range ws {
		cl := dialClient(b, lead.ClientAddr())
		ws[i] = &worker{cl: cl, s: cl.open(time.Minute), name: fmt.Sprintf("bench/%d", i)}
	}
	per := b.N/clients + 1
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				t0 := time.Now()
				r, err := w.cl.acquire(w.s, w.name, false)
				if err != nil {
					b.Error(err)
					return
				}
				if err := w.cl.call(api.MsgRelease, &api.ReleaseRequest{Write: w.cl.write(w.s), Name: w.name, Token: r.Token}, nil); err != nil {
					b.Error(err)
					return
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, w := range ws {
		all = append(all, w.lat...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/elapsed.Seconds(), "pairs/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	}
	b.ReportMetric(0, "ns/op")
}
