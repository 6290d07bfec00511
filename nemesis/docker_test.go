package nemesis

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/freeport"
)

// compose runs docker-compose (v1) or `docker compose` (v2), whichever
// works, bounded by a timeout.
type compose struct {
	argv    []string // the command and its fixed arguments
	env     []string
	timeout time.Duration
}

func findCompose(file, project string, env []string) (*compose, bool) {
	for _, argv := range [][]string{{"docker-compose"}, {"docker", "compose"}} {
		cmd := exec.Command(argv[0], append(argv[1:], "version")...)
		if cmd.Run() == nil {
			return &compose{argv: append(argv, "-p", project, "-f", file), env: env, timeout: 2 * time.Minute}, true
		}
	}
	return nil, false
}

func (c *compose) run(args ...string) (string, error) {
	return runCmd(c.timeout, c.env, append(c.argv, args...)...)
}

func runCmd(timeout time.Duration, env []string, argv ...string) (string, error) {
	return runCmdEnvIn("", timeout, env, argv...)
}

// runCmdIn runs argv in dir.
func runCmdIn(dir string, timeout time.Duration, argv ...string) (string, error) {
	return runCmdEnvIn(dir, timeout, nil, argv...)
}

func runCmdEnvIn(dir string, timeout time.Duration, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out.String())
	}
	return out.String(), nil
}

