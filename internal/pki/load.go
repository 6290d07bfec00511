package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadCertificates reads the PEM certificates of file (one or more
// CERTIFICATE blocks and nothing else).
func LoadCertificates(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: %s holds a %q block, not a certificate", ErrBadPEM, file, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: certificate %d: %v", ErrBadPEM, file, len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoCertificate, file)
	}
	return certs, nil
}

// LoadCAPool reads the CA certificates to trust from file, a PEM bundle
// of one or more CA certificates (during a CA rotation, the old and the
// new CA).
func LoadCAPool(file string) (*x509.CertPool, error) {
	certs, err := LoadCertificates(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("%w: %s holds %q", ErrNotCA, file, c.Subject.CommonName)
		}
		pool.AddCert(c)
	}
	return pool, nil
}

// LoadTLSCertificate reads a certificate (with any intermediates after
// it) and its private key, and checks that they belong together.
func LoadTLSCertificate(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: certificate %s with key %s: %v", ErrBadPEM, certFile, keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: %s: %v", ErrBadPEM, certFile, err)
		}
	}
	return pair, nil
}

// LoadCA reads a CA's certificate and key, to issue certificates with.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: the key in %s cannot sign", ErrNotCA, keyFile)
	}
	ca, err := newCAFrom(KeyPair{Cert: pair.Leaf, Key: signer})
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, certFile)
	}
	return ca, nil
}
