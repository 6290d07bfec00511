package pki

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// t0 is the tests' "now": every certificate and clock is placed relative
// to it, and no test waits for time to pass.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

const year = 365 * 24 * time.Hour

// at is Options issuing at t with validity v (0: the default).
func at(t time.Time, v time.Duration) Options {
	return Options{Now: func() time.Time { return t }, Validity: v}
}

// clock is a settable clock for Reloaders.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// newTestCA returns a CA valid from 5 years before t0 for 20 years.
func newTestCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA(at(t0.Add(-5*year), 20*year))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// writePair writes kp as dir/name.crt and dir/name.key and returns them.
func writePair(t *testing.T, kp *KeyPair, dir, name string, mode WriteMode) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := kp.WriteFiles(certFile, keyFile, mode); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// writeCA writes ca's certificate as dir/name.crt and returns its path.
func writeCA(t *testing.T, ca *CA, dir, name string) string {
	t.Helper()
	f, _ := writePair(t, &ca.KeyPair, dir, name, CreateOnly)
	return f
}

// node issues node id's certificate for 127.0.0.1 and id.example.
func node(t *testing.T, ca *CA, id string, opts Options) *KeyPair {
	t.Helper()
	kp, err := ca.IssueNode(id, []string{"127.0.0.1", id + ".example"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// client issues principal name's certificate.
func client(t *testing.T, ca *CA, name string, opts Options) *KeyPair {
	t.Helper()
	kp, err := ca.IssueClient(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}
