package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	ca, err := NewCA(at(t0, 0))
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("IsCA %v, BasicConstraintsValid %v, MaxPathLen %d, MaxPathLenZero %v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || len(c.ExtKeyUsage) != 0 {
		t.Errorf("KeyUsage %v, ExtKeyUsage %v", c.KeyUsage, c.ExtKeyUsage)
	}
	if !c.NotBefore.Equal(t0.Add(-time.Hour)) || !c.NotAfter.Equal(t0.Add(DefaultCAValidity)) {
		t.Errorf("valid %s to %s", c.NotBefore, c.NotAfter)
	}
	if k, ok := ca.Key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("key %T, signature %v", ca.Key, c.SignatureAlgorithm)
	}
	if !bytes.Equal(c.RawSubject, c.RawIssuer) || c.CheckSignatureFrom(c) != nil {
		t.Errorf("not self-signed")
	}
	if len(c.SubjectKeyId) != 20 || len(c.URIs)+len(c.DNSNames)+len(c.IPAddresses) != 0 {
		t.Errorf("SubjectKeyId %x, URIs %v, DNS %v, IPs %v", c.SubjectKeyId, c.URIs, c.DNSNames, c.IPAddresses)
	}
	// Two CAs have different names, so messages tell them apart.
	other, err := NewCA(at(t0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if other.Cert.Subject.CommonName == c.Subject.CommonName {
		t.Errorf("two CAs named %q", c.Subject.CommonName)
	}
}

// TestSerialsAreRandom128Bit: serials are positive, at most 128 bits, and
// differ.
func TestSerialsAreRandom128Bit(t *testing.T) {
	ca := newTestCA(t)
	seen := map[string]bool{ca.Cert.SerialNumber.String(): true}
	long := false
	for range 8 {
		s := client(t, ca, "c", at(t0, 0)).Cert.SerialNumber
		if s.Sign() <= 0 || s.BitLen() > 128 || seen[s.String()] {
			t.Fatalf("serial %x", s)
		}
		long = long || s.BitLen() > 64
		seen[s.String()] = true
	}
	if !long {
		t.Errorf("no serial longer than 64 bits in 8")
	}
}

func TestIssueNode(t *testing.T) {
	ca := newTestCA(t)
	kp, err := ca.IssueNode("n1", []string{"N1.example", "10.0.0.1", "::1", "10.0.0.1"}, at(t0, 0))
	if err != nil {
		t.Fatal(err)
	}
	c := kp.Cert
	if c.Subject.CommonName != "n1" || len(c.URIs) != 1 || c.URIs[0].String() != "lockd://node/n1" {
		t.Errorf("CN %q, URIs %v", c.Subject.CommonName, c.URIs)
	}
	if !slices.Equal(c.DNSNames, []string{"n1.example"}) || len(c.IPAddresses) != 2 ||
		!c.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("DNS %v, IPs %v: want exactly the hosts given", c.DNSNames, c.IPAddresses)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) ||
		c.KeyUsage != x509.KeyUsageDigitalSignature || c.IsCA {
		t.Errorf("ExtKeyUsage %v, KeyUsage %v, IsCA %v", c.ExtKeyUsage, c.KeyUsage, c.IsCA)
	}
	if !c.NotBefore.Equal(t0.Add(-time.Hour)) || !c.NotAfter.Equal(t0.Add(DefaultLeafValidity)) {
		t.Errorf("valid %s to %s", c.NotBefore, c.NotAfter)
	}
	if !bytes.Equal(c.AuthorityKeyId, ca.Cert.SubjectKeyId) {
		t.Errorf("AuthorityKeyId %x, CA's SubjectKeyId %x", c.AuthorityKeyId, ca.Cert.SubjectKeyId)
	}
	verify(t, ca, c, x509.ExtKeyUsageServerAuth, "n1.example")
	verify(t, ca, c, x509.ExtKeyUsageClientAuth, "")
	if id, err := NodeID(c); id != "n1" || err != nil {
		t.Errorf("NodeID = %q, %v", id, err)
	}
	if _, err := Principal(c); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("a node certificate names a principal: %v", err)
	}
}

