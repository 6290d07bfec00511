package wal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// formatCounter counts how often it is formatted.
type formatCounter struct{ n *int }

func (c formatCounter) String() string { *c.n++; return "counted" }

// Badger calls Debugf on every write: below the logger's level nothing is
// formatted; at it, the message is logged.
func TestBadgerLoggerFormatsOnlyWhatIsLogged(t *testing.T) {
	var out bytes.Buffer
	n := 0
	info := newBadgerLogger(hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Info}), nil)
	info.Debugf("write %v", formatCounter{&n})
	info.Infof("flush %v", formatCounter{&n})
	if n != 0 || out.Len() != 0 {
		t.Fatalf("at level info, Debugf and Infof formatted %d times and logged %q", n, out.String())
	}
	info.Warningf("slow %v", formatCounter{&n})
	if n != 1 || !strings.Contains(out.String(), "slow counted") {
		t.Fatalf("Warningf at level info: formatted %d times, logged %q", n, out.String())
	}
	out.Reset()
	trace := newBadgerLogger(hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Trace}), nil)
	trace.Debugf("write %v\n", formatCounter{&n})
	if n != 2 || !strings.Contains(out.String(), "write counted") {
		t.Fatalf("Debugf at level trace: formatted %d times, logged %q", n, out.String())
	}
}
