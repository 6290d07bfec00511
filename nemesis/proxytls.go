package nemesis

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/lockd/lockd/internal/pki"
)

// ProxyTLS lets a Network's proxies carry the peer connections of a
// cluster with mutual TLS. A proxy must learn the sending node, which
// TLS 1.3 hides from anyone between the two ends, so it takes part in the
// TLS itself: the harness issued every node's certificate, and a proxy in
// front of node TO accepts a connection as TO (with TO's certificate,
// requiring a node certificate of the CA), reads the sender's ID from its
// verified certificate, and opens its own connection to TO with the
// sender's certificate. Both nodes still verify a certificate of the
// cluster's CA naming the node they expect.
type ProxyTLS struct {
	// Pool holds the cluster's CA.
	Pool *x509.CertPool
	// Cert returns node id's certificate and key, nil if there is none.
	Cert func(id string) *tls.Certificate
}

// UseTLS makes the proxies of n carry TLS peer connections (nil: plain).
// Call it before connections arrive.
func (n *Network) UseTLS(t *ProxyTLS) {
	n.mu.Lock()
	n.tls = t
	n.mu.Unlock()
}

func (n *Network) proxyTLS() *ProxyTLS {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tls
}

// accept runs the TLS handshake of a connection to the proxy of node to,
// as node to, and returns the sending node's ID from its certificate.
func (t *ProxyTLS) accept(raw net.Conn, to string) (*tls.Conn, string, error) {
	cert := t.Cert(to)
	if cert == nil {
		return nil, "", fmt.Errorf("%w: no certificate for node %s", ErrBadHello, to)
	}
	tc := tls.Server(raw, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{*cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: t.Pool})
	if err := tc.Handshake(); err != nil {
		return nil, "", fmt.Errorf("%w: TLS: %v", ErrBadHello, err)
	}
	from, err := pki.NodeID(tc.ConnectionState().PeerCertificates[0])
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadHello, err)
	}
	return tc, from, nil
}

// dial opens the proxy's own TLS connection to target as node from.
func (t *ProxyTLS) dial(target, from string) (*tls.Conn, error) {
	cert := t.Cert(from)
	if cert == nil {
		return nil, fmt.Errorf("%w: no certificate for node %s", ErrBadHello, from)
	}
	raw, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(target)
	tc := tls.Client(raw, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{*cert},
		RootCAs: t.Pool, ServerName: host})
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		_ = raw.Close()
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	return tc, nil
}
