package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// runArgs runs lockctl in-process with buffers for its streams.
func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), env{stdout: &out, stderr: &errb}, append([]string{"lockctl"}, args...))
	return code, out.String(), errb.String()
}

// TestBadUsageExitsTwo: every way of calling lockctl wrongly exits 2
// before any connection is made (the endpoints below do not exist).
func TestBadUsageExitsTwo(t *testing.T) {
	cases := [][]string{
		{},
		{"frobnicate"},
		{"--bogus", "status"},
		{"status", "--bogus"},
		{"status", "extra"},
		{"-o", "yaml", "status"},
		{"--endpoints", " , ", "status"},
		{"--endpoints", "localhost", "status"},
		{"-e", "127.0.0.1:7001,localhost:", "members", "list"},
		{"-e", "http://127.0.0.1:7201", "status"},
		{"--timeout", "0s", "status"},
		{"members"},
		{"members", "frobnicate"},
		{"members", "add", "n4"},
		{"members", "promote"},
		{"members", "remove", "a", "b"},
		{"leader", "transfer", "a", "b"},
		{"snapshot", "save"},
		{"sessions", "show"},
		{"sessions", "show", "abc"},
		{"locks", "show"},
		{"locks", "list", "a", "b"},
		{"lock"},
		{"lock", "name"},
		{"lock", "name", "--"},
		{"lock", "name", "--try", "--", "true"},
		{"lock", "--try", "--wait", "1s", "name", "--", "true"},
		{"lock", "--grace", "-1s", "name", "--", "true"},
		{"lock", "--ttl", "0s", "name", "--", "true"},
		{"lock", "--ttl", "-5s", "name", "--", "true"},
		{"elect", "--ttl", "0s", "name", "value"},
		{"elect", "--ttl", "0s", "--observe", "name"},
		{"bench", "--ttl", "0s"},
		{"elect"},
		{"elect", "name"},
		{"elect", "--observe"},
		{"elect", "--observe", "name", "value"},
		{"elect", "--lock-delay", "soon", "name", "value"},
		{"elect", "--observe", "--lock-delay", "0s", "name"},
		{"bench", "--clients", "0"},
		{"bench", "--clients", "2", "--conns", "3"},
		{"bench", "--conns", "-1"},
		{"bench", "--duration", "0s"},
		{"bench", "--mode", "sideways"},
		{"bench", "extra"},
		{"completion"},
		{"completion", "fish"},
		{"help", "frobnicate"},
		{"help", "locks", "frobnicate"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := append([]string{"--endpoints", "127.0.0.1:1", "--timeout", "200ms"}, args...)
			code, _, stderr := runArgs(t, full...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !strings.HasPrefix(stderr, "lockctl: bad usage") {
				t.Errorf("stderr %q does not say bad usage", stderr)
			}
		})
	}
}

// TestUnreachableClusterExitsFive: no endpoint answers within --timeout.
func TestUnreachableClusterExitsFive(t *testing.T) {
	code, _, stderr := runArgs(t, "--endpoints", "127.0.0.1:1", "--timeout", "300ms", "members", "list")
	if code != exitNoQuorum {
		t.Fatalf("exit %d, want %d (stderr %q)", code, exitNoQuorum, stderr)
	}
}

// TestRefusingEndpointsFailAtOnce: when every endpoint refuses, lockctl
// says so and exits 5 without waiting out --timeout (which would end in
// "context deadline exceeded").
func TestRefusingEndpointsFailAtOnce(t *testing.T) {
	for _, args := range [][]string{{"members", "list"}, {"status"}, {"lock", "x", "--", "true"}, {"elect", "--observe", "x"}} {
		full := append([]string{"--endpoints", "127.0.0.1:1,127.0.0.2:1", "--timeout", "1m"}, args...)
		code, _, stderr := runArgs(t, full...)
		if code != exitNoQuorum || !strings.Contains(stderr, "127.0.0.2:1: connection refused: nothing listens there") || strings.Contains(stderr, "deadline") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// TestHTTPPortEndpointIsNamed: pointing lockctl at lockd's HTTP port (or
// any HTTP server) says so at once.
func TestHTTPPortEndpointIsNamed(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	addr := strings.TrimPrefix(web.URL, "http://")
	code, _, stderr := runArgs(t, "--endpoints", addr, "--timeout", "1m", "members", "list")
	if code != exitNoQuorum || !strings.Contains(stderr, addr+": that is an HTTP port, not a lockd client port") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestHelpExitsZero: asking for help is not an error.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"lock", "--help"}, {"members", "--help"}} {
		code, out, _ := runArgs(t, args...)
		if code != exitOK || !strings.Contains(out, "lockctl") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
}

// TestCompletionScripts print scripts that call back into lockctl.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		code, out, _ := runArgs(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, "--generate-bash-completion") || !strings.Contains(out, "lockctl") {
			t.Errorf("completion %s: exit %d, script %q", shell, code, out)
		}
	}
	// The --generate-bash-completion answers are checked on the built
	// binary (TestBinaryCompletesCommands): urfave/cli reads os.Args for them.
}

