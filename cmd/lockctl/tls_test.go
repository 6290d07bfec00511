package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/server"
)

// tlsCertDir makes, with lockctl's own cert commands, a CA in dir with node
// certificates for n1..n3 on 127.0.0.1 and a client certificate for name.
func tlsCertDir(t *testing.T, dir string, clients ...string) {
	t.Helper()
	cmds := [][]string{{"cert", "create-ca", "--dir", dir}}
	for _, id := range []string{"n1", "n2", "n3"} {
		cmds = append(cmds, []string{"cert", "create-node", "--dir", dir, "--addr", "127.0.0.1", id})
	}
	for _, name := range clients {
		cmds = append(cmds, []string{"cert", "create-client", "--dir", dir, name})
	}
	for _, args := range cmds {
		if code, _, stderr := runArgs(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
}

// clientFlags are the global options that give lockctl name's
// certificate from dir.
func clientFlags(dir, name string) []string {
	cert, key := pki.ClientFiles(name)
	return []string{"--cacert", filepath.Join(dir, pki.CACertFile), "--cert", filepath.Join(dir, cert), "--key", filepath.Join(dir, key)}
}

// startTLSCluster starts a three-node cluster with mutual TLS from the
// certificates in dir.
func startTLSCluster(t *testing.T, dir string) *testCluster {
	t.Helper()
	var tweakErr error
	c, err := startClusterWith(func(cfg *server.Config) {
		cert, key := pki.NodeFiles(cfg.ID)
		r, err := pki.NewReloader(pki.Files{CA: filepath.Join(dir, pki.CACertFile),
			Cert: filepath.Join(dir, cert), Key: filepath.Join(dir, key)}, nil)
		if err != nil {
			tweakErr = err
			return
		}
		cfg.TLS = &server.TLSConfig{Server: r.ServerConfig(), Client: r.ClientConfig}
	})
	if tweakErr != nil {
		t.Fatal(tweakErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

// TestTLSFlagsNeedAllThreeOrNone: some of --cacert, --cert, --key (or
// their variables) without the others is bad usage.
func TestTLSFlagsNeedAllThreeOrNone(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--cacert", "ca.crt", "status"}, nil, "--cert (or LOCKD_CERT)"},
		{[]string{"--cert", "c.crt", "--key", "c.key", "status"}, nil, "--cacert (or LOCKD_CACERT)"},
		{[]string{"status"}, map[string]string{"LOCKD_CACERT": "ca.crt", "LOCKD_CERT": "c.crt"}, "--key (or LOCKD_KEY)"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runArgs(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, %q; want %d naming %s", code, stderr, exitUsage, tc.want)
			}
		})
	}
}

// TestUnusableCertificateFilesExitEight: files that cannot be used fail
// before any connection, with exit 8 and the file named.
func TestUnusableCertificateFilesExitEight(t *testing.T) {
	dir := t.TempDir()
	tlsCertDir(t, dir, "root", "bob")
	flags := clientFlags(dir, "root")
	_, bobKey := pki.ClientFiles("bob")
	flags[5] = filepath.Join(dir, bobKey) // root's certificate with bob's key
	code, _, stderr := runArgs(t, append(append([]string{"-e", "127.0.0.1:1"}, flags...), "status")...)
	if code != exitTLS || !strings.Contains(stderr, bobKey) {
		t.Fatalf("root's certificate with bob's key: exit %d, %q; want %d naming %s", code, stderr, exitTLS, bobKey)
	}
	missing := clientFlags(filepath.Join(dir, "nowhere"), "root")
	if code, _, stderr := runArgs(t, append(append([]string{"-e", "127.0.0.1:1"}, missing...), "status")...); code != exitTLS {
		t.Fatalf("missing files: exit %d, %q; want %d", code, stderr, exitTLS)
	}
}

// TestTLSClusterWithCertificates: against a cluster with mutual TLS,
// lockctl works with the client certificate given by flags or by the
// LOCKD_* variables (bench included), and without one, or with one of
// another CA, it exits 8 saying why.
func TestTLSClusterWithCertificates(t *testing.T) {
	dir := t.TempDir()
	tlsCertDir(t, dir, "root")
	c := startTLSCluster(t, dir)
	eps := []string{"-e", c.endpoints()}

	// status exits 5 until the new cluster has elected its leader.
	var code int
	var out, stderr string
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, out, stderr = runArgs(t, append(append(eps, clientFlags(dir, "root")...), "-o", "json", "status")...)
		if code != exitNoQuorum || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polls a condition; no timing is assumed
	}
	var d statusDoc
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || len(d.Nodes) != 3 || d.Leader == "" {
		t.Fatalf("status with certificate flags: exit %d, %v, %+v; %s", code, err, d, stderr)
	}

	f := clientFlags(dir, "root")
	t.Run("variables and bench", func(t *testing.T) {
		t.Setenv("LOCKD_CACERT", f[1])
		t.Setenv("LOCKD_CERT", f[3])
		t.Setenv("LOCKD_KEY", f[5])
		code, out, stderr := runArgs(t, append(eps, "-o", "json", "bench", "--duration", "300ms", "--clients", "2")...)
		var b map[string]any
		if err := json.Unmarshal([]byte(out), &b); code != 0 || err != nil || b["ops"].(float64) < 1 || b["errors"].(float64) != 0 {
			t.Fatalf("bench over TLS: exit %d, %v, %v; %s", code, err, b, stderr)
		}
	})

	t.Run("no certificate", func(t *testing.T) {
		code, _, stderr := runArgs(t, append(eps, "locks", "list")...)
		if code != exitTLS || !strings.Contains(stderr, "requires TLS and this client has no TLS configuration") || !strings.Contains(stderr, "--cacert ca.crt --cert client-NAME.crt") {
			t.Fatalf("without a certificate: exit %d, %q; want %d with the flags to use", code, stderr, exitTLS)
		}
	})

	t.Run("certificate of another CA", func(t *testing.T) {
		other := t.TempDir()
		tlsCertDir(t, other, "root")
		code, _, stderr := runArgs(t, append(append(eps, clientFlags(other, "root")...), "locks", "list")...)
		if code != exitTLS || !strings.Contains(stderr, "not signed by a CA this client trusts") {
			t.Fatalf("with another CA: exit %d, %q; want %d", code, stderr, exitTLS)
		}
	})
}
