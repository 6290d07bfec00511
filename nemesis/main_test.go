package nemesis

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var (
	flagSeed     = flag.Uint64("nemesis.seed", 1, "seed of the first run's fault schedule and workload")
	flagRuns     = flag.Int("nemesis.runs", 1, "runs of the process nemesis test (seeds seed, seed+1, ...)")
	flagDuration = flag.Duration("nemesis.duration", 30*time.Second, "fault phase of each process run")
	flagFaults   = flag.String("nemesis.faults", "all", "comma-separated faults to draw from: "+fmt.Sprint(AllFaults))
	flagOut      = flag.String("nemesis.out", filepath.Join(os.TempDir(), "lockd-nemesis"), "directory for the history and visualisation of failed runs")
	flagVerbose  = flag.Bool("nemesis.v", false, "log the harness's actions and keep node logs of passing runs")
	flagSnapshot = flag.Uint64("nemesis.snapshot-entries", 0, "lockd --snapshot-entries for the process runs (0: the harness default, a snapshot every 1000 entries)")
)

// lockdBin is the lockd binary built once for the whole package, or
// lockdBinErr why it could not be built.
var (
	lockdBin    string
	lockdBinErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "lockd-nemesis-bin-")
	if err != nil {
		lockdBinErr = err
	} else {
		lockdBin = filepath.Join(dir, "lockd")
		cmd := exec.Command("go", "build", "-o", lockdBin, "github.com/lockd/lockd/cmd/lockd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			lockdBinErr = fmt.Errorf("go build ./cmd/lockd: %v\n%s", err, out)
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// needBinary skips a test when lockd could not be built.
func needBinary(t *testing.T) string {
	t.Helper()
	if lockdBinErr != nil {
		t.Skipf("lockd binary unavailable: %v", lockdBinErr)
	}
	return lockdBin
}
