package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestExplain covers what the handshake tests do not reach: alerts of
// every kind, wrapped errors, CA certificates and errors not of TLS.
func TestExplain(t *testing.T) {
	remote := func(a uint8) error { return &net.OpError{Op: "remote error", Err: tls.AlertError(a)} }
	ca := newTestCA(t)
	leaf := client(t, ca, "alice", at(t0, 0)).Cert
	expired := func(c *x509.Certificate) error {
		return &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: c, Reason: x509.Expired}}
	}
	cases := []struct {
		what string
		err  error
		now  time.Time
		want string
	}{
		{"nil", nil, t0, ""},
		{"unknown CA alert", remote(alertUnknownCA), t0, "not signed by a CA the other side trusts"},
		{"expired alert", remote(alertCertificateExpired), t0, "refused this side's certificate as expired"},
		{"certificate required alert", remote(alertCertificateRequired), t0, "requires a client certificate and this side sent none"},
		{"bad certificate alert", remote(alertBadCertificate), t0, "refused this side's certificate (tls: bad certificate); its log says why"},
		{"unsupported certificate alert", remote(alertUnsupportedCertificate), t0, "refused this side's certificate (tls: unsupported certificate)"},
		{"protocol version alert", remote(alertProtocolVersion), t0, "does not speak TLS 1.3"},
		{"handshake failure alert", remote(alertHandshakeFailure), t0, "could not agree on the handshake's parameters"},
		{"other alert", remote(80), t0, "the other side ended the handshake: tls: internal error"},
		{"wrapped alert", fmt.Errorf("dial n1: %w", remote(alertUnknownCA)), t0, "not signed by a CA the other side trusts"},
		{"not an alert", &net.OpError{Op: "read", Err: errors.New("connection reset")}, t0, "read: connection reset"},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, t0, "the other side does not speak TLS"},
		{"no server name", fmt.Errorf("x: %w", ErrNoServerName), t0, "no server name to check"},
		{"expired CA", expired(ca.Cert), t0.Add(16 * year), `the CA certificate "` + ca.Cert.Subject.CommonName + `" (issued by "` + ca.Cert.Subject.CommonName + `") of the other side's chain has expired`},
		{"valid by this clock", expired(leaf), t0, `the other side's certificate "alice" (lockd://client/alice, issued by "` + ca.Cert.Subject.CommonName + `") was not valid when checked`},
		{"other", errors.New("boom"), t0, "boom"},
	}
	for _, c := range cases {
		got := ExplainAt(c.err, c.now)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want a part %q", c.what, got, c.want)
		}
	}
}
