package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reloadFixture is a node n1 serving with a Reloader over files in dir and
// a client alice with a Reloader of her own; the configurations are built
// once, before any reload.
type reloadFixture struct {
	ca, other                 *CA
	dir                       string
	caFile, certFile, keyFile string
	server, client            *Reloader
	srvCfg, cliCfg            *tls.Config
}

func newReloadFixture(t *testing.T) *reloadFixture {
	t.Helper()
	f := &reloadFixture{ca: newTestCA(t), other: newTestCA(t), dir: t.TempDir()}
	f.caFile = writeCA(t, f.ca, f.dir, "ca")
	f.certFile, f.keyFile = writePair(t, node(t, f.ca, "n1", at(t0, 0)), f.dir, "n1", CreateOnly)
	var err error
	f.server, err = NewReloader(Files{CA: f.caFile, Cert: f.certFile, Key: f.keyFile}, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	aCert, aKey := writePair(t, client(t, f.ca, "alice", at(t0, 0)), f.dir, "alice", CreateOnly)
	f.client, err = NewReloader(Files{CA: f.caFile, Cert: aCert, Key: aKey}, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	f.srvCfg, f.cliCfg = f.server.ServerConfig(), f.client.ClientConfig("n1.example")
	return f
}

// served is the serial of the certificate the client was shown.
func (f *reloadFixture) served(t *testing.T) string {
	t.Helper()
	srv, cli := handshake(t, f.srvCfg, f.cliCfg)
	if srv.err != nil || cli.err != nil {
		t.Fatalf("handshake: server %v, client %v", srv.err, cli.err)
	}
	return cli.state.PeerCertificates[0].SerialNumber.String()
}

// TestReloaderPresentsNewCertificate: new files take effect at Reload,
// for new handshakes of configurations built before.
func TestReloaderPresentsNewCertificate(t *testing.T) {
	f := newReloadFixture(t)
	old := f.served(t)
	if old != f.server.Leaf().SerialNumber.String() {
		t.Fatal("the served certificate is not Leaf")
	}
	next := node(t, f.ca, "n1", at(t0, 0))
	writePair(t, next, f.dir, "n1", Overwrite)
	if got := f.served(t); got != old {
		t.Fatalf("before Reload the server presents %s, want the old %s", got, old)
	}
	if err := f.server.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := f.served(t); got != next.Cert.SerialNumber.String() {
		t.Fatalf("after Reload the server presents %s, want the new %s", got, next.Cert.SerialNumber)
	}

	// The client's certificate likewise.
	alice2 := client(t, f.ca, "alice", at(t0, 0))
	writePair(t, alice2, f.dir, "alice", Overwrite)
	if err := f.client.Reload(); err != nil {
		t.Fatal(err)
	}
	srv, cli := handshake(t, f.srvCfg, f.cliCfg)
	if srv.err != nil || cli.err != nil {
		t.Fatalf("handshake: server %v, client %v", srv.err, cli.err)
	}
	if got := srv.state.PeerCertificates[0].SerialNumber; got.Cmp(alice2.Cert.SerialNumber) != 0 {
		t.Fatalf("the server was shown client certificate %s, want %s", got, alice2.Cert.SerialNumber)
	}
}

// TestReloaderKeepsOldOnBadFiles: a Reload whose files are not valid
// returns why, naming the file, and the previous certificate and CAs stay.
func TestReloaderKeepsOldOnBadFiles(t *testing.T) {
	f := newReloadFixture(t)
	ca, other := f.ca, f.other
	cases := []struct {
		what  string
		write func(t *testing.T)
		want  error  // errors.Is, or nil
		text  string // a part of the message
	}{
		{"corrupt certificate", func(t *testing.T) {
			writeRaw(t, f.certFile, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
		}, ErrBadPEM, f.certFile},
		{"truncated key", func(t *testing.T) {
			writeRaw(t, f.keyFile, string(read(t, f.keyFile)[:40]))
		}, ErrBadPEM, f.keyFile},
		{"key of another certificate", func(t *testing.T) {
			kp := node(t, ca, "n1", at(t0, 0))
			keyPEM, err := kp.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			writeRaw(t, f.keyFile, string(keyPEM))
		}, ErrBadPEM, "private key does not match public key"},
		{"certificate of another CA", func(t *testing.T) {
			writePair(t, node(t, other, "n1", at(t0, 0)), f.dir, "n1", Overwrite)
		}, nil, "is not valid with the CAs of " + f.caFile + ": x509: certificate signed by unknown authority"},
		{"expired certificate", func(t *testing.T) {
			writePair(t, node(t, ca, "n1", at(t0.Add(-2*year), year)), f.dir, "n1", Overwrite)
		}, nil, "certificate has expired or is not yet valid"},
		{"CA file holds a node certificate", func(t *testing.T) {
			writeRaw(t, f.caFile, string(node(t, ca, "n9", at(t0, 0)).CertPEM()))
		}, ErrNotCA, f.caFile},
		{"empty CA file", func(t *testing.T) { writeRaw(t, f.caFile, "") }, ErrNoCertificate, f.caFile},
		{"missing key", func(t *testing.T) {
			if err := os.Remove(f.keyFile); err != nil {
				t.Fatal(err)
			}
		}, os.ErrNotExist, f.keyFile},
	}
	good := map[string][]byte{}
	for _, file := range []string{f.caFile, f.certFile, f.keyFile} {
		good[file] = read(t, file)
	}
	served := f.served(t)
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			c.write(t)
			err := f.server.Reload()
			if err == nil || c.want != nil && !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("Reload: %v; want %v containing %q", err, c.want, c.text)
			}
			if got := f.served(t); got != served {
				t.Fatalf("after a failed Reload the server presents %s, want %s", got, served)
			}
			for file, b := range good {
				writeRaw(t, file, string(b))
			}
			if err := f.server.Reload(); err != nil {
				t.Fatalf("Reload of the good files: %v", err)
			}
		})
	}
}

