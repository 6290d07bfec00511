package nemesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// readmeCommands returns the lines of the first ```sh block of a
// markdown file: the commands a user copies.
func readmeCommands(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	_, rest, ok := strings.Cut(string(b), "```sh\n")
	if !ok {
		return nil, errors.New("no ```sh block")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		return nil, errors.New("unterminated ```sh block")
	}
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds, nil
}

// readmePorts are the host ports deploy/README.md publishes.
var readmePorts = []string{"7001", "7002", "7003", "7201", "7202", "7203"}

// shell runs one command line as written, from dir, bounded by timeout.
func shell(dir string, timeout time.Duration, line string) (string, error) {
	out, err := runCmdIn(dir, timeout, "bash", "-c", line)
	return out, err
}

// pollShell runs line until ok accepts its output and error, or the
// deadline passes.
func pollShell(t *testing.T, dir string, within time.Duration, line string, ok func(out string, err error) bool) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := shell(dir, 2*time.Minute, line)
		if ok(out, err) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not as expected within %s; last output:\n%s\nerror: %v", line, within, out, err)
		}
		time.Sleep(time.Second)
	}
}

// lockctlStatus is what the test reads of `lockctl -o json status`.
type lockctlStatus struct {
	Leader string `json:"leader"`
	Nodes  []struct {
		ID         string `json:"id"`
		ClientAddr string `json:"client_addr"`
		Role       string `json:"role"`
		Error      string `json:"error"`
	} `json:"nodes"`
}

func (s lockctlStatus) leaders() int {
	n := 0
	for _, node := range s.Nodes {
		if node.Role == "leader" {
			n++
		}
	}
	return n
}

// TestDeployReadmeCommandsRunAsWritten runs the shell block of
// deploy/README.md line by line from the repository root, as a user
// would (an `export` line applies to the lines after it): it builds the
// binaries and the image, starts the compose cluster with mutual TLS on
// the published ports 7001-7003 and 7201-7203, copies out the
// certificates the cluster made for lockctl, waits for the readyz
// line to answer ready and the status line to exit 0, then checks that
// `lockctl status` through each endpoint shows exactly one leader and
// that a lock taken through a follower alone works (its leader hint must
// be dialable from the host), and stops the cluster with the README's
// own `down -v`. Skipped under -short, without Docker or docker-compose
// (the README's command), or when a published port is taken.
func TestDeployReadmeCommandsRunAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("docker test skipped under -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("docker test needs linux (the image holds a linux binary)")
	}
	if _, err := runCmd(20*time.Second, nil, "docker", "info"); err != nil {
		t.Skipf("docker unusable: %v", err)
	}
	if _, err := runCmd(20*time.Second, nil, "docker-compose", "version"); err != nil {
		t.Skipf("deploy/README.md runs docker-compose, which does not work here: %v", err)
	}
	for _, port := range readmePorts {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Skipf("deploy/README.md publishes 127.0.0.1:%s, which is taken here (%v); free ports %s to run this test",
				port, err, strings.Join(readmePorts, ", "))
		}
		ln.Close()
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	cmds, err := readmeCommands(filepath.Join(root, "deploy", "README.md"))
	if err != nil {
		t.Fatalf("deploy/README.md: %v", err)
	}
	var down string
	for _, c := range cmds {
		if strings.Contains(c, "docker-compose") && strings.Contains(c, " down") {
			down = c
		}
	}
	if down == "" {
		t.Fatalf("deploy/README.md has no docker-compose ... down line to stop the cluster with:\n%s", strings.Join(cmds, "\n"))
	}
	// What the README leaves behind that was not there before: the
	// binaries it builds into deploy/, the certificates it copies there
	// and the image it tags.
	var made []string
	for _, name := range []string{"lockd", "lockctl", "certs"} {
		path := filepath.Join(root, "deploy", name)
		if _, err := os.Stat(path); os.IsNotExist(err) {
			made = append(made, path)
		}
	}
	_, imgErr := runCmd(20*time.Second, nil, "docker", "image", "inspect", "lockd:local")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := shell(root, time.Minute, "docker-compose -f deploy/docker-compose.yml logs --no-color --tail 40")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := shell(root, 2*time.Minute, down); err != nil {
			t.Errorf("%s: %v\n%s", down, err, out)
		}
		for _, path := range made {
			_ = os.RemoveAll(path)
		}
		if imgErr != nil {
			_, _ = runCmd(time.Minute, nil, "docker", "rmi", "-f", "lockd:local")
		}
	})

	// An `export` line sets variables for the lines after it, as in the
	// user's shell: each later line runs after the exports.
	exports := ""
	for _, line := range cmds {
		if strings.HasPrefix(line, "export ") {
			exports += line + "; "
			continue
		}
		line = exports + line
		switch {
		case line == exports+down:
			continue // last, below
		case strings.Contains(line, "curl") && strings.Contains(line, "/readyz"):
			pollShell(t, root, 2*time.Minute, line, func(out string, err error) bool {
				return err == nil && strings.Contains(out, `"ready":true`)
			})
		case strings.Contains(line, "lockctl") && strings.Contains(line, " status"):
			pollShell(t, root, 2*time.Minute, line, func(_ string, err error) bool { return err == nil })
		case strings.Contains(line, "lockctl") && strings.Contains(line, " lock "):
			pollShell(t, root, time.Minute, line, func(_ string, err error) bool { return err == nil })
		default:
			if out, err := shell(root, 5*time.Minute, line); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
		}
	}

	// Through each endpoint alone: one leader, exit 0; then a lock
	// through each follower alone, which must follow the leader hint.
	var followers []string
	for _, ep := range []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"} {
		var st lockctlStatus
		pollShell(t, root, time.Minute, exports+"go run ./cmd/lockctl -e "+ep+" -o json status", func(out string, err error) bool {
			st = lockctlStatus{}
			return err == nil && json.Unmarshal([]byte(out), &st) == nil && st.leaders() == 1
		})
		for _, n := range st.Nodes {
			if n.Role != "leader" && n.ClientAddr == ep {
				followers = append(followers, ep)
			}
		}
	}
	if len(followers) == 0 {
		t.Fatal("no endpoint is a follower")
	}
	for i, ep := range followers {
		line := fmt.Sprintf("%sgo run ./cmd/lockctl -e %s lock --try readme-%d -- true", exports, ep, i)
		if out, err := shell(root, 2*time.Minute, line); err != nil {
			t.Fatalf("a lock through follower %s alone: %v\n%s", ep, err, out)
		}
	}

	if out, err := shell(root, 2*time.Minute, down); err != nil {
		t.Fatalf("%s: %v\n%s", down, err, out)
	}
}
