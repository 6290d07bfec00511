package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// Default validities.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour
)

// backdate is how long before its issue a certificate starts, so that a
// machine whose clock is a little behind accepts it at once.
const backdate = time.Hour

// Options tune the issue of a certificate; the zero value issues one with
// the default validity, now.
type Options struct {
	// Validity is how long the certificate lasts from now; 0 means
	// DefaultCAValidity or DefaultLeafValidity.
	Validity time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// window returns NotBefore and NotAfter for a certificate issued now.
func (o Options) window(def time.Duration) (notBefore, notAfter time.Time, err error) {
	v := o.Validity
	if v < 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: %v is negative", ErrInvalidValidity, v)
	}
	if v == 0 {
		v = def
	}
	now := o.now().UTC().Truncate(time.Second)
	return now.Add(-backdate), now.Add(v), nil
}

// KeyPair is a certificate and its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// CA is a certificate authority that issues node and client certificates.
type CA struct {
	KeyPair
}

// NewCA creates a self-signed CA: ECDSA P-256, allowed to sign leaf
// certificates and CRLs only, Common Name "lockd CA" followed by the start
// of its key identifier (so two CAs are told apart in messages).
func NewCA(opts Options) (*CA, error) {
	notBefore, notAfter, err := opts.window(DefaultCAValidity)
	if err != nil {
		return nil, err
	}
	key, ski, serial, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "lockd CA " + hex.EncodeToString(ski[:4])},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	cert, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &CA{KeyPair{Cert: cert, Key: key}}, nil
}

// newCAFrom makes a CA of kp after checking that it is one.
func newCAFrom(kp KeyPair) (*CA, error) {
	c := kp.Cert
	if c == nil || kp.Key == nil {
		return nil, fmt.Errorf("%w: no certificate or key", ErrNotCA)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: %q may not sign certificates", ErrNotCA, c.Subject.CommonName)
	}
	if !publicKeysEqual(c.PublicKey, kp.Key.Public()) {
		return nil, fmt.Errorf("%w: the key of %q does not match its certificate", ErrNotCA, c.Subject.CommonName)
	}
	return &CA{kp}, nil
}

// IssueNode issues the certificate of node id, for the given hosts (IP
// addresses and DNS names; see ParseHosts), usable as a server and as a
// client. Nothing but the hosts given is added.
func (ca *CA) IssueNode(id string, hosts []string, opts Options) (*KeyPair, error) {
	if err := CheckName(id); err != nil {
		return nil, err
	}
	h, err := parseHosts(hosts)
	if err != nil {
		return nil, err
	}
	return ca.issue(id, NodeURI(id), h, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, opts)
}

// IssueClient issues the certificate of client principal name, usable as
// a client only.
func (ca *CA) IssueClient(name string, opts Options) (*KeyPair, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return ca.issue(name, ClientURI(name), hostNames{}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, opts)
}

func (ca *CA) issue(name string, uri *url.URL, h hostNames, eku []x509.ExtKeyUsage, opts Options) (*KeyPair, error) {
	notBefore, notAfter, err := opts.window(DefaultLeafValidity)
	if err != nil {
		return nil, err
	}
	c := ca.Cert
	if notBefore.Before(c.NotBefore) {
		notBefore = c.NotBefore
	}
	if notAfter.After(c.NotAfter) {
		return nil, fmt.Errorf("%w: the certificate would end %s, after its CA %q (%s)",
			ErrInvalidValidity, notAfter.Format(time.RFC3339), c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	if !notBefore.Before(notAfter) {
		return nil, fmt.Errorf("%w: the CA %q starts %s, after the certificate would end",
			ErrInvalidValidity, c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
	}
	key, ski, serial, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		URIs:                  []*url.URL{uri},
		IPAddresses:           h.ips,
		DNSNames:              h.names,
	}
	cert, err := sign(tmpl, c, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// newKey returns a P-256 key, its key identifier (RFC 7093 method 1: the
// leftmost 160 bits of the SHA-256 of the public key) and a random
// positive 128-bit serial number.
func newKey() (*ecdsa.PrivateKey, []byte, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: encode public key: %w", err)
	}
	sum := sha256.Sum256(pub)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: serial number: %w", err)
	}
	if serial.Sign() == 0 {
		serial.SetInt64(1) // a serial number must be positive
	}
	return key, sum[:20], serial, nil
}

// sign creates the certificate of tmpl signed by parent's key.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return cert, nil
}

// publicKeysEqual compares two public keys of the standard library's types.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