// TestDockerComposeClusterUnderPartitions builds the FROM-scratch image
// from the static binaries, starts deploy/docker-compose.yml (the file users
// start from, mutual TLS included) under a private project with published
// loopback ports, runs the workload from the host with the certificates
// the cluster made while nodes are cut off with `docker network
// disconnect` and killed with `docker kill`, and checks the same
// invariants as the process test. Skipped under -short or without a usable Docker.
func TestDockerComposeClusterUnderPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("docker test skipped under -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("docker test needs linux (the image holds a linux binary)")
	}
	bin := needBinary(t)
	if _, err := runCmd(20*time.Second, nil, "docker", "info"); err != nil {
		t.Skipf("docker unusable: %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	deploy := filepath.Join(filepath.Dir(file), "..", "deploy")
	seed := *flagSeed
	tag := fmt.Sprintf("lockd-nemesis:%d-%d", os.Getpid(), seed)
	project := fmt.Sprintf("lockdnemesis%d", os.Getpid())

	// Build context: the Dockerfile and the static binaries, nothing else.
	bctx := t.TempDir()
	ctl := filepath.Join(bctx, "lockctl")
	if out, err := runCmdEnvIn(filepath.Join(deploy, ".."), 10*time.Minute, []string{"CGO_ENABLED=0"},
		"go", "build", "-o", ctl, "./cmd/lockctl"); err != nil {
		t.Fatalf("go build ./cmd/lockctl: %v %s", err, out)
	}
	for src, dst := range map[string]string{bin: "lockd", filepath.Join(deploy, "Dockerfile"): "Dockerfile"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bctx, dst), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runCmd(2*time.Minute, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "-t", tag, bctx); err != nil {
		t.Skipf("docker build failed (no usable builder?): %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = runCmd(time.Minute, nil, "docker", "rmi", "-f", tag) })

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
	dc, ok := findCompose(filepath.Join(deploy, "docker-compose.yml"), project, env)
	if !ok {
		t.Skip("neither docker-compose nor docker compose works")
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := dc.run("logs", "--no-color", "--tail", "50")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := dc.run("down", "-v", "--remove-orphans", "-t", "2"); err != nil {
			t.Errorf("compose down: %v %s", err, out)
		}
	})
	if out, err := dc.run("up", "-d", "--no-build"); err != nil {
		t.Fatalf("compose up: %v %s", err, out)
	}
	network := project + "_lockd"
	// The cluster runs mutual TLS with the certificates its certs service
	// made; the workload connects as root with them.
	certsID, err := dc.run("ps", "-q", "certs")
	if err != nil || strings.TrimSpace(certsID) == "" {
		t.Fatalf("container of certs: %v %q", err, certsID)
	}
	certs := filepath.Join(t.TempDir(), "certs")
	if out, err := runCmd(time.Minute, nil, "docker", "cp", strings.TrimSpace(certsID)+":/certs", certs); err != nil {
		t.Fatalf("docker cp: %v %s", err, out)
	}
	tlsConfig, err := client.LoadTLS(filepath.Join(certs, "ca.crt"), filepath.Join(certs, "client-root.crt"), filepath.Join(certs, "client-root.key"))
	if err != nil {
		t.Fatal(err)
	}
	containers := map[string]string{}
	for _, svc := range []string{"n1", "n2", "n3"} {
		out, err := dc.run("ps", "-q", svc)
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("container of %s: %v %q", svc, err, out)
		}
		containers[svc] = strings.TrimSpace(out)
	}

	newClient := func() *client.Client {
		c, err := client.New(client.Config{Endpoints: endpoints, TLS: tlsConfig, AttemptTimeout: time.Second, DialTimeout: time.Second, SessionTTL: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin, work := newClient(), newClient()
	leader := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			for _, ep := range endpoints {
				sctx, c2 := context.WithTimeout(ctx, time.Second)
				st, err := admin.EndpointStatus(sctx, ep)
				c2()
				if err == nil && st.Role == "leader" {
					return st.ID
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no leader in the compose cluster within 30s")
		return ""
	}
	leader()

	h := NewHistory()
	rec := NewRecorder(h, []string{lockX0, lockX1, lockQ0}, 2*time.Second)
	rng := rand.New(rand.NewPCG(seed, 0x646f636b))
	sub := func() *rand.Rand { return rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) }
	wctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	spawn := func(f func(context.Context)) { wg.Add(1); go func() { defer wg.Done(); f(wctx) }() }
	for i := 0; i < 3; i++ {
		spawn((&LockWorker{R: rec, C: work, Names: []string{lockX0, lockX1, lockSh}, Shared: 0.6, Rand: sub(), MaxHold: 20 * time.Millisecond}).Run)
	}
	spawn((&LockWorker{R: rec, C: work, Names: []string{lockQ0}, Wait: true, Rand: sub(), MaxHold: 10 * time.Millisecond}).Run)
	spawn((&Reader{R: rec, C: newClient(), Names: []string{lockX0, lockX1, lockSh, lockQ0}, Every: 25 * time.Millisecond}).Run)

	var notes []string
	for i := 0; i < 3; i++ {
		time.Sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond)
		victim := leader()
		if rng.IntN(3) == 0 {
			victim = []string{"n1", "n2", "n3"}[rng.IntN(3)]
		}
		d := time.Duration(1000+rng.IntN(1500)) * time.Millisecond
		if i == 2 {
			if out, err := runCmd(time.Minute, nil, "docker", "kill", "-s", "KILL", containers[victim]); err != nil {
				t.Fatalf("docker kill: %v %s", err, out)
			}
			time.Sleep(d)
			if out, err := runCmd(time.Minute, nil, "docker", "start", containers[victim]); err != nil {
				t.Fatalf("docker start: %v %s", err, out)
			}
			notes = append(notes, fmt.Sprintf("docker kill %s, down %v", victim, d))
			continue
		}
		if out, err := runCmd(time.Minute, nil, "docker", "network", "disconnect", network, containers[victim]); err != nil {
			t.Fatalf("network disconnect: %v %s", err, out)
		}
		time.Sleep(d)
		if out, err := runCmd(time.Minute, nil, "docker", "network", "connect", "--alias", victim, network, containers[victim]); err != nil {
			t.Fatalf("network connect: %v %s", err, out)
		}
		notes = append(notes, fmt.Sprintf("disconnected %s for %v", victim, d))
	}
	leader()
	time.Sleep(time.Second)
	stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("workload did not stop within 60s")
	}
	for _, n := range []string{lockX0, lockX1, lockSh, lockQ0} {
		rec.Read(context.Background(), admin, rec.NewClientID(), n)
	}
	ops := h.Ops()
	res := &runResult{ops: ops, notes: notes, stats: rec.Stats, fenceErrs: map[string]error{}, values: map[string]int64{}}
	res.reports, res.linErr = CheckLinearizable(ops, time.Minute, "")
	res.orderErr = CheckTokenOrder(ops)
	res.onceErr = CheckAtMostOnce(ops)
	logs := map[string][]Access{}
	for name, r := range rec.Resources {
		logs[name] = r.Log()
		res.fenceErrs[name] = CheckResource(name, logs[name])
		res.values[name] = r.Value()
	}
	t.Logf("seed %d: %d ops, %s, values %v", seed, len(ops), rec.Stats, res.values)
	for _, n := range notes {
		t.Logf("  %s", n)
	}
	if res.failed() {
		dir := writeArtifacts(t, scenario{seed: seed}, res, logs)
		t.Errorf("seed %d FAILED; history and visualisation in %s\nlinearizability: %v\ntoken order: %v\nat-most-once: %v\nfencing: %v",
			seed, dir, res.linErr, res.orderErr, res.onceErr, res.fenceErrs)
	}
	if rec.Stats.Grants.Load() == 0 {
		t.Errorf("the workload made no progress: %s", rec.Stats)
	}
}
