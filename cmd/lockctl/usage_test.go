package main

import (
	"bytes"
	"context"
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
