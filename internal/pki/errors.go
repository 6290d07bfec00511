package pki

import "errors"

// Errors of pki; match them with errors.Is. The errors returned wrap them
// with the offending name, file or certificate.
var (
	// ErrInvalidName: a node ID or principal breaks the naming rules.
	ErrInvalidName = errors.New("pki: invalid name")
	// ErrInvalidHost: a host for a node certificate is neither an IP
	// address nor a DNS name.
	ErrInvalidHost = errors.New("pki: invalid host")
	// ErrNoHosts: a node certificate was asked for without any host.
	ErrNoHosts = errors.New("pki: no hosts")
	// ErrInvalidValidity: a validity is negative, or would outlast the CA
	// or start before it.
	ErrInvalidValidity = errors.New("pki: invalid validity")
	// ErrNotCA: a certificate used as a CA is not one.
	ErrNotCA = errors.New("pki: not a CA certificate")
	// ErrExists: a file to be created exists already.
	ErrExists = errors.New("pki: file exists")
	// ErrNoCertificate: a file holds no PEM certificate.
	ErrNoCertificate = errors.New("pki: no certificate")
	// ErrBadPEM: a file holds something other than the PEM expected.
	ErrBadPEM = errors.New("pki: bad PEM")
	// ErrNoIdentity: a certificate names no lockd identity of the kind
	// asked for.
	ErrNoIdentity = errors.New("pki: no lockd identity in certificate")
	// ErrAmbiguousIdentity: a certificate names more than one lockd
	// identity.
	ErrAmbiguousIdentity = errors.New("pki: more than one lockd identity in certificate")
	// ErrInvalidIdentity: a certificate has a lockd URI that is malformed.
	ErrInvalidIdentity = errors.New("pki: malformed lockd identity in certificate")
	// ErrNoServerName: a client configuration has no server name to verify
	// the server's certificate against.
	ErrNoServerName = errors.New("pki: no server name to verify")
)

// errNoServerCertificate: a server sent no certificate, which TLS 1.3
// does not allow; crypto/tls refuses it before VerifyConnection runs.
var errNoServerCertificate = errors.New("pki: the server sent no certificate")
