package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// Bench modes.
const (
	benchUncontended = "uncontended"
	benchContended   = "contended"
)

// progressInterval is how often the progress line is redrawn.
const progressInterval = 200 * time.Millisecond

// benchConfig is what `bench` measures.
type benchConfig struct {
	clients int
	// conns is how many SDK clients (each one connection) the clients
	// share, round robin; 0 means one each.
	conns    int
	duration time.Duration
	mode     string
	ttl      time.Duration
	// prefix names the locks (a fresh one per run, so runs never meet).
	prefix string
}

// benchDoc is the JSON of `bench`.
type benchDoc struct {
	Mode            string       `json:"mode"`
	Clients         int          `json:"clients"`
	Conns           int          `json:"conns"`
	DurationSeconds float64      `json:"duration_seconds"`
	Ops             int64        `json:"ops"`
	Errors          int64        `json:"errors"`
	OpsPerSecond    float64      `json:"ops_per_second"`
	LatencyMS       latencyMSDoc `json:"latency_ms"`
}

// latencyMSDoc: latencies of one operation (acquire then release) in
// milliseconds.
type latencyMSDoc struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func benchDocFrom(cfg benchConfig, elapsed time.Duration, ops, errs int64, lat latencies) benchDoc {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(ops) / elapsed.Seconds()
	}
	return benchDoc{
		Mode: cfg.mode, Clients: cfg.clients, Conns: cfg.connections(), DurationSeconds: elapsed.Seconds(),
		Ops: ops, Errors: errs, OpsPerSecond: rate,
		LatencyMS: latencyMSDoc{P50: ms(lat.P50), P90: ms(lat.P90), P99: ms(lat.P99), Max: ms(lat.Max), Mean: ms(lat.Mean)},
	}
}

func (d benchDoc) table(t *tableWriter) {
	t.text("%s: %d clients on %d connections for %.1fs: %d ops (acquire+release), %d errors",
		d.Mode, d.Clients, d.Conns, d.DurationSeconds, d.Ops, d.Errors)
	t.row("OPS/S", "P50", "P90", "P99", "MAX", "MEAN")
	f := func(v float64) string { return fmt.Sprintf("%.2fms", v) }
	t.row(fmt.Sprintf("%.1f", d.OpsPerSecond), f(d.LatencyMS.P50), f(d.LatencyMS.P90), f(d.LatencyMS.P99), f(d.LatencyMS.Max), f(d.LatencyMS.Mean))
}

func (l *lockctl) benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure lock throughput and latency",
		Description: "Each client opens its own session and repeats acquire+release: uncontended,\n" +
			"each on a lock of its own; contended, all on one lock (every operation is a\n" +
			"hand-off through the queue). Each client has a connection of its own, or with\n" +
			"--conns the clients share that many, as goroutines of one service share its\n" +
			"SDK client. Prints ops/s and latency percentiles of one acquire+release; on a\n" +
			"terminal, a progress bar meanwhile.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "clients", Value: 4, Usage: "concurrent clients"},
			&cli.IntFlag{Name: "conns", Usage: "connections the clients share (default: one per client)"},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "how long to run"},
			&cli.StringFlag{Name: "mode", Value: benchUncontended, Usage: "uncontended or contended"},
			&cli.DurationFlag{Name: "ttl", Value: 10 * time.Second, Usage: "session TTL of each client, positive (the server clamps it to its range)"},
		},
		Action: func(c *cli.Context) error {
			if err := exactArgs(c); err != nil {
				return err
			}
			cfg := benchConfig{clients: c.Int("clients"), conns: c.Int("conns"), duration: c.Duration("duration"), mode: c.String("mode"), ttl: c.Duration("ttl"),
				prefix: fmt.Sprintf("lockctl-bench/%d/", time.Now().UnixNano())}
			if err := cfg.validate(); err != nil {
				return err
			}
			showProgress := l.tty && !l.g.out.json
			doc, err := l.bench(c.Context, cfg, showProgress)
			if err != nil {
				return err
			}
			return l.g.out.print(doc, doc.table)
		},
	}
}

