package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// use is one flag or variable a deployment file passes to lockd.
type use struct {
	where string // file and place, for the message
	name  string // flag without dashes, or variable name
	env   bool   // a LOCKD_* variable rather than a flag
}

// flagsOf returns the flags among command-line arguments: each argument
// that starts with "--", its name up to any "=". Arguments that do not
// start with "--" are values.
func flagsOf(where string, args []string) []use {
	var out []use
	for _, a := range args {
		name, ok := strings.CutPrefix(a, "--")
		if !ok || name == "" {
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		out = append(out, use{where: where, name: name})
	}
	return out
}

// unknownUses returns one line for each use that h does not list.
func unknownUses(h helpSet, uses []use) []string {
	var bad []string
	for _, u := range uses {
		switch {
		case u.env && !h.envs[u.name]:
			bad = append(bad, fmt.Sprintf("%s: variable %s is not one lockd --help lists", u.where, u.name))
		case !u.env && !h.flags[u.name]:
			bad = append(bad, fmt.Sprintf("%s: flag --%s is not one lockd --help lists", u.where, u.name))
		}
	}
	return bad
}

// checkUses fails the test for every unknown use, and when there are no
// uses at all (a parser that finds nothing checks nothing).
func checkUses(t *testing.T, h helpSet, uses []use) {
	t.Helper()
	if len(uses) == 0 {
		t.Fatal("no lockd flags or variables found to check")
	}
	for _, line := range unknownUses(h, uses) {
		t.Error(line)
	}
}

// The help parser finds lockd's flags and their variables, and the
// checker reports a flag or variable lockd does not have: the negative
// control of every flag test here.
func TestFlagCheckerRejectsWhatLockdDoesNotList(t *testing.T) {
	h := lockdHelp(t)
	for _, f := range []string{"id", "data-dir", "initial-cluster", "shutdown-timeout", "help"} {
		if !h.flags[f] {
			t.Errorf("lockd --help: flag --%s not found; parsed %v", f, keys(h.flags))
		}
	}
	if !h.envs["LOCKD_DATA_DIR"] {
		t.Errorf("lockd --help: variable LOCKD_DATA_DIR not found; parsed %v", keys(h.envs))
	}
	uses := append(flagsOf("test", []string{"--id=n1", "--data-dir", "/d", "--no-such-flag", "value", "--tick=1s"}),
		use{where: "test", name: "LOCKD_ID", env: true}, use{where: "test", name: "LOCKD_NO_SUCH", env: true})
	bad := unknownUses(h, uses)
	want := []string{
		"test: flag --no-such-flag is not one lockd --help lists",
		"test: variable LOCKD_NO_SUCH is not one lockd --help lists",
	}
	if !slices.Equal(bad, want) {
		t.Errorf("unknownUses = %q, want %q", bad, want)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
