package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The profiler is served only with --pprof: without it /debug/pprof/ is
// 404 on a running node's HTTP port, with it the index and a heap profile
// answer, and the node's own endpoints still do.
func TestPprofIsServedOnlyWithTheFlag(t *testing.T) {
	for _, on := range []bool{false, true} {
		a := freeAddrs(t, 3)
		args := []string{"lockd", "--id", "solo", "--data-dir", filepath.Join(t.TempDir(), "solo"),
			"--initial-cluster", "solo=" + a[0], "--client-addr", a[1], "--http-addr", a[2], "--log-level", "warn"}
		if on {
			args = append(args, "--pprof")
		}
		stop, stderr := runAsync(args)
		waitUntil(t, startTimeout, "solo /readyz", func() (bool, string) { return readyz(a[2]) })
		code, body, err := httpGet("http://" + a[2] + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !on && code != 404:
			t.Errorf("without --pprof /debug/pprof/ = %d, want 404", code)
		case on && (code != 200 || !strings.Contains(body, "heap")):
			t.Errorf("with --pprof /debug/pprof/ = %d:\n%s", code, body)
		}
		if on {
			if code, _, err := httpGet("http://" + a[2] + "/debug/pprof/heap?debug=1"); err != nil || code != 200 {
				t.Errorf("with --pprof heap profile = %d, %v", code, err)
			}
		}
		if code, _, _ := httpGet("http://" + a[2] + "/metrics"); code != 200 {
			t.Errorf("pprof %v: /metrics = %d", on, code)
		}
		if code := stop(); code != exitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
		}
	}
}
