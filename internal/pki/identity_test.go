package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"n1", true},
		{"node-1.dc_2", true},
		{"A", true},
		{strings.Repeat("x", MaxNameLen), true},
		{"", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{"a/b", false},
		{"a b", false},
		{"a:b", false},
		{"é", false},
		{"n1?x", false},
	}
	for _, c := range cases {
		err := CheckName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, not ErrInvalidName", c.name, err)
		}
	}
}

func TestIdentityURIs(t *testing.T) {
	if got := NodeURI("n1").String(); got != "lockd://node/n1" {
		t.Errorf("NodeURI = %s", got)
	}
	if got := ClientURI("alice").String(); got != "lockd://client/alice" {
		t.Errorf("ClientURI = %s", got)
	}
}

// TestIdentityFromCertificate: NodeID and Principal read only lockd URIs,
// and a certificate names exactly one identity or none.
func TestIdentityFromCertificate(t *testing.T) {
	cert := func(uris ...string) *x509.Certificate {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: "cn"}}
		for _, s := range uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, u)
		}
		return c
	}
	cases := []struct {
		what          string
		cert          *x509.Certificate
		node, client  string
		nodeErr, cErr error
	}{
		{"node", cert("lockd://node/n1"), "n1", "", nil, ErrNoIdentity},
		{"client", cert("lockd://client/alice"), "", "alice", ErrNoIdentity, nil},
		{"no URI", cert(), "", "", ErrNoIdentity, ErrNoIdentity},
		{"other schemes ignored", cert("spiffe://example.org/n2", "https://n3.example/", "lockd://node/n1"), "n1", "", nil, ErrNoIdentity},
		{"two nodes", cert("lockd://node/n1", "lockd://node/n2"), "", "", ErrAmbiguousIdentity, ErrAmbiguousIdentity},
		{"the same node twice", cert("lockd://node/n1", "lockd://node/n1"), "", "", ErrAmbiguousIdentity, ErrAmbiguousIdentity},
		{"node and client", cert("lockd://node/n1", "lockd://client/n1"), "", "", ErrAmbiguousIdentity, ErrAmbiguousIdentity},
		{"empty name", cert("lockd://node/"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"path", cert("lockd://node/n1/x"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"query", cert("lockd://node/n1?x=1"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"fragment", cert("lockd://client/a#b"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"user", cert("lockd://u@node/n1"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"port", cert("lockd://node:1/n1"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"unknown kind", cert("lockd://admin/root"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"kind in upper case", cert("lockd://NODE/n1"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"escaped", cert("lockd://node/n%2F1"), "", "", ErrInvalidIdentity, ErrInvalidIdentity},
		{"nil", nil, "", "", ErrNoIdentity, ErrNoIdentity},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			id, err := NodeID(c.cert)
			if id != c.node || !errors.Is(err, c.nodeErr) || (c.nodeErr == nil) != (err == nil) {
				t.Errorf("NodeID = %q, %v; want %q, %v", id, err, c.node, c.nodeErr)
			}
			p, err := Principal(c.cert)
			if p != c.client || !errors.Is(err, c.cErr) || (c.cErr == nil) != (err == nil) {
				t.Errorf("Principal = %q, %v; want %q, %v", p, err, c.client, c.cErr)
			}
		})
	}
}

func TestParseHosts(t *testing.T) {
	cases := []struct {
		hosts []string
		want  string // joined with ","; "" for an error
		err   error
	}{
		{[]string{"127.0.0.1"}, "127.0.0.1", nil},
		{[]string{"n1.example", "10.0.0.1", "::1", "localhost"}, "10.0.0.1,::1,n1.example,localhost", nil},
		{[]string{"N1.Example", "n1.example", "10.0.0.1", "10.0.0.1", "::ffff:10.0.0.1"}, "10.0.0.1,n1.example", nil},
		{[]string{"a-b.c-d"}, "a-b.c-d", nil},
		{nil, "", ErrNoHosts},
		{[]string{}, "", ErrNoHosts},
		{[]string{""}, "", ErrInvalidHost},
		{[]string{"127.0.0.1:7001"}, "", ErrInvalidHost},
		{[]string{"n1.example:7001"}, "", ErrInvalidHost},
		{[]string{"[::1]:7001"}, "", ErrInvalidHost},
		{[]string{"fe80::1%eth0"}, "", ErrInvalidHost},
		{[]string{"-n1.example"}, "", ErrInvalidHost},
		{[]string{"n1..example"}, "", ErrInvalidHost},
		{[]string{"n1.example."}, "", ErrInvalidHost},
		{[]string{"*.example"}, "", ErrInvalidHost},
		{[]string{"n_1.example"}, "", ErrInvalidHost},
		{[]string{"http://n1"}, "", ErrInvalidHost},
		{[]string{"10.0.0.300"}, "", ErrInvalidHost},
		{[]string{"10.0.1"}, "", ErrInvalidHost},
		{[]string{"1n.example"}, "1n.example", nil},
		{[]string{"n1.example.2x"}, "n1.example.2x", nil},
		{[]string{strings.Repeat("a", 64) + ".example"}, "", ErrInvalidHost},
	}
	for _, c := range cases {
		got, err := ParseHosts(c.hosts)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ParseHosts(%q) = %q, %v; want %v", c.hosts, got, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("ParseHosts(%q) = %q, %v; want %s", c.hosts, got, err, c.want)
		}
	}
}