// TestReloaderFollowsCARotation: a client configuration built before the
// CA file changed accepts a server of the new CA once reloaded.
func TestReloaderFollowsCARotation(t *testing.T) {
	f := newReloadFixture(t)
	// The server moves to the new CA, trusting both.
	writeRaw(t, f.caFile, string(append(f.ca.CertPEM(), f.other.CertPEM()...)))
	writePair(t, node(t, f.other, "n1", at(t0, 0)), f.dir, "n1", Overwrite)
	if err := f.server.Reload(); err != nil {
		t.Fatal(err)
	}
	// The client's files are the same ones, but it has not reloaded.
	_, cli := handshake(t, f.srvCfg, f.cliCfg)
	if !strings.Contains(ExplainAt(cli.err, t0), "not signed by a CA this side trusts") {
		t.Fatalf("client before its Reload: %v", cli.err)
	}
	if err := f.client.Reload(); err != nil {
		t.Fatal(err)
	}
	srv, cli := handshake(t, f.srvCfg, f.cliCfg)
	if srv.err != nil || cli.err != nil {
		t.Fatalf("after the client's Reload: server %v, client %v", srv.err, cli.err)
	}
}

func TestNewReloaderRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA(Options{})
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeCA(t, ca, dir, "ca")
	later, err := ca.IssueNode("n1", []string{"n1.example"}, Options{Now: func() time.Time { return time.Now().Add(year) }})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePair(t, later, dir, "n1", CreateOnly)
	if _, err := NewReloader(Files{CA: caFile, Cert: certFile, Key: filepath.Join(dir, "none.key")}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
	// By the real clock (nil), a certificate issued a year from now is
	// not valid yet.
	if _, err := NewReloader(Files{CA: caFile, Cert: certFile, Key: keyFile}, nil); err == nil || !strings.Contains(err.Error(), "not yet valid") {
		t.Errorf("certificate not valid yet: %v", err)
	}
}

func writeRaw(t *testing.T, file, s string) {
	t.Helper()
	if err := writeFile(file, []byte(s), 0o600, Overwrite); err != nil {
		t.Fatal(err)
	}
}

// TestCheckedReloaderRefusesWhatTheCheckRefuses: a node's reloader
// refuses, at the start and at Reload, a valid certificate of another
// node, and keeps the one it has.
func TestCheckedReloaderRefusesWhatTheCheckRefuses(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	files := Files{CA: writeCA(t, ca, dir, "ca")}
	errOther := errors.New("not n1")
	isN1 := func(leaf *x509.Certificate) error {
		if id, err := NodeID(leaf); err != nil || id != "n1" {
			return errOther
		}
		return nil
	}
	now := func() time.Time { return t0 }
	files.Cert, files.Key = writePair(t, node(t, ca, "n2", at(t0, 0)), dir, "n", Overwrite)
	if _, err := NewCheckedReloader(files, now, isN1); !errors.Is(err, errOther) {
		t.Fatalf("start with n2's certificate: %v", err)
	}
	first := node(t, ca, "n1", at(t0, 0))
	writePair(t, first, dir, "n", Overwrite)
	r, err := NewCheckedReloader(files, now, isN1)
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, node(t, ca, "n2", at(t0, 0)), dir, "n", Overwrite)
	if err := r.Reload(); !errors.Is(err, errOther) {
		t.Fatalf("Reload of n2's certificate: %v", err)
	}
	if r.Leaf().SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatal("a refused Reload replaced the certificate")
	}
}
