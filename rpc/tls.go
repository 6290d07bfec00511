package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// TLS. With Config.TLS set, both sides run a TLS handshake first and the
// lockd handshake inside it, both within HandshakeTimeout. rpc only moves
// the bytes: the tls.Config decides which certificates are good, and
// Config.VerifyIdentity decides whether the certificate the other side
// presented may use the node id it sent (or, for a client, whether it
// names anyone at all). A server whose verdict is no answers
// statusUnauthenticated and closes; its other connections are untouched.
//
// A plain (non-TLS) dial side that reaches a TLS server is answered, in
// plain, with statusTLSRequired, so that it reports ErrTLSRequired rather
// than a bare EOF; a TLS dial side that reaches a plain lockd server or an
// HTTP port reports ErrServerNotTLS or ErrHTTPPort.

// tlsStatusHeader is what a plain lockd hello looks like to a TLS record
// reader: its first five bytes.
var tlsStatusHeader = magic

// serverTLS runs the TLS handshake of an accepted connection. For a
// remote that speaks plain lockd it answers statusTLSRequired on the raw
// socket and returns ErrTLSRequired.
func (s *Server) serverTLS(ctx context.Context, nc net.Conn) (*tls.Conn, error) {
	tc := tls.Server(nc, s.cfg.TLS)
	err := tc.HandshakeContext(ctx)
	if err == nil {
		return tc, nil
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.Conn != nil && rh.RecordHeader == tlsStatusHeader {
		_ = writeHello(rh.Conn, hello{version: ProtocolVersion, b: statusTLSRequired, id: s.cfg.NodeID})
		return nil, fmt.Errorf("%w: a plain connection reached a TLS listener", ErrTLSRequired)
	}
	return nil, fmt.Errorf("rpc: TLS handshake: %w", err)
}

// dialTLS runs the client side of the TLS handshake on nc. The server
// name defaults to the host of addr, so that a certificate is checked
// against the address dialed.
func dialTLS(ctx context.Context, nc net.Conn, addr string, c Config) (*tls.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	var cfg *tls.Config
	if c.ClientTLS != nil {
		cfg = c.ClientTLS(host)
	} else {
		cfg = c.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	err = tc.HandshakeContext(ctx)
	if err == nil {
		return tc, nil
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		switch {
		case rh.RecordHeader == tlsStatusHeader:
			return nil, fmt.Errorf("rpc: dial %s: %w", addr, ErrServerNotTLS)
		case string(rh.RecordHeader[:]) == "HTTP/":
			return nil, fmt.Errorf("rpc: dial %s: %w", addr, ErrHTTPPort)
		}
	}
	return nil, fmt.Errorf("rpc: dial %s: TLS handshake: %w", addr, err)
}

// verifyIdentity applies cfg.VerifyIdentity, if any, to a TLS connection.
func verifyIdentity(cfg Config, tc *tls.Conn, remoteID string) error {
	if tc == nil || cfg.VerifyIdentity == nil {
		return nil
	}
	if err := cfg.VerifyIdentity(tc.ConnectionState(), remoteID); err != nil {
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return nil
}
