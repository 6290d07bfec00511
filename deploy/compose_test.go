package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lockd/lockd/internal/freeport"
)

// composeFile is the part of deploy/docker-compose.yml the tests read
// (YAML anchors and merge keys resolved).
type composeFile struct {
	Services map[string]struct {
		Entrypoint []string `yaml:"entrypoint"`
		Command    []string `yaml:"command"`
		Volumes    []string `yaml:"volumes"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(deployFile("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(f.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return f
}

// The compose file's lockd commands use only flags lockd --help lists,
// its lockctl commands only flags their subcommand's --help lists, and
// the nodes run with the certificates the lockctl services make.
func TestComposeFileUsesOnlyRealFlags(t *testing.T) {
	f := readCompose(t)
	lockd := lockdHelp(t)
	lockctl := binary(t, "lockctl")
	var nodes, certs int
	for name, s := range f.Services {
		where := "docker-compose.yml service " + name
		if len(s.Entrypoint) == 1 && s.Entrypoint[0] == "/lockctl" {
			// cert create-node ... : the subcommand path is the words
			// before the first flag.
			var path []string
			for _, a := range s.Command {
				if strings.HasPrefix(a, "-") {
					break
				}
				path = append(path, a)
			}
			if len(path) < 2 || path[0] != "cert" {
				t.Errorf("%s: lockctl %q is not a cert command", where, s.Command)
				continue
			}
			h := help(t, lockctl, append(path, "--help")...)
			for _, line := range unknownUses(h, flagsOf(where, s.Command)) {
				t.Error(strings.Replace(line, "lockd --help", "lockctl "+strings.Join(path, " ")+" --help", 1))
			}
			certs++
			continue
		}
		checkUses(t, lockd, flagsOf(where, s.Command))
		if !strings.Contains(strings.Join(s.Command, " "), "--cacert /certs/ca.crt --cert /certs/node-"+name+".crt --key /certs/node-"+name+".key") {
			t.Errorf("%s: the node does not run with its certificate from the certs volume: %q", where, s.Command)
		}
		nodes++
	}
	if nodes != 3 || certs == 0 {
		t.Errorf("docker-compose.yml: %d nodes and %d lockctl services, want 3 nodes and the certificate makers", nodes, certs)
	}
}

// composeCmd runs docker-compose (v1) or `docker compose` (v2), whichever
// works, for one project, each run bounded in time.
type composeCmd struct {
	argv []string
	env  []string
}

func findCompose(file, project string, env []string) (*composeCmd, error) {
	var errs []error
	for _, argv := range [][]string{{"docker-compose"}, {"docker", "compose"}} {
		if _, err := run(20*time.Second, nil, append(argv, "version")...); err != nil {
			errs = append(errs, err)
			continue
		}
		return &composeCmd{argv: append(argv, "-p", project, "-f", file), env: env}, nil
	}
	return nil, errors.Join(errs...)
}

func (c *composeCmd) run(timeout time.Duration, args ...string) (string, error) {
	return run(timeout, c.env, append(c.argv, args...)...)
}

// run runs argv with env added, bounded by timeout, and returns its
// combined output; a non-zero exit is an *exec.ExitError wrapped with the
// output.
func run(timeout time.Duration, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out.String())
	}
	return out.String(), nil
}

// exitCode is the exit status in err from run, 0 for nil, -1 if the
// command did not exit by itself.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		return -1
	}
}

// statusDoc is what the test reads of `lockctl -o json status`.
type statusDoc struct {
	Leader string `json:"leader"`
	Nodes  []struct {
		ID         string `json:"id"`
		ClientAddr string `json:"client_addr"`
		Role       string `json:"role"`
	} `json:"nodes"`
}

// TestComposeClusterServesLockctlThroughEachFollower builds the image from
// the static binaries, starts deploy/docker-compose.yml under a project
// of its own on free loopback ports, copies the certificates its certs
// service made, and runs lockctl (built on the host) through each follower
// alone (its leader hint must be dialable from the host): status, and a
// lock acquired (seen held from inside the command) and released (nobody
// holds it after). Without the certificates lockctl
// is refused. Skipped under -short or without a working Docker and
// docker-compose; every step is bounded in time, and the cluster, its
// volumes and the image are removed at the end.
func TestComposeClusterServesLockctlThroughEachFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("docker test skipped under -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("docker test needs linux (the image holds linux binaries)")
	}
	if _, err := run(20*time.Second, nil, "docker", "info"); err != nil {
		t.Skipf("docker is not usable here: %v", err)
	}
	project := fmt.Sprintf("lockddeploy%d", os.Getpid())
	tag := "lockd-deploy-test:" + project
	env := []string{"LOCKD_IMAGE=" + tag}
	var endpoints []string
	for _, n := range []string{"N1", "N2", "N3"} {
		ca, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		ha, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, "LOCKD_"+n+"_CLIENT="+ca, "LOCKD_"+n+"_ADVERTISE_CLIENT="+ca, "LOCKD_"+n+"_HTTP="+ha)
		endpoints = append(endpoints, ca)
	}
	dc, err := findCompose(deployFile("docker-compose.yml"), project, env)
	if err != nil {
		t.Skipf("neither docker-compose nor docker compose works here: %v", err)
	}
	lockd, lockctl := binary(t, "lockd"), binary(t, "lockctl")

	// Build context: the Dockerfile and the two binaries, nothing else.
	bctx := t.TempDir()
	for src, dst := range map[string]string{lockd: "lockd", lockctl: "lockctl", deployFile("Dockerfile"): "Dockerfile"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bctx, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run(3*time.Minute, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "-t", tag, bctx); err != nil {
		t.Skipf("docker build failed (no usable builder?): %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = run(time.Minute, nil, "docker", "rmi", "-f", tag) })
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := dc.run(time.Minute, "logs", "--no-color", "--tail", "40")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := dc.run(2*time.Minute, "down", "-v", "--remove-orphans", "-t", "2"); err != nil {
			t.Errorf("compose down -v: %v %s", err, out)
		}
	})
	if out, err := dc.run(4*time.Minute, "up", "-d", "--no-build"); err != nil {
		t.Fatalf("compose up: %v %s", err, out)
	}

	// The certificates, as deploy/README.md copies them.
	id, err := dc.run(time.Minute, "ps", "-q", "certs")
	if err != nil || strings.TrimSpace(id) == "" {
		t.Fatalf("the certs container: %v %q", err, id)
	}
	certs := filepath.Join(t.TempDir(), "certs")
	if out, err := run(time.Minute, nil, "docker", "cp", strings.TrimSpace(id)+":/certs", certs); err != nil {
		t.Fatalf("docker cp: %v %s", err, out)
	}
	tlsEnv := []string{
		"LOCKD_CACERT=" + filepath.Join(certs, "ca.crt"),
		"LOCKD_CERT=" + filepath.Join(certs, "client-root.crt"),
		"LOCKD_KEY=" + filepath.Join(certs, "client-root.key"),
	}
	ctl := func(args ...string) (string, error) {
		return run(time.Minute, tlsEnv, append([]string{lockctl, "--timeout", "10s"}, args...)...)
	}

	// One leader, seen through all endpoints; then a follower's address.
	var st statusDoc
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := ctl("-e", strings.Join(endpoints, ","), "-o", "json", "status")
		st = statusDoc{}
		leaders := 0
		if err == nil && json.Unmarshal([]byte(out), &st) == nil {
			for _, n := range st.Nodes {
				if n.Role == "leader" {
					leaders++
				}
			}
		}
		if leaders == 1 && len(st.Nodes) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single leader among 3 nodes within 2 minutes; last status: %v\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var followers []string
	for _, n := range st.Nodes {
		if n.Role != "leader" && n.ClientAddr != "" {
			followers = append(followers, n.ClientAddr)
		}
	}
	if len(followers) != 2 {
		t.Fatalf("want two followers with client addresses, got %q in %+v", followers, st)
	}
	for i, follower := range followers {
		t.Logf("leader %s; talking to follower %s only", st.Leader, follower)
		if out, err := ctl("-e", follower, "-o", "json", "status"); err != nil {
			t.Fatalf("status through follower %s: %v", follower, err)
		} else if !strings.Contains(out, `"leader"`) {
			t.Errorf("status through follower %s shows no leader:\n%s", follower, out)
		}
		// Held while the command runs (lockctl inside sees it), released
		// after.
		name := fmt.Sprintf("deploy-compose-test-%d", i)
		out, err := ctl("-e", follower, "lock", "--try", "--lock-delay", "0s", name, "--",
			lockctl, "-e", follower, "-o", "json", "locks", "show", name)
		if err != nil {
			t.Fatalf("lock %s through follower %s: %v", name, follower, err)
		}
		if !strings.Contains(out, name) {
			t.Errorf("locks show inside the lock did not show %s held:\n%s", name, out)
		}
		if out, err := ctl("-e", follower, "locks", "show", name); exitCode(err) != 6 {
			t.Errorf("after the lock was released, locks show %s exited %d (want 6, nobody holds it): %v\n%s", name, exitCode(err), err, out)
		}
	}
	follower := followers[0]

	// The cluster is secured: without a client certificate lockctl is
	// refused (exit 8, a certificate problem).
	if out, err := run(time.Minute, []string{"LOCKD_CACERT=", "LOCKD_CERT=", "LOCKD_KEY="},
		lockctl, "--timeout", "5s", "-e", follower, "status"); exitCode(err) != 8 {
		t.Errorf("lockctl without certificates exited %d, want 8 (refused: TLS): %v\n%s", exitCode(err), err, out)
	}
}