func (cfg benchConfig) validate() error {
	switch {
	case cfg.clients < 1:
		return usagef("bench: --clients must be at least 1")
	case cfg.conns < 0 || cfg.conns > cfg.clients:
		return usagef("bench: --conns must be between 1 and --clients (%d), not %d", cfg.clients, cfg.conns)
	case cfg.duration <= 0:
		return usagef("bench: --duration must be positive")
	case cfg.ttl <= 0:
		return usagef("bench: --ttl must be positive, not %s (the server clamps a positive TTL to its range)", cfg.ttl)
	case cfg.mode != benchUncontended && cfg.mode != benchContended:
		return usagef("bench: --mode must be %s or %s, not %q", benchUncontended, benchContended, cfg.mode)
	}
	return nil
}

// connections is how many SDK clients a run opens.
func (cfg benchConfig) connections() int {
	if cfg.conns == 0 {
		return cfg.clients
	}
	return cfg.conns
}

// benchWorker is one client of a bench run.
type benchWorker struct {
	cl   *client.Client
	s    *client.Session
	name string
	lat  []time.Duration
	errs int64
	err  error // first error
}

// bench sets up every client and session first, then runs them together
// for cfg.duration.
func (l *lockctl) bench(ctx context.Context, cfg benchConfig, showProgress bool) (benchDoc, error) {
	workers, conns, err := l.benchSetup(ctx, cfg)
	defer func() {
		for _, w := range workers {
			l.closeSession(w.s)
		}
		for _, cl := range conns {
			_ = cl.Close()
		}
	}()
	if err != nil {
		return benchDoc{}, err
	}

	var ops atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(runCtx, &ops)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if showProgress {
		l.progress(done, start, cfg.duration, &ops)
	} else {
		<-done
	}
	elapsed := min(time.Since(start), cfg.duration)

	var all []time.Duration
	var errs int64
	var firstErr error
	for _, w := range workers {
		all = append(all, w.lat...)
		errs += w.errs
		if firstErr == nil {
			firstErr = w.err
		}
	}
	if len(all) == 0 && firstErr != nil {
		return benchDoc{}, fmt.Errorf("bench: no operation succeeded: %w", firstErr)
	}
	if firstErr != nil {
		fmt.Fprintf(l.stderr, "lockctl: bench: %d operations failed; first: %v\n", errs, firstErr)
	}
	return benchDocFrom(cfg, elapsed, int64(len(all)), errs, summarize(all)), nil
}

// benchSetup opens cfg.connections() SDK clients and, round robin on
// them, one session per worker. What it returns is to be closed even with
// an error: the workers with their sessions, and the clients.
func (l *lockctl) benchSetup(ctx context.Context, cfg benchConfig) ([]*benchWorker, []*client.Client, error) {
	conns := make([]*client.Client, 0, cfg.connections())
	for range cfg.connections() {
		cl, err := l.client()
		if err != nil {
			return nil, conns, err
		}
		conns = append(conns, cl)
	}
	workers := make([]*benchWorker, 0, cfg.clients)
	for i := range cfg.clients {
		w := &benchWorker{cl: conns[i%len(conns)], name: cfg.prefix + "contended"}
		if cfg.mode == benchUncontended {
			w.name = fmt.Sprintf("%s%d", cfg.prefix, i)
		}
		sctx, cancel := context.WithTimeout(ctx, l.g.timeout)
		s, err := w.cl.NewSession(sctx, client.WithTTL(cfg.ttl))
		cancel()
		if err != nil {
			return workers, conns, fmt.Errorf("bench: open session %d: %w", i, err)
		}
		w.s = s
		workers = append(workers, w)
	}
	return workers, conns, nil
}

// run repeats acquire+release until ctx ends; an operation that ctx cut
// short is not counted.
func (w *benchWorker) run(ctx context.Context, ops *atomic.Int64) {
	for ctx.Err() == nil {
		t0 := time.Now()
		lk, err := w.s.Acquire(ctx, w.name)
		if err == nil {
			err = lk.Release(ctx)
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			w.errs++
			if w.err == nil {
				w.err = err
			}
			if errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed) {
				return
			}
			continue
		}
		w.lat = append(w.lat, time.Since(t0))
		ops.Add(1)
	}
}

// progress redraws the progress line on stdout until done, then clears it.
func (l *lockctl) progress(done <-chan struct{}, start time.Time, total time.Duration, ops *atomic.Int64) {
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	width := 0
	for {
		select {
		case <-done:
			fmt.Fprintf(l.stdout, "\r%s\r", strings.Repeat(" ", width))
			return
		case <-tick.C:
			line := progressLine(time.Since(start), total, ops.Load())
			width = max(width, len(line))
			fmt.Fprintf(l.stdout, "\r%-*s", width, line)
		}
	}
}
