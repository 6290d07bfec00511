package archtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// docPath is the document, relative to the module root, whose import list
// the test checks.
const docPath = "docs/ARCHITECTURE.md"

// blockMarker is the line just before the list's fenced block.
const blockMarker = "<!-- The block below is parsed by internal/archtest"

// none stands for a package that imports no lockd package.
const none = "(none)"

// graph maps a package path, relative to the module root, to the sorted
// lockd packages it imports (non-test imports only), also relative.
type graph map[string][]string

// The import list in docs/ARCHITECTURE.md names every package of the
// module with exactly the lockd packages it imports, no more, no fewer.
func TestArchitectureDocListsTheRealImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH; cannot list the module's imports")
	}
	root, module := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, docPath))
	if err != nil {
		t.Fatal(err)
	}
	documented, err := parseDoc(doc)
	if err != nil {
		t.Fatalf("%s: %v", docPath, err)
	}
	actual := listImports(t, root, module)
	if diff := compare(documented, actual); diff != "" {
		t.Errorf("the import list in %s differs from `go list`:\n%s\nThe block should read:\n\n%s",
			docPath, diff, format(actual))
	}
}

// moduleRoot returns the module's directory and path.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	// The package's own module, also inside a go.work workspace.
	out := goCmd(t, "", "list", "-f", "{{.Module.Dir}}\n{{.Module.Path}}", ".")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("go list: unexpected output %q", out)
	}
	return lines[0], lines[1]
}

// listImports asks the go command for the non-test imports of every
// package in the module, keeping only the module's own packages.
func listImports(t *testing.T, root, module string) graph {
	t.Helper()
	out := goCmd(t, root, "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "./...")
	g := graph{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		path, imports, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("go list: unexpected line %q", line)
		}
		pkg, ok := relative(module, path)
		if !ok {
			t.Fatalf("go list: package %q is outside module %q", path, module)
		}
		deps := []string{}
		for _, imp := range strings.Fields(imports) {
			if dep, ok := relative(module, imp); ok {
				deps = append(deps, dep)
			}
		}
		slices.Sort(deps)
		g[pkg] = deps
	}
	return g
}

// relative returns path relative to module, if it is inside it.
func relative(module, path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok && rest != ""
}

func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// parseDoc finds the fenced block after blockMarker and parses its
// "package -> import, import" lines; "(none)" stands for no imports.
func parseDoc(doc []byte) (graph, error) {
	sc := bufio.NewScanner(bytes.NewReader(doc))
	n := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		n++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			return nil, fmt.Errorf("no line starting %q", blockMarker)
		}
		if strings.HasPrefix(line, blockMarker) {
			break
		}
	}
	if line, ok := next(); !ok || !strings.HasPrefix(line, "```") {
		return nil, fmt.Errorf("line %d: want a fenced block (```) right after the marker, got %q", n, line)
	}
	g := graph{}
	for {
		line, ok := next()
		if !ok {
			return nil, errors.New("the import list's fenced block is not closed")
		}
		line = strings.TrimSpace(line)
		switch {
		case line == "```":
			if len(g) == 0 {
				return nil, fmt.Errorf("line %d: the import list is empty", n)
			}
			return g, nil
		case line == "":
			continue
		}
		pkg, rest, ok := strings.Cut(line, "->")
		pkg, rest = strings.TrimSpace(pkg), strings.TrimSpace(rest)
		if !ok || pkg == "" || rest == "" {
			return nil, fmt.Errorf("line %d: %q is not \"package -> import, import\" (or \"package -> %s\")", n, line, none)
		}
		if _, dup := g[pkg]; dup {
			return nil, fmt.Errorf("line %d: %s is listed twice", n, pkg)
		}
		deps := []string{}
		if rest != none {
			for _, d := range strings.Split(rest, ",") {
				if d = strings.TrimSpace(d); d == "" {
					return nil, fmt.Errorf("line %d: empty import in %q", n, line)
				}
				deps = append(deps, d)
			}
		}
		slices.Sort(deps)
		if len(slices.Compact(slices.Clone(deps))) != len(deps) {
			return nil, fmt.Errorf("line %d: an import of %s is listed twice", n, pkg)
		}
		g[pkg] = deps
	}
}

// compare describes how documented differs from actual, or returns "".
func compare(documented, actual graph) string {
	var b strings.Builder
	for _, pkg := range sortedKeys(actual, documented) {
		doc, inDoc := documented[pkg]
		deps, exists := actual[pkg]
		switch {
		case !inDoc:
			what := "no lockd package"
			if len(deps) > 0 {
				what = strings.Join(deps, ", ")
			}
			fmt.Fprintf(&b, "  %s: missing from the list (it imports %s)\n", pkg, what)
		case !exists:
			fmt.Fprintf(&b, "  %s: listed, but no such package in the module\n", pkg)
		default:
			if extra := minus(doc, deps); len(extra) > 0 {
				fmt.Fprintf(&b, "  %s: listed as importing %s, which it does not import\n", pkg, strings.Join(extra, ", "))
			}
			if missing := minus(deps, doc); len(missing) > 0 {
				fmt.Fprintf(&b, "  %s: imports %s, not listed\n", pkg, strings.Join(missing, ", "))
			}
		}
	}
	return b.String()
}

// format renders g as the document's block.
func format(g graph) string {
	var b strings.Builder
	b.WriteString("```text\n")
	for _, pkg := range sortedKeys(g) {
		fmt.Fprintf(&b, "%s -> %s\n", pkg, join(g[pkg]))
	}
	b.WriteString("```\n")
	return b.String()
}

func join(deps []string) string {
	if len(deps) == 0 {
		return none
	}
	return strings.Join(deps, ", ")
}

// minus returns the elements of a that are not in b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys(gs ...graph) []string {
	var keys []string
	for _, g := range gs {
		for k := range g {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// The parser takes the block after the marker and refuses what is not a
// list line, so a malformed block fails loudly instead of checking nothing.
func TestParseDocReadsOnlyTheMarkedBlock(t *testing.T) {
	doc := "```text\nignored -> x\n```\n" + blockMarker + " -->\n```text\nb -> c, a\nc -> (none)\n```\n"
	g, err := parseDoc([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if want := (graph{"b": {"a", "c"}, "c": {}}); compare(g, want) != "" || len(g) != len(want) {
		t.Errorf("parsed %v, want %v", g, want)
	}
	for _, bad := range []string{
		"no marker\n",
		blockMarker + "\nnot a fence\n",
		blockMarker + "\n```\na -> b\n",
		blockMarker + "\n```\na b\n```\n",
		blockMarker + "\n```\na ->\n```\n",
		blockMarker + "\n```\na -> b\na -> c\n```\n",
		blockMarker + "\n```\na -> b, b\n```\n",
		blockMarker + "\n```\n```\n",
	} {
		if _, err := parseDoc([]byte(bad)); err == nil {
			t.Errorf("parseDoc(%q) accepted a malformed list", bad)
		}
	}
}
