package nemesis

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/pki"
)

// TestHarnessClusterRunsSecured: the harness's cluster runs with mutual
// TLS by default: its root client works (membership included, which only
// an administrator may change), a client without a certificate is
// refused with a TLSError, and so is one whose certificate is of another
// CA.
func TestHarnessClusterRunsSecured(t *testing.T) {
	bin := needBinary(t)
	dir := t.TempDir()
	cl := startCluster(t, DefaultClusterConfig(bin, dir))
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("cluster close: %v", err)
		}
	})
	if cl.ClientTLS() == nil {
		t.Fatal("the default cluster has no client TLS configuration")
	}
	for _, n := range cl.Nodes() {
		cert, _ := pki.NodeFiles(n.ID)
		if _, err := os.Stat(filepath.Join(dir, "certs", cert)); err != nil {
			t.Fatalf("node %s's certificate: %v", n.ID, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	newClient := func(cfg client.Config) *client.Client {
		cfg.RequestTimeout = 10 * time.Second
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	root := newClient(cl.ClientConfig())
	ms, err := root.Members(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("members as root: %v %v", ms, err)
	}
	if _, err := cl.Leader(ctx, root); err != nil {
		t.Fatal(err)
	}

	plain := cl.ClientConfig()
	plain.TLS = nil
	_, err = newClient(plain).Members(ctx)
	var te *client.TLSError
	if !errors.As(err, &te) || te.Party != client.TLSMismatch {
		t.Fatalf("a client without TLS: %v, want a TLSError", err)
	}

	other, err := newCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreign := cl.ClientConfig()
	foreign.TLS = other.client
	_, err = newClient(foreign).Members(ctx)
	if !errors.As(err, &te) || te.Party != client.TLSServer || !strings.Contains(err.Error(), "not signed by a CA") {
		t.Fatalf("a client of another CA: %v, want the server's certificate refused", err)
	}
}
