package locks

import (
	"fmt"
	"testing"
)

// BenchmarkWaiters measures one wait and one cancel on a lock whose queue
// holds n waiters behind an exclusive holder: each iteration cancels the
// head waiter and queues it again at the tail, so the queue keeps n
// waiters. With a linear search each costs O(n); with the index, O(1).
func BenchmarkWaiters(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			cfg := DefaultConfig()
			tb, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			var index uint64
			now := int64(1_000)
			acquire := func(s uint64, wait bool) {
				index++
				res, _, err := tb.Acquire(index, now, AcquireRequest{Session: s, Name: "q", Mode: Exclusive, Wait: wait})
				if err != nil || (wait && res.Granted) {
					b.Fatalf("acquire %d: %+v %v", s, res, err)
				}
			}
			acquire(1, false)
			for s := range uint64(n) {
				acquire(2+s, true)
			}
			head := uint64(2)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				index++
				if _, err := tb.CancelWait(index, now, head, "q"); err != nil {
					b.Fatal(err)
				}
				acquire(head, true)
				head++
				if head == 2+uint64(n) {
					head = 2
				}
			}
		})
	}
}