// TestLockArgsSplitsNameAndCommand covers `NAME [--] CMD...`.
func TestLockArgsSplitsNameAndCommand(t *testing.T) {
	name, cmd, err := lockArgs([]string{"jobs/x", "--", "sh", "-c", "exit 7"})
	if err != nil || name != "jobs/x" || strings.Join(cmd, " ") != "sh -c exit 7" {
		t.Fatalf("got %q %q %v", name, cmd, err)
	}
	name, cmd, err = lockArgs([]string{"jobs/x", "true"})
	if err != nil || name != "jobs/x" || len(cmd) != 1 || cmd[0] != "true" {
		t.Fatalf("without --: got %q %q %v", name, cmd, err)
	}
	// The command's own flags after -- are the command's.
	_, cmd, err = lockArgs([]string{"n", "--", "ls", "-l", "--", "x"})
	if err != nil || strings.Join(cmd, " ") != "ls -l -- x" {
		t.Fatalf("got %q %v", cmd, err)
	}
}

// TestHelpNamesSubcommands: `help CMD` lists CMD's subcommands, and
// `help CMD SUB` is SUB's help, as `CMD --help` and `CMD SUB --help` are.
func TestHelpNamesSubcommands(t *testing.T) {
	code, out, _ := runArgs(t, "help", "locks")
	if code != exitOK || !strings.Contains(out, "COMMANDS:") || !strings.Contains(out, "list ") || !strings.Contains(out, "show ") {
		t.Errorf("help locks: exit %d, output:\n%s", code, out)
	}
	_, flagHelp, _ := runArgs(t, "locks", "--help")
	if out != flagHelp {
		t.Errorf("help locks differs from locks --help:\n%s\n---\n%s", out, flagHelp)
	}
	code, out, _ = runArgs(t, "help", "locks", "show")
	if code != exitOK || !strings.Contains(out, "lockctl locks show - ") || !strings.Contains(out, "NAME") {
		t.Errorf("help locks show: exit %d, output:\n%s", code, out)
	}
	code, out, _ = runArgs(t, "h", "members", "add")
	if code != exitOK || !strings.Contains(out, "ID PEER_ADDR CLIENT_ADDR") {
		t.Errorf("h members add: exit %d, output:\n%s", code, out)
	}
	code, out, _ = runArgs(t, "help")
	if code != exitOK || !strings.Contains(out, "GLOBAL OPTIONS") || strings.Count(out, "--help") != 1 {
		t.Errorf("help: exit %d, output:\n%s", code, out)
	}
}

// TestTyposGetDidYouMean: a mistyped command, subcommand or flag is bad
// usage that names the nearest valid one; a word near nothing gets no
// guess.
func TestTyposGetDidYouMean(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lokcs"}, `unknown command "lokcs" (did you mean "locks"?)`},
		{[]string{"locks", "shwo"}, `unknown command "shwo" (did you mean "show"?)`},
		{[]string{"help", "lokcs"}, `unknown command "lokcs" (did you mean "locks"?)`},
		{[]string{"help", "locks", "shw"}, `unknown command "locks shw" (did you mean "show"?)`},
		{[]string{"--endpoint", "x", "status"}, `(did you mean "--endpoints"?)`},
		{[]string{"lock", "--tyr", "x", "--", "true"}, `(did you mean "--try"?)`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (see`},
	}
	for _, c := range cases {
		code, _, stderr := runArgs(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d with %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
}

// TestEditDistanceCountsSwapsOnce: the did-you-mean metric.
func TestEditDistanceCountsSwapsOnce(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"locks", "locks", 0}, {"lokcs", "locks", 1}, {"lock", "locks", 1}, {"stauts", "status", 1}, {"", "abc", 3}, {"abc", "xyz", 3}} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
