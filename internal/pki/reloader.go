package pki

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"
)

// A Reloader holds a certificate, its key and the CAs to trust, read from
// Files, and reads them again on Reload (on SIGHUP, or when the files
// change). The configurations it builds take the current ones at each
// new handshake; connections already made keep what they were made with.
// It is safe for concurrent use.
type Reloader struct {
	files Files
	now   func() time.Time
	check func(leaf *x509.Certificate) error // nil: none
	mu    sync.Mutex                         // serializes Reload
	cur   atomic.Pointer[reloaded]
}

// reloaded is what one successful load produced.
type reloaded struct {
	material
	server *tls.Config // what GetConfigForClient hands out
}

// NewReloader loads files (see Reload for the checks). now is the clock
// for those checks and for the handshakes of the configurations built;
// nil means time.Now.
func NewReloader(files Files, now func() time.Time) (*Reloader, error) {
	return NewCheckedReloader(files, now, nil)
}

// NewCheckedReloader is NewReloader with one more check of every
// certificate loaded, at the start and at each Reload: a node checks that
// the certificate still names it. A certificate that check refuses is
// not used, as one that is not valid.
func NewCheckedReloader(files Files, now func() time.Time, check func(leaf *x509.Certificate) error) (*Reloader, error) {
	if now == nil {
		now = time.Now
	}
	r := &Reloader{files: files, now: now, check: check}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. The new certificate must match the new
// key, chain to one of the new CAs, be valid now and pass the check of
// NewCheckedReloader, if any; otherwise Reload
// keeps the previous certificate, key and CAs and returns why, naming the
// file at fault. Replace the files first, then Reload: a Reload between
// the key and the certificate finds them mismatched and keeps the old
// ones.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := loadMaterial(r.files, r.now())
	if err != nil {
		return err
	}
	if r.check != nil {
		if err := r.check(m.cert.Leaf); err != nil {
			return err
		}
	}
	next := &reloaded{material: *m}
	next.server = m.serverConfig(r.now)
	r.cur.Store(next)
	return nil
}

// Leaf is the current certificate.
func (r *Reloader) Leaf() *x509.Certificate { return r.cur.Load().cert.Leaf }

// GetCertificate is tls.Config.GetCertificate: the current certificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load().cert, nil
}

// GetClientCertificate is tls.Config.GetClientCertificate: the current
// certificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.cur.Load().cert, nil
}

// GetConfigForClient is tls.Config.GetConfigForClient: a server
// configuration with the current certificate and CAs.
func (r *Reloader) GetConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return r.cur.Load().server, nil
}

// ServerConfig returns a TLS 1.3 server configuration that requires a
// client certificate and takes the certificate and CAs current at each
// handshake.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		GetConfigForClient: r.GetConfigForClient,
		Time:               r.now,
	}
}

// ClientConfig returns a TLS 1.3 client configuration that presents the
// current certificate and accepts a server whose certificate is issued by
// one of the current CAs for serverName (a DNS name or an IP address).
// An empty serverName fails every handshake with ErrNoServerName.
//
// crypto/tls reads a client's CAs only from the configuration, so the
// server's certificate is checked by VerifyConnection instead, with the
// CAs current at the handshake; InsecureSkipVerify only turns off the
// built-in check that this one replaces. The error is a
// *tls.CertificateVerificationError, as with the built-in check.
func (r *Reloader) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		ServerName:           serverName,
		GetClientCertificate: r.GetClientCertificate,
		InsecureSkipVerify:   true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			return r.verifyServer(cs, serverName)
		},
		Time: r.now,
	}
}

// verifyServer does what crypto/tls does for a client (including on a
// resumed connection), with the current CAs.
func (r *Reloader) verifyServer(cs tls.ConnectionState, serverName string) error {
	if serverName == "" {
		return ErrNoServerName
	}
	if len(cs.PeerCertificates) == 0 {
		return &tls.CertificateVerificationError{Err: errNoServerCertificate}
	}
	opts := x509.VerifyOptions{
		Roots:         r.cur.Load().pool,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   r.now(),
		DNSName:       serverName,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}
