package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir holds the binaries built for this run; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lockd-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// builds remembers each binary built, so that every test shares one build.
var builds sync.Map // package path -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// binary builds ./cmd/NAME of this module as a static binary (as
// deploy/Dockerfile expects) and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, name)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.path, "./cmd/"+name)
		cmd.Dir = moduleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// moduleRoot is the repository root: the parent of this directory.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// deployFile returns the path of a file in deploy/.
func deployFile(parts ...string) string {
	return filepath.Join(append([]string{moduleRoot(), "deploy"}, parts...)...)
}

// helpSet is what a command's --help lists: its flags (without the
// dashes) and the environment variables that stand in for them.
type helpSet struct {
	flags map[string]bool
	envs  map[string]bool
}

var (
	helpFlagRE = regexp.MustCompile(`(?m)^\s+--([a-z0-9][a-z0-9-]*)`)
	helpEnvRE  = regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`)
)

// parseHelp reads the flags and variables of urfave/cli help text: lines
// that start with --name, and the [$VAR] after a flag's usage.
func parseHelp(text string) helpSet {
	h := helpSet{flags: map[string]bool{}, envs: map[string]bool{}}
	for _, m := range helpFlagRE.FindAllStringSubmatch(text, -1) {
		h.flags[m[1]] = true
	}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		for _, m := range helpEnvRE.FindAllStringSubmatch(line, -1) {
			h.envs[m[1]] = true
		}
	}
	return h
}

// help runs a built binary with args (ending in --help) and parses what
// it prints; a command that lists no flag fails the test.
func help(t *testing.T, bin string, args ...string) helpSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	h := parseHelp(out.String())
	if len(h.flags) == 0 {
		t.Fatalf("%s %s lists no flags:\n%s", filepath.Base(bin), strings.Join(args, " "), out.String())
	}
	return h
}

// lockdHelp is what `lockd --help` lists.
func lockdHelp(t *testing.T) helpSet {
	t.Helper()
	return help(t, binary(t, "lockd"), "--help")
}
