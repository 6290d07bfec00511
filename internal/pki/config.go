package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// Files are the PEM files of one side of a TLS connection.
type Files struct {
	CA   string // the CA certificates to trust (a bundle)
	Cert string // this side's certificate, then any intermediates
	Key  string // this side's private key
}

// material is what a configuration is built from: loaded and checked
// together, never changed afterwards.
type material struct {
	cert *tls.Certificate
	pool *x509.CertPool
}

// loadMaterial reads f and checks that the key belongs to the certificate
// and that the certificate chains to one of the CAs and is valid at now.
func loadMaterial(f Files, now time.Time) (*material, error) {
	pool, err := LoadCAPool(f.CA)
	if err != nil {
		return nil, err
	}
	pair, err := LoadTLSCertificate(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	opts := x509.VerifyOptions{
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	for _, der := range pair.Certificate[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: intermediate: %v", ErrBadPEM, f.Cert, err)
		}
		opts.Intermediates.AddCert(c)
	}
	if _, err := pair.Leaf.Verify(opts); err != nil {
		return nil, fmt.Errorf("pki: certificate %s (%s) is not valid with the CAs of %s: %w",
			f.Cert, describe(pair.Leaf), f.CA, err)
	}
	return &material{cert: &pair, pool: pool}, nil
}

// serverConfig requires TLS 1.3 and a client certificate that chains to
// m's CAs.
func (m *material) serverConfig(now func() time.Time) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    m.pool,
		Certificates: []tls.Certificate{*m.cert},
		Time:         now,
	}
}

// ServerConfig returns a TLS 1.3 server configuration that presents the
// certificate of certFile and keyFile and requires a client certificate
// issued by a CA of caFile. It does not follow changes of the files; a
// Reloader does.
func ServerConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	m, err := loadMaterial(Files{CA: caFile, Cert: certFile, Key: keyFile}, time.Now())
	if err != nil {
		return nil, err
	}
	return m.serverConfig(nil), nil
}

// ClientConfig returns a TLS 1.3 client configuration that presents the
// certificate of certFile and keyFile and accepts a server whose
// certificate is issued by a CA of caFile for serverName (a DNS name or
// an IP address; if empty, tls.Dial takes the host it dials). It does not
// follow changes of the files; a Reloader does.
func ClientConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	m, err := loadMaterial(Files{CA: caFile, Cert: certFile, Key: keyFile}, time.Now())
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      m.pool,
		Certificates: []tls.Certificate{*m.cert},
		ServerName:   serverName,
	}, nil
}
