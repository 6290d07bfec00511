package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// unit is a parsed systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

// parseUnit reads the sections and Key=Value lines of a unit file;
// comments and blank lines are skipped.
func parseUnit(text string) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("line %d: %q is neither a section nor Key=Value in one", n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u, nil
}

// one returns the single value of a key, or "" when it is absent.
func (u unit) one(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

var envLineRE = regexp.MustCompile(`^#?\s*(LOCKD_[A-Z0-9_]+)=(.*)$`)

// envFileVars returns the LOCKD_* variables an environment file sets or
// shows commented out (both are instructions to the operator).
func envFileVars(text string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if m := envLineRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			vars[m[1]] = m[2]
		}
	}
	return vars
}

func readUnit(t *testing.T) (unit, string) {
	t.Helper()
	b, err := os.ReadFile(deployFile("systemd", "lockd.service"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(b))
	if err != nil {
		t.Fatalf("lockd.service: %v", err)
	}
	return u, string(b)
}

// Every flag in the unit's ExecStart and every LOCKD_* variable of the
// example environment file is one that lockd --help lists.
func TestSystemdUnitUsesOnlyLockdFlags(t *testing.T) {
	u, _ := readUnit(t)
	h := lockdHelp(t)
	exec := strings.Fields(u.one("Service", "ExecStart"))
	if len(exec) == 0 || filepath.Base(exec[0]) != "lockd" {
		t.Fatalf("ExecStart = %q, want lockd with flags", exec)
	}
	uses := flagsOf("lockd.service ExecStart", exec[1:])
	b, err := os.ReadFile(deployFile("systemd", "lockd.env"))
	if err != nil {
		t.Fatal(err)
	}
	vars := envFileVars(string(b))
	if len(vars) == 0 {
		t.Fatal("lockd.env sets no LOCKD_* variable")
	}
	for name := range vars {
		uses = append(uses, use{where: "lockd.env", name: name, env: true})
	}
	checkUses(t, h, uses)
}

// The unit is hardened, restarts only on failure, reloads with SIGHUP,
// and gives a graceful stop (the leadership hand-off bounded by
// --shutdown-timeout, then up to 30 s to close the log) time to finish
// before systemd kills the process.
func TestSystemdUnitHardenedAndStopsGracefully(t *testing.T) {
	u, _ := readUnit(t)
	want := map[string]string{
		"Type":                     "exec",
		"User":                     "lockd",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"ProtectHome":              "yes",
		"PrivateTmp":               "yes",
		"PrivateDevices":           "yes",
		"CapabilityBoundingSet":    "",
		"AmbientCapabilities":      "",
		"StateDirectory":           "lockd",
		"Restart":                  "on-failure",
		"RestartPreventExitStatus": "2",
		"KillSignal":               "SIGTERM",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
	}
	for k, v := range want {
		got, ok := u["Service"][k]
		if !ok {
			t.Errorf("[Service] %s is missing, want %q", k, v)
		} else if got[len(got)-1] != v {
			t.Errorf("[Service] %s=%q, want %q", k, got[len(got)-1], v)
		}
	}
	exec := u.one("Service", "ExecStart")
	if !strings.Contains(exec, "--data-dir /var/lib/lockd") {
		t.Errorf("ExecStart=%q does not keep the data in the state directory /var/lib/lockd", exec)
	}
	stop, err := time.ParseDuration(u.one("Service", "TimeoutStopSec"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	b, err := os.ReadFile(deployFile("systemd", "lockd.env"))
	if err != nil {
		t.Fatal(err)
	}
	shutdown, err := time.ParseDuration(envFileVars(string(b))["LOCKD_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("lockd.env LOCKD_SHUTDOWN_TIMEOUT: %v", err)
	}
	const walClose = 30 * time.Second // cmd/lockd's bound on closing the log
	if stop <= shutdown+walClose {
		t.Errorf("TimeoutStopSec=%v leaves no room after --shutdown-timeout %v and the log's close (%v)", stop, shutdown, walClose)
	}
}

// verifyUnit runs systemd-analyze verify on text saved as lockd.service,
// with ExecStart's binary replaced by bin (verify checks that it exists),
// and returns what it printed; a clean unit prints nothing.
func verifyUnit(t *testing.T, analyze, text, bin string) string {
	t.Helper()
	text = strings.ReplaceAll(text, "/usr/local/bin/lockd", bin)
	dir := t.TempDir()
	path := filepath.Join(dir, "lockd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, "verify", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil && out.Len() == 0 {
		return err.Error()
	}
	return strings.TrimSpace(out.String())
}

// systemd-analyze verify accepts the unit without a warning; a unit with
// an unknown key is reported (the negative control). Skipped where the
// machine has no systemd-analyze.
func TestSystemdUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed here (apt-get install systemd); the unit is not verified")
	}
	_, text := readUnit(t)
	bin := binary(t, "lockd")
	if out := verifyUnit(t, analyze, text, bin); out != "" {
		t.Errorf("systemd-analyze verify lockd.service:\n%s", out)
	}
	broken := strings.Replace(text, "TimeoutStopSec=", "TimeoutStopSecs=", 1)
	if out := verifyUnit(t, analyze, broken, bin); !strings.Contains(out, "TimeoutStopSecs") {
		t.Errorf("systemd-analyze verify did not report the unknown key TimeoutStopSecs; it printed %q", out)
	}
}

// exposureRE reads systemd-analyze security's verdict.
var exposureRE = regexp.MustCompile(`Overall exposure level for lockd\.service: ([0-9.]+)`)

// exposure runs systemd-analyze security --offline on text saved as
// lockd.service and returns its overall exposure (0 safest, 10 least
// safe); ok is false when this systemd cannot analyse a unit file offline.
func exposure(t *testing.T, analyze, text, bin string) (level float64, out string, ok bool) {
	t.Helper()
	text = strings.ReplaceAll(text, "/usr/local/bin/lockd", bin)
	path := filepath.Join(t.TempDir(), "lockd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, "security", "--offline=true", "--no-pager", path)
	b, _ := cmd.CombinedOutput()
	m := exposureRE.FindSubmatch(b)
	if m == nil {
		return 0, string(b), false
	}
	if _, err := fmt.Sscanf(string(m[1]), "%g", &level); err != nil {
		t.Fatalf("exposure %q: %v", m[1], err)
	}
	return level, string(b), true
}

// maxExposure is the highest exposure systemd-analyze security may give
// the unit (10 is a unit without any sandboxing); systemd 252 rates it
// 1.4, "OK".
const maxExposure = 2.0

// systemd-analyze security rates the unit's sandbox as well hardened; the
// same unit without its hardening lines is rated far worse (the negative
// control). Skipped where systemd-analyze is missing or cannot analyse a
// unit file offline (systemd before 250).
func TestSystemdUnitExposureIsLow(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed here (apt-get install systemd); the unit's hardening is not rated")
	}
	_, text := readUnit(t)
	bin := binary(t, "lockd")
	level, out, ok := exposure(t, analyze, text, bin)
	if !ok {
		t.Skipf("this systemd-analyze cannot rate a unit file offline:\n%s", out)
	}
	if level > maxExposure {
		t.Errorf("systemd-analyze security rates lockd.service %.1f, want at most %.1f:\n%s", level, maxExposure, out)
	}
	var bare []string
	hardening := regexp.MustCompile(`^(NoNewPrivileges|CapabilityBoundingSet|AmbientCapabilities|Protect[A-Za-z]*|Private[A-Za-z]*|Restrict[A-Za-z]*|SystemCall[A-Za-z]*|LockPersonality|MemoryDenyWriteExecute|DevicePolicy|RemoveIPC|UMask|User|Group)=`)
	for _, line := range strings.Split(text, "\n") {
		if !hardening.MatchString(line) {
			bare = append(bare, line)
		}
	}
	if level, out, _ := exposure(t, analyze, strings.Join(bare, "\n"), bin); level <= maxExposure {
		t.Errorf("the unit without its hardening is rated %.1f, not above %.1f: the rating checks nothing\n%s", level, maxExposure, out)
	}
}
