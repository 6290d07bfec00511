package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/syncbuf"
	"github.com/lockd/lockd/server"
)

// runAsync runs main's body in-process; the returned func cancels its
// context (a "signal") and waits for the exit code.
func runAsync(args []string) (stop func() int, stderr *syncbuf.Buffer) {
	ctx, cancel := context.WithCancel(context.Background())
	stderr = &syncbuf.Buffer{}
	var code int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		code = run(ctx, func() {}, args, &bytes.Buffer{}, stderr)
	}()
	return func() int { cancel(); wg.Wait(); return code }, stderr
}

// TestOneNodeClusterServesAndStopsOnSignal runs a node that founds a
// one-node cluster of itself (--initial-cluster names it alone)
// in-process until it is ready, then cancels its context as a signal
// would: exit 0.
func TestOneNodeClusterServesAndStopsOnSignal(t *testing.T) {
	a := freeAddrs(t, 3)
	stop, stderr := runAsync([]string{"lockd", "--id", "solo", "--data-dir", filepath.Join(t.TempDir(), "solo"),
		"--initial-cluster", "solo=" + a[0], "--client-addr", a[1], "--http-addr", a[2], "--log-level", "warn"})
	waitUntil(t, startTimeout, "solo /readyz", func() (bool, string) { return readyz(a[2]) })
	st, err := httpStatus(a[2])
	if err != nil || st.Role != "leader" || st.Leader != "solo" {
		t.Fatalf("status %+v, %v", st, err)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d after the signal, want 0; stderr:\n%s", code, stderr.String())
	}
	if _, err := net.DialTimeout("tcp", a[2], time.Second); err == nil {
		t.Fatal("the HTTP port still accepts connections after exit")
	}
}

func TestRuntimeFailuresExitOne(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file)
	a := freeAddrs(t, 2)
	cases := map[string]struct {
		dataDir, httpAddr, msg string
	}{
		"HTTP port taken":             {filepath.Join(t.TempDir(), "d"), taken.Addr().String(), "http listener"},
		"data directory under a file": {filepath.Join(file, "d"), "", "open node"},
		"client port taken":           {filepath.Join(t.TempDir(), "d"), "", "client listener"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			client := a[1]
			if c.msg == "client listener" {
				client = taken.Addr().String()
			}
			args := []string{"lockd", "--id", "n1", "--data-dir", c.dataDir, "--initial-cluster", "n1=" + a[0], "--client-addr", client}
			if c.httpAddr != "" {
				args = append(args, "--http-addr", c.httpAddr)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), func() {}, args, &bytes.Buffer{}, &stderr)
			if code != exitFailure || !strings.Contains(stderr.String(), c.msg) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d mentioning %q", code, stderr.String(), exitFailure, c.msg)
			}
		})
	}
}

// TestTakenPortLeavesTheDataDirectoryEmptyAndACorrectedRetryBootstraps
// starts a node whose peer port is taken: it exits 1 without creating its
// data directory, and a retry with another peer address in
// --initial-cluster founds the cluster that --initial-cluster names.
func TestTakenPortLeavesTheDataDirectoryEmptyAndACorrectedRetryBootstraps(t *testing.T) {
	a := freeAddrs(t, 4)
	taken, err := net.Listen("tcp", a[0])
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := filepath.Join(t.TempDir(), "d1")
	var stderr bytes.Buffer
	code := run(context.Background(), func() {}, []string{"lockd", "--id", "n1", "--data-dir", dir,
		"--initial-cluster", "n1=" + a[0], "--client-addr", a[1], "--http-addr", a[2]}, &bytes.Buffer{}, &stderr)
	if code != exitFailure || !strings.Contains(stderr.String(), "peer listener") {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit %d about the peer listener", code, stderr.String(), exitFailure)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data directory written by a start that failed on a taken port (stat: %v)", err)
	}

	stop, serr := runAsync([]string{"lockd", "--id", "n1", "--data-dir", dir, "--initial-cluster", "n1=" + a[3],
		"--client-addr", a[1], "--http-addr", a[2], "--log-level", "warn"})
	waitUntil(t, startTimeout, "n1 /readyz", func() (bool, string) { return readyz(a[2]) })
	st, err := httpStatus(a[2])
	want := server.ClusterID(map[string]string{"n1": a[3]}, "")
	if err != nil || st.Role != "leader" || st.ClusterID != want {
		t.Fatalf("status %+v, %v; want n1 leading cluster %s", st, err, want)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, serr.String())
	}
}
