package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// didYouMean returns ` (did you mean "X"?)` for the closest of
// candidates to typed, or "" if none is close.
func didYouMean(typed string, candidates []string) string {
	if best := closest(typed, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// closest returns the candidate nearest to typed within an edit distance
// of a third of its length (at least 1; a swap of two neighbours counts
// as one edit), or "" if none is that near.
func closest(typed string, candidates []string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := editDistance(typed, c)
		if d <= max(1, len([]rune(c))/3) && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of neighbours.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// commandNames lists the names and aliases of cmds.
func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Names()...)
	}
	return out
}

// findCommand returns the command of cmds called name, or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// flagSuggestion returns a did-you-mean for the unknown flag an error of
// the flag package names ("flag provided but not defined: -endpoint"),
// among flags; "" if there is none. The flag package names the flag in
// its message only; the message is read for the hint, never to decide an
// exit code.
func flagSuggestion(err error, flags []cli.Flag) string {
	const prefix = "flag provided but not defined: "
	msg := err.Error()
	i := strings.Index(msg, prefix)
	if i < 0 {
		return ""
	}
	typed := strings.TrimLeft(strings.TrimSpace(msg[i+len(prefix):]), "-")
	var names []string
	for _, f := range flags {
		for _, n := range f.Names() {
			if len(n) > 1 {
				names = append(names, n)
			}
		}
	}
	if best := closest(typed, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", "--"+best)
	}
	return ""
}
