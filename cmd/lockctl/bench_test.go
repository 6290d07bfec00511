package main

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func slicesSort(s []string) { slices.Sort(s) }

// TestPercentilesAreNearestRank over 1..100 ms in a shuffled order.
func TestPercentilesAreNearestRank(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	r.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	got := summarize(ds)
	want := latencies{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond,
		Max: 100 * time.Millisecond, Mean: 50500 * time.Microsecond}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if one := summarize([]time.Duration{7}); one.P50 != 7 || one.P99 != 7 || one.Max != 7 {
		t.Errorf("one sample: %+v", one)
	}
	if (summarize(nil) != latencies{}) {
		t.Error("no samples must give zeros")
	}
}

// TestBenchDocJSON pins the bench document's keys and units.
func TestBenchDocJSON(t *testing.T) {
	cfg := benchConfig{clients: 4, mode: benchContended}
	doc := benchDocFrom(cfg, 2*time.Second, 1000, 1, latencies{P50: 1500 * time.Microsecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 9 * time.Millisecond, Mean: time.Millisecond})
	out := render(t, "json", doc, doc.table)
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "bench", got, "clients", "conns", "duration_seconds", "errors", "latency_ms", "mode", "ops", "ops_per_second")
	checkKeys(t, "latency", got["latency_ms"].(map[string]any), "max", "mean", "p50", "p90", "p99")
	if got["conns"] != 4.0 || got["ops_per_second"] != 500.0 || got["latency_ms"].(map[string]any)["p50"] != 1.5 {
		t.Errorf("bench doc = %v", got)
	}
	table := render(t, "table", doc, doc.table)
	for _, s := range []string{"contended: 4 clients on 4 connections for 2.0s: 1000 ops", "500.0", "1.50ms", "9.00ms"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
}

// TestProgressLineFillsWithElapsedTime draws the bar in proportion and
// never past full.
func TestProgressLineFillsWithElapsedTime(t *testing.T) {
	half := progressLine(time.Second, 2*time.Second, 100)
	if !strings.HasPrefix(half, "["+strings.Repeat("=", 15)+strings.Repeat(" ", 15)+"]  50%") || !strings.HasSuffix(half, "100 ops  100 ops/s") {
		t.Errorf("half: %q", half)
	}
	over := progressLine(3*time.Second, 2*time.Second, 10)
	if !strings.HasPrefix(over, "["+strings.Repeat("=", 30)+"] 100%") {
		t.Errorf("over: %q", over)
	}
	if strings.ContainsAny(half+over, "\r\n") {
		t.Error("a progress line must not contain line breaks")
	}
}
