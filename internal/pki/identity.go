package pki

import (
	"crypto/x509"
	"fmt"
	"net/url"
)

// The URI of an identity is lockd://KIND/NAME.
const (
	uriScheme  = "lockd"
	kindNode   = "node"
	kindClient = "client"
)

// MaxNameLen is the longest node ID or principal.
const MaxNameLen = 64

// CheckName accepts a node ID or client principal: 1 to MaxNameLen
// letters, digits, '-', '_' and '.', the rules of lockd's --id.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: want 1 to %d characters", ErrInvalidName, name, MaxNameLen)
	}
	for _, r := range name {
		ok := r == '-' || r == '_' || r == '.' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return fmt.Errorf("%w %q: use only letters, digits, '-', '_' and '.'", ErrInvalidName, name)
		}
	}
	return nil
}

// NodeURI is the URI that binds node id to a certificate: lockd://node/ID.
func NodeURI(id string) *url.URL { return identityURI(kindNode, id) }

// ClientURI is the URI that binds a client principal to a certificate:
// lockd://client/NAME.
func ClientURI(name string) *url.URL { return identityURI(kindClient, name) }

func identityURI(kind, name string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: kind, Path: "/" + name}
}

// NodeID returns the node ID that cert is bound to (its lockd://node/ID
// URI). The caller must have verified cert.
func NodeID(cert *x509.Certificate) (string, error) { return identityOf(cert, kindNode) }

// Principal returns the client principal that cert is bound to (its
// lockd://client/NAME URI). The caller must have verified cert.
func Principal(cert *x509.Certificate) (string, error) { return identityOf(cert, kindClient) }

// identityOf returns the name of the one lockd identity of cert if it is
// of kind. Any lockd URI counts, so a certificate naming a node and a
// client is ambiguous for both.
func identityOf(cert *x509.Certificate, kind string) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("%w: no certificate", ErrNoIdentity)
	}
	var gotKind, name string
	n := 0
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		k, nm, err := parseIdentityURI(u)
		if err != nil {
			return "", fmt.Errorf("%w: %s (certificate %q)", err, u, cert.Subject.CommonName)
		}
		gotKind, name = k, nm
		n++
	}
	switch {
	case n > 1:
		return "", fmt.Errorf("%w: %d lockd URIs (certificate %q)", ErrAmbiguousIdentity, n, cert.Subject.CommonName)
	case n == 0 || gotKind != kind:
		return "", fmt.Errorf("%w: no %s URI (certificate %q)", ErrNoIdentity, identityURI(kind, "NAME"), cert.Subject.CommonName)
	}
	return name, nil
}

// parseIdentityURI splits lockd://KIND/NAME; nothing else may be present.
func parseIdentityURI(u *url.URL) (kind, name string, err error) {
	if u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || u.RawPath != "" || len(u.Path) < 2 || u.Path[0] != '/' {
		return "", "", ErrInvalidIdentity
	}
	if u.Host != kindNode && u.Host != kindClient {
		return "", "", ErrInvalidIdentity
	}
	if CheckName(u.Path[1:]) != nil {
		return "", "", ErrInvalidIdentity
	}
	return u.Host, u.Path[1:], nil
}