func TestIssueClient(t *testing.T) {
	ca := newTestCA(t)
	c := client(t, ca, "alice", at(t0, 30*24*time.Hour)).Cert
	if c.Subject.CommonName != "alice" || len(c.URIs) != 1 || c.URIs[0].String() != "lockd://client/alice" ||
		len(c.DNSNames)+len(c.IPAddresses) != 0 {
		t.Errorf("CN %q, URIs %v, DNS %v, IPs %v", c.Subject.CommonName, c.URIs, c.DNSNames, c.IPAddresses)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || c.IsCA {
		t.Errorf("ExtKeyUsage %v, IsCA %v", c.ExtKeyUsage, c.IsCA)
	}
	if !c.NotAfter.Equal(t0.Add(30 * 24 * time.Hour)) {
		t.Errorf("NotAfter %s", c.NotAfter)
	}
	verify(t, ca, c, x509.ExtKeyUsageClientAuth, "")
	opts := x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := c.Verify(opts); err == nil {
		t.Errorf("a client certificate verifies as a server's")
	}
	if p, err := Principal(c); p != "alice" || err != nil {
		t.Errorf("Principal = %q, %v", p, err)
	}
}

// TestIssueRefuses bad names, hosts and validities.
func TestIssueRefuses(t *testing.T) {
	ca := newTestCA(t) // ends t0+15y
	cases := []struct {
		what  string
		issue func() error
		want  error
	}{
		{"node without id", func() error { _, err := ca.IssueNode("", []string{"h"}, at(t0, 0)); return err }, ErrInvalidName},
		{"node id with slash", func() error { _, err := ca.IssueNode("a/b", []string{"h"}, at(t0, 0)); return err }, ErrInvalidName},
		{"client name with space", func() error { _, err := ca.IssueClient("a b", at(t0, 0)); return err }, ErrInvalidName},
		{"node without hosts", func() error { _, err := ca.IssueNode("n1", nil, at(t0, 0)); return err }, ErrNoHosts},
		{"host with port", func() error { _, err := ca.IssueNode("n1", []string{"h:1"}, at(t0, 0)); return err }, ErrInvalidHost},
		{"negative validity", func() error { _, err := ca.IssueClient("c", at(t0, -time.Hour)); return err }, ErrInvalidValidity},
		{"outlives the CA", func() error { _, err := ca.IssueClient("c", at(t0, 16*year)); return err }, ErrInvalidValidity},
		{"after the CA ended", func() error { _, err := ca.IssueClient("c", at(t0.Add(16*year), time.Hour)); return err }, ErrInvalidValidity},
		{"ends before the CA starts", func() error { _, err := ca.IssueClient("c", at(t0.Add(-6*year), time.Hour)); return err }, ErrInvalidValidity},
		{"negative CA validity", func() error { _, err := NewCA(at(t0, -1)); return err }, ErrInvalidValidity},
	}
	for _, c := range cases {
		if err := c.issue(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}
}

// TestLeafStartsNoEarlierThanItsCA: the hour of backdating stops at the
// CA's own start (here the issuing clock is half an hour behind the one
// that made the CA).
func TestLeafStartsNoEarlierThanItsCA(t *testing.T) {
	ca, err := NewCA(at(t0, 0))
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, ca, "c", at(t0.Add(-30*time.Minute), 0)).Cert
	if !c.NotBefore.Equal(ca.Cert.NotBefore) {
		t.Errorf("leaf starts %s, CA %s", c.NotBefore, ca.Cert.NotBefore)
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := writePair(t, &ca.KeyPair, dir, "ca", CreateOnly)
	loaded, err := LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) {
		t.Fatal("loaded another certificate")
	}
	verify(t, ca, client(t, loaded, "c", at(t0, 0)).Cert, x509.ExtKeyUsageClientAuth, "")

	nodeCert, nodeKey := writePair(t, node(t, ca, "n1", at(t0, 0)), dir, "n1", CreateOnly)
	if _, err := LoadCA(nodeCert, nodeKey); !errors.Is(err, ErrNotCA) {
		t.Errorf("LoadCA of a node certificate: %v", err)
	}
	if _, err := LoadCA(certFile, nodeKey); !errors.Is(err, ErrBadPEM) {
		t.Errorf("LoadCA with another key: %v", err)
	}
	if _, err := LoadCA(filepath.Join(dir, "missing.crt"), keyFile); err == nil {
		t.Errorf("LoadCA of a missing file succeeded")
	}
	if _, err := LoadCAPool(nodeCert); !errors.Is(err, ErrNotCA) {
		t.Errorf("LoadCAPool of a node certificate: %v", err)
	}
	if _, err := LoadCAPool(keyFile); !errors.Is(err, ErrBadPEM) {
		t.Errorf("LoadCAPool of a key: %v", err)
	}
}

func pool(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

func verify(t *testing.T, ca *CA, c *x509.Certificate, usage x509.ExtKeyUsage, host string) {
	t.Helper()
	opts := x509.VerifyOptions{Roots: pool(ca), CurrentTime: t0, DNSName: host, KeyUsages: []x509.ExtKeyUsage{usage}}
	if _, err := c.Verify(opts); err != nil {
		t.Errorf("%q does not verify for %v %q: %v", c.Subject.CommonName, usage, host, err)
	}
}
