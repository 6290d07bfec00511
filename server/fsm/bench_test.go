package fsm

import (
	"fmt"
	"testing"

	"github.com/lockd/lockd/locks"
)

// BenchmarkApplyAcquireRelease measures one acquire+release pair through
// Apply (decode, dedup, lock table, result encoding); the commands are
// encoded before the timer starts.
func BenchmarkApplyAcquireRelease(b *testing.B) { benchApplyPairs(b, "") }

// BenchmarkApplyAcquireReleaseAuthorized is BenchmarkApplyAcquireRelease
// for a principal checked against a policy of 64 principals' grants: the
// cost of authorization at apply.
func BenchmarkApplyAcquireReleaseAuthorized(b *testing.B) { benchApplyPairs(b, "svc-31") }

func benchApplyPairs(b *testing.B, principal string) {
	f, _ := New(DefaultConfig())
	c := NewCodec()
	open, _ := c.Encode(Command{Type: CmdOpenSession, Time: 1}, OpenSessionBody{})
	f.Apply(1, open)
	index := uint64(1)
	if principal != "" {
		for i := range 64 {
			g := Grant{Principal: fmt.Sprintf("svc-%d", i), Permission: PermLock, Prefix: "jobs/"}
			cmd, _ := c.Encode(Command{Type: CmdGrant, Principal: RootPrincipal, Time: 1}, &g)
			index++
			if res, _ := f.Apply(index, cmd); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
	}
	entries := make([][]byte, 0, 2*b.N)
	for i := range b.N {
		seq, tok := uint64(2*i+1), index+uint64(2*i+1)
		acq, _ := c.Encode(Command{Type: CmdAcquire, Session: 1, Seq: seq, LowestUnanswered: seq, Time: int64(i), Principal: principal},
			AcquireBody{Name: "jobs/nightly", Mode: locks.Exclusive})
		rel, _ := c.Encode(Command{Type: CmdRelease, Session: 1, Seq: seq + 1, LowestUnanswered: seq + 1, Time: int64(i), Principal: principal},
			ReleaseBody{Name: "jobs/nightly", Token: tok})
		entries = append(entries, acq, rel)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, e := range entries {
		if res, _ := f.Apply(index+uint64(i)+1, e); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkSnapshot50kSessions measures Snapshot of 50,000 open sessions,
// each holding one lock with one kept response.
func BenchmarkSnapshot50kSessions(b *testing.B) {
	f, _ := New(DefaultConfig())
	c := NewCodec()
	index := uint64(0)
	for i := range 50_000 {
		open, _ := c.Encode(Command{Type: CmdOpenSession, Time: 1}, OpenSessionBody{Key: fmt.Sprint("client-", i)})
		index++
		res, _ := f.Apply(index, open)
		acq, _ := c.Encode(Command{Type: CmdAcquire, Session: res.Session, Seq: 1, LowestUnanswered: 1, Time: 1},
			AcquireBody{Name: fmt.Sprint("lock/", i), Mode: locks.Exclusive})
		index++
		if r, _ := f.Apply(index, acq); !r.Granted {
			b.Fatal(r.Err)
		}
	}
	var size int
	for b.Loop() {
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		size = len(snap)
	}
	b.ReportMetric(float64(size), "bytes")
}

// BenchmarkCommandCodec measures encoding a proposal and decoding it for
// apply, as the leader's handlers and every FSM do for each write.
//
//	go test ./server/fsm -run '^$' -bench CommandCodec
func BenchmarkCommandCodec(b *testing.B) {
	c := NewCodec()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			data, err := c.Encode(Command{Type: CmdAcquire, Session: 7, Seq: 9, Time: 1}, &AcquireBody{Name: "bench/lock"})
			if err != nil {
				b.Fatal(err)
			}
			cmd, err := c.Decode(data)
			if err != nil {
				b.Fatal(err)
			}
			var body AcquireBody
			if err := c.DecodeBody(cmd, &body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
