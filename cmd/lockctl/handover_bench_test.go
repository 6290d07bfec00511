package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkElectHandover measures how long an election run with
// `lockctl elect` (default TTL 10s, default lock-delay) has no leader when
// its leader's lockctl gets SIGTERM (it resigns: one commit) and when it
// is killed with SIGKILL (its session expires: up to the TTL after its
// last keep-alive, plus the lock-delay). Each round elects a leader, queues
// a second candidate behind it, stops the leader and times from the
// signal to the second candidate's "elected" line. It reports the median
// and the worst round, in ms:
//
//	go test ./cmd/lockctl -run '^$' -bench ElectHandover -benchtime 5x
func BenchmarkElectHandover(b *testing.B) {
	c := cluster(b)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"resign", syscall.SIGTERM}, {"killed", syscall.SIGKILL}} {
		b.Run(tc.name, func(b *testing.B) {
			var rounds []time.Duration
			for i := 0; i < b.N; i++ {
				rounds = append(rounds, handoverRound(b, c, "bench/handover-"+tc.name, tc.sig))
			}
			slices.Sort(rounds)
			b.ReportMetric(float64(rounds[len(rounds)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(rounds[len(rounds)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// electProc is a running `lockctl elect` whose "elected" line is timed.
type electProc struct {
	cmd     *exec.Cmd
	elected chan time.Time // receives when the elected line is read
	done    chan struct{}
}

func startElect(b *testing.B, c *testCluster, name, value string) *electProc {
	b.Helper()
	cmd := exec.Command(lockctlBinary(b), "elect", name, value)
	cmd.Env = append(os.Environ(), "LOCKD_ENDPOINTS="+c.endpoints())
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &electProc{cmd: cmd, elected: make(chan time.Time, 1), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "elected:") {
				p.elected <- time.Now()
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *electProc) waitElected(b *testing.B) time.Time {
	b.Helper()
	select {
	case at := <-p.elected:
		return at
	case <-p.done:
		b.Fatalf("lockctl elect exited before being elected")
	case <-time.After(60 * time.Second):
		b.Fatalf("not elected within 60s")
	}
	return time.Time{}
}

// handoverRound elects a leader, queues a second candidate, stops the
// leader with sig, and returns the time from the signal to the second's
// election.
func handoverRound(b *testing.B, c *testCluster, name string, sig syscall.Signal) time.Duration {
	b.Helper()
	first := startElect(b, c, name, "first")
	first.waitElected(b)
	second := startElect(b, c, name, "second")
	sdk := c.sdk(b)
	waitForTB(b, 30*time.Second, "the second candidate to queue", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		info, err := sdk.GetLock(ctx, name)
		return err == nil && len(info.Waiters) == 1
	})
	at := time.Now()
	if err := first.cmd.Process.Signal(sig); err != nil {
		b.Fatal(err)
	}
	took := second.waitElected(b).Sub(at)
	_ = second.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-second.done:
	case <-time.After(30 * time.Second):
		b.Fatal("second candidate did not resign within 30s")
	}
	<-first.done
	return took
}

// waitForTB polls cond every 5 ms until it holds, failing after bound.
func waitForTB(tb testing.TB, bound time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
