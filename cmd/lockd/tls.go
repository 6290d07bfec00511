package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/server"
)

// defaultTLSReloadInterval is how often the certificate files are looked
// at for changes.
const defaultTLSReloadInterval = time.Minute

// tlsEnabled reports whether the command line gives certificates.
func (o options) tlsEnabled() bool { return o.CACert != "" || o.Cert != "" || o.Key != "" }

// files are the three PEM files of --cacert, --cert and --key.
func (o options) files() pki.Files { return pki.Files{CA: o.CACert, Cert: o.Cert, Key: o.Key} }

// checkTLS validates the TLS flags among themselves: all three files or
// none, --insecure only without them, --http-tls only with them.
func checkTLS(o options) error {
	set := 0
	for _, f := range []string{o.CACert, o.Cert, o.Key} {
		if f != "" {
			set++
		}
	}
	switch {
	case set != 0 && set != 3:
		return fmt.Errorf("%w: --cacert, --cert and --key go together (the cluster's CA, this node's certificate and its key): give all three, or none", errBadFlag)
	case set == 3 && o.Insecure:
		return fmt.Errorf("%w: --insecure turns TLS off; it cannot be given with --cacert, --cert and --key", errBadFlag)
	case o.HTTPTLS && set == 0:
		return fmt.Errorf("%w: --http-tls serves the HTTP port with this node's certificate: give --cacert, --cert and --key too", errBadFlag)
	case o.TLSReloadInterval < 0:
		return fmt.Errorf("%w: --tls-reload-interval must not be negative (0 turns the polling off)", errBadFlag)
	}
	return nil
}

// InsecureListenError refuses to listen on an address others can reach
// without TLS, unless --insecure says so. It is a usage error (exit 2).
type InsecureListenError struct {
	Flag string // the flag that named the address, e.g. "--client-addr"
	Addr string
}

func (e *InsecureListenError) Error() string {
	return fmt.Sprintf("%s %s is not a loopback address, and without TLS anyone who reaches it could act as any client or node: "+
		"give --cacert, --cert and --key (make them with lockctl cert create-ca, create-node and create-client), "+
		"or --insecure to run without authentication on a network you trust", e.Flag, e.Addr)
}

// Unwrap makes it a bad command line.
func (e *InsecureListenError) Unwrap() error { return errBadFlag }

// checkInsecureListen refuses a node without TLS that would listen on a
// non-loopback address (the client, peer or HTTP port), unless
// --insecure is given. addrs lists flag and address in order.
func checkInsecureListen(o options, addrs [][2]string) error {
	if o.tlsEnabled() || o.Insecure {
		return nil
	}
	for _, fa := range addrs {
		if fa[1] != "" && !isLoopback(fa[1]) {
			return &InsecureListenError{Flag: fa[0], Addr: fa[1]}
		}
	}
	return nil
}

// isLoopback reports whether a listen address reaches only this machine:
// a loopback IP address or "localhost". An empty or unspecified host
// (":7000", "0.0.0.0:7000") and other names listen beyond it.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// errNodeCertificate: --cert does not name this node.
var errNodeCertificate = errors.New("lockd: the certificate is not this node's")

// loadNodeTLS loads the node's certificate files into a Reloader and
// checks that the certificate is this node's (lockd://node/ID names
// --id). A file that cannot be loaded, or a certificate of another node,
// is a bad command line.
func loadNodeTLS(o options) (*pki.Reloader, error) {
	r, err := pki.NewCheckedReloader(o.files(), nil, func(leaf *x509.Certificate) error {
		return checkNodeCert(leaf, o.ID, o.Cert)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: --cacert/--cert/--key: %w", errBadFlag, err)
	}
	return r, nil
}

// checkNodeCert checks that leaf, loaded from file, is node id's: a
// reload too refuses the certificate of another node.
func checkNodeCert(leaf *x509.Certificate, id, file string) error {
	got, err := pki.NodeID(leaf)
	if err != nil {
		return fmt.Errorf("%w: %s: %w (make one with lockctl cert create-node %s)", errNodeCertificate, file, err, id)
	}
	if got != id {
		return fmt.Errorf("%w: %s is the certificate of node %q, and this node is --id %q", errNodeCertificate, file, got, id)
	}
	return nil
}

// serverTLS is the server's TLS configuration over r: mutual TLS on the
// peer and client ports, with the certificate and CAs current at each
// handshake.
func serverTLS(r *pki.Reloader) *server.TLSConfig {
	return &server.TLSConfig{Server: r.ServerConfig(), Client: r.ClientConfig}
}

// httpTLS is the configuration of the HTTP port with --http-tls: TLS 1.3
// with the node's current certificate. It asks for no client certificate:
// health checks and metrics scrapers dial it with the CA alone.
func httpTLS(r *pki.Reloader) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: r.GetCertificate}
}

// warnCertHosts logs each address that other nodes or clients dial
// whose host the node certificate does not name: they would refuse it.
// addrs maps a flag to its address; an unspecified host is skipped.
func warnCertHosts(leaf *x509.Certificate, addrs [][2]string, logger hclog.Logger) {
	for _, fa := range addrs {
		host, _, err := net.SplitHostPort(fa[1])
		if err != nil || host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			continue
		}
		if err := leaf.VerifyHostname(host); err != nil {
			logger.Warn("the node certificate does not name a host this node is dialed at; peers and clients will refuse it",
				"flag", fa[0], "addr", fa[1], "error", err)
		}
	}
}

// dialedAddrs are the addresses others dial this node at: the peer
// address the cluster knows and the client address it advertises.
func dialedAddrs(o options, cluster map[string]string) [][2]string {
	peer := o.PeerAddr
	switch {
	case o.AdvertisePeer != "":
		peer = o.AdvertisePeer
	case cluster[o.ID] != "":
		peer = cluster[o.ID]
	}
	client := o.ClientAddr
	if o.AdvertiseClient != "" {
		client = o.AdvertiseClient
	}
	return [][2]string{{"peer address", peer}, {"client address", client}}
}
