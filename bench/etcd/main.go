// Command etcdbench measures lock acquire+release pairs on etcd through
// its concurrency package (clientv3/concurrency.Mutex), the way `lockctl
// bench` measures lockd, so the two can be compared on one machine. See
// README.md in this directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated etcd client addresses")
	clients := flag.Int("clients", 4, "concurrent clients, each with a session (lease) of its own")
	conns := flag.Int("conns", 0, "etcd clients (connections) the clients share, round robin (default: one per client)")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	mode := flag.String("mode", "uncontended", "uncontended (a lock per client) or contended (one lock)")
	ttl := flag.Int("ttl", 10, "session TTL in seconds")
	flag.Parse()
	if *conns == 0 {
		*conns = *clients
	}
	if *clients < 1 || *conns < 1 || *conns > *clients || *duration <= 0 || *ttl < 1 ||
		(*mode != "uncontended" && *mode != "contended") {
		fmt.Fprintln(os.Stderr, "etcdbench: need --clients >= 1, 1 <= --conns <= --clients, --duration > 0, --ttl >= 1, --mode uncontended|contended")
		os.Exit(2)
	}
	if err := run(strings.Split(*endpoints, ","), *clients, *conns, *duration, *mode, *ttl); err != nil {
		fmt.Fprintln(os.Stderr, "etcdbench:", err)
		os.Exit(1)
	}
}

type worker struct {
	mu   *concurrency.Mutex
	lat  []time.Duration
	errs int
	err  error
}

func run(endpoints []string, clients, conns int, duration time.Duration, mode string, ttl int) error {
	cls := make([]*clientv3.Client, conns)
	for i := range cls {
		cl, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer cl.Close()
		cls[i] = cl
	}
	prefix := fmt.Sprintf("/etcdbench/%d/", time.Now().UnixNano())
	ws := make([]*worker, clients)
	for i := range ws {
		s, err := concurrency.NewSession(cls[i%conns], concurrency.WithTTL(ttl))
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		defer s.Close()
		name := prefix + "contended"
		if mode == "uncontended" {
			name = fmt.Sprintf("%s%d", prefix, i)
		}
		ws[i] = &worker{mu: concurrency.NewMutex(s, name)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				err := w.mu.Lock(ctx)
				if err == nil {
					err = w.mu.Unlock(ctx)
				}
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					w.errs++
					if w.err == nil {
						w.err = err
					}
					continue
				}
				w.lat = append(w.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := min(time.Since(start), duration)
	var all []time.Duration
	errs := 0
	var firstErr error
	for _, w := range ws {
		all = append(all, w.lat...)
		errs += w.errs
		if firstErr == nil {
			firstErr = w.err
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("no operation succeeded: %w", firstErr)
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "etcdbench: %d operations failed; first: %v\n", errs, firstErr)
	}
	slices.Sort(all)
	pct := func(p int) time.Duration { return all[max(0, (len(all)*p+99)/100-1)] }
	fmt.Printf("%s: %d clients on %d connections for %.1fs: %d ops (lock+unlock), %d errors\n",
		mode, clients, conns, elapsed.Seconds(), len(all), errs)
	fmt.Printf("OPS/S\tP50\tP90\tP99\tMAX\n%.1f\t%v\t%v\t%v\t%v\n", float64(len(all))/elapsed.Seconds(),
		pct(50).Round(10*time.Microsecond), pct(90).Round(10*time.Microsecond), pct(99).Round(10*time.Microsecond), all[len(all)-1].Round(10*time.Microsecond))
	return nil
}
