package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock returns the first ```go block of a markdown file.
func goBlock(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```go\n")
	if i < 0 {
		t.Fatalf("%s has no ```go block", path)
	}
	s = s[i+len("```go\n"):]
	j := strings.Index(s, "```")
	if j < 0 {
		t.Fatalf("%s: unterminated ```go block", path)
	}
	return s[:j]
}

// TestGettingStartedProgramIsTheTestedOne: the Go program in
// docs/GETTING-STARTED.md is testdata/getting-started/main.go, byte for
// byte, so the program the next test compiles and runs is the one a new
// user copies.
func TestGettingStartedProgramIsTheTestedOne(t *testing.T) {
	doc := goBlock(t, filepath.Join("..", "..", "docs", "GETTING-STARTED.md"))
	prog, err := os.ReadFile(filepath.Join("testdata", "getting-started", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if doc != string(prog) {
		t.Errorf("the program in docs/GETTING-STARTED.md differs from testdata/getting-started/main.go")
	}
}

// TestGettingStartedProgramRuns builds the getting-started program and
// runs it against the test cluster: it takes and releases a lock, checks
// its token, and wins and resigns an election.
func TestGettingStartedProgramRuns(t *testing.T) {
	c := cluster(t)
	bin := filepath.Join(t.TempDir(), "getting-started")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/getting-started").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "LOCKD_ENDPOINTS="+c.endpoints())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := regexp.MustCompile(`^holding jobs/nightly with fencing token \d+
token is current: true
after release, token is current: false
leader of billing-leader is 10\.0\.0\.7:8080 \(session \d+\)
after resigning: .*election has no leader.*
$`)
	if !want.Match(out) {
		t.Errorf("output:\n%s", out)
	}
}
