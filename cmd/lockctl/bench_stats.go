package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// latencies summarises operation latencies.
type latencies struct {
	P50, P90, P99, Max, Mean time.Duration
}

// summarize returns the nearest-rank percentiles of ds (sorting it).
func summarize(ds []time.Duration) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return latencies{
		P50: percentile(ds, 50), P90: percentile(ds, 90), P99: percentile(ds, 99),
		Max: ds[len(ds)-1], Mean: sum / time.Duration(len(ds)),
	}
}

// percentile is the nearest-rank p-th percentile of sorted ds: the
// smallest value with at least p% of values at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// progressLine draws a progress bar for elapsed of total with ops done,
// to be written after a carriage return.
func progressLine(elapsed, total time.Duration, ops int64) string {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(float64(elapsed)/float64(total), 1)
	}
	filled := int(frac * width)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(ops) / elapsed.Seconds()
	}
	return fmt.Sprintf("[%s%s] %3.0f%% %5.1fs/%.1fs  %d ops  %.0f ops/s",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100,
		elapsed.Seconds(), total.Seconds(), ops, rate)
}

// ms is d in milliseconds, for JSON.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
