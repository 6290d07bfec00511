package server

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/rpc"
)

// TLSConfig secures the peer and client ports with mutual TLS. Build it
// from a pki.Reloader so that certificates reloaded from disk are used
// from the next handshake on.
//
// Identities (internal/pki): on the peer port a node must present a
// certificate of the cluster's CA whose lockd://node/ID names the node ID
// it sends in the handshake, and a node it dials must do the same; on the
// client port a client must present a certificate that names a client
// principal (lockd://client/NAME), which is then who the connection acts
// for (principalOf).
type TLSConfig struct {
	// Server is the configuration of both listening ports. It must
	// require and verify client certificates
	// (tls.RequireAndVerifyClientCert), as pki's configurations do.
	Server *tls.Config
	// Client returns the configuration to dial another node at
	// serverName (a host name or IP address from its peer address).
	Client func(serverName string) *tls.Config
}

// ErrTLSConfig: a TLSConfig that would not authenticate both sides.
var ErrTLSConfig = errors.New("server: TLS configuration")

func (t *TLSConfig) validate() error {
	switch {
	case t.Server == nil:
		return fmt.Errorf("%w: Server is nil", ErrTLSConfig)
	case t.Client == nil:
		return fmt.Errorf("%w: Client is nil", ErrTLSConfig)
	case t.Server.ClientAuth != tls.RequireAndVerifyClientCert && t.Server.GetConfigForClient == nil:
		return fmt.Errorf("%w: Server must require and verify client certificates", ErrTLSConfig)
	}
	return nil
}

// peerRPC is the rpc configuration of the peer port and of dials to
// other nodes.
func (c Config) peerRPC() rpc.Config {
	r := c.RPC
	if c.TLS != nil {
		r.TLS = c.TLS.Server
		r.ClientTLS = c.TLS.Client
		r.VerifyIdentity = verifyNodeIdentity
	}
	return r
}

// clientRPC is the rpc configuration of the client port.
func (c Config) clientRPC() rpc.Config {
	r := c.RPC
	if c.TLS != nil {
		r.TLS = c.TLS.Server
		r.VerifyIdentity = verifyClientIdentity
	}
	return r
}

// verifyNodeIdentity accepts a peer whose certificate names the node ID
// it sent in the handshake.
func verifyNodeIdentity(st tls.ConnectionState, remoteID string) error {
	if len(st.PeerCertificates) == 0 {
		return fmt.Errorf("no certificate")
	}
	id, err := pki.NodeID(st.PeerCertificates[0])
	if err != nil {
		return err
	}
	if id != remoteID {
		return fmt.Errorf("the certificate of node %q was presented by a node that calls itself %q", id, remoteID)
	}
	return nil
}

// verifyClientIdentity accepts a client whose certificate names a
// principal.
func verifyClientIdentity(st tls.ConnectionState, _ string) error {
	if len(st.PeerCertificates) == 0 {
		return fmt.Errorf("no certificate")
	}
	_, err := pki.Principal(st.PeerCertificates[0])
	return err
}

// principalOf is the client principal a connection acts for: the name in
// its certificate, or "" on a connection without TLS (an insecure
// cluster, where every client is anonymous).
func principalOf(c *rpc.Conn) string {
	st := c.TLSState()
	if st == nil || len(st.PeerCertificates) == 0 {
		return ""
	}
	p, err := pki.Principal(st.PeerCertificates[0])
	if err != nil {
		return "" // not reached: verifyClientIdentity refused it
	}
	return p
}
