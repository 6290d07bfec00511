package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/rpc"
)

// LoadTLS reads the PEM files of a client of a mutual-TLS cluster: the
// cluster's CA certificate (a bundle of CA certificates during a CA
// rotation), this client's certificate and its private key, as
// `lockctl cert create-ca` and `lockctl cert create-client` write them. It
// checks that the key belongs to the certificate and that the certificate
// is issued by one of the CAs and valid now, so that a wrong file is
// reported here, by name, rather than by the server at the first call.
//
// The configuration it returns requires TLS 1.3 and trusts only the CAs
// of caFile; give it to Config.TLS. It does not follow later changes of
// the files: a long-running service that rotates its certificate builds a
// tls.Config whose GetClientCertificate returns the current one. An error
// matches ErrTLSFiles.
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" || certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: need the CA certificate, the client certificate and its key (got CA %q, certificate %q, key %q)",
			ErrTLSFiles, caFile, certFile, keyFile)
	}
	cfg, err := pki.ClientConfig(caFile, certFile, keyFile, "")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSFiles, err)
	}
	return cfg, nil
}

// ErrTLSFiles: LoadTLS could not use its files (missing, not PEM, a key
// that is not the certificate's, a certificate not issued by the CA or
// not valid now).
var ErrTLSFiles = errors.New("client: unusable TLS files")

// ErrTLS matches every *TLSError.
var ErrTLS = errors.New("client: TLS")

// TLSParty says whose certificate (or TLS configuration) a TLSError is
// about.
type TLSParty int

const (
	// TLSServer: this Client refused the server's certificate (not issued
	// by a CA of Config.TLS, expired or not yet valid, not for the host
	// dialed, not a server certificate).
	TLSServer TLSParty = iota + 1
	// TLSClient: the server refused this Client's certificate (another
	// CA, expired, none sent, or it names no client principal).
	TLSClient
	// TLSMismatch: one side uses TLS and the other does not.
	TLSMismatch
)

func (p TLSParty) String() string {
	switch p {
	case TLSServer:
		return "server certificate"
	case TLSClient:
		return "client certificate"
	case TLSMismatch:
		return "TLS mismatch"
	}
	return fmt.Sprintf("TLSParty(%d)", int(p))
}

// TLSError is why a connection to Addr failed on TLS: which certificate
// was refused (Party) and why (Reason, a sentence for an operator). It
// stays wrong until someone changes a certificate, a CA or a
// configuration, so a call does not retry it: when every endpoint fails
// with a TLSError, the call returns at once, with an *UnreachableError
// from which errors.As finds each TLSError. A leader hint that fails so
// is skipped, like any hint that fails: a hint cannot lead the Client to
// a server that does not hold a certificate of the cluster's CA for the
// host of the hinted address. A TLSError matches ErrTLS.
type TLSError struct {
	Addr   string   // the address dialed
	Party  TLSParty // whose certificate was refused
	Reason string   // what is wrong, and what to do
	Err    error    // the cause, from crypto/tls, crypto/x509 or rpc
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("client: TLS with %s: %s: %s", e.Addr, e.Party, e.Reason)
}

func (e *TLSError) Unwrap() error { return e.Err }

// Is makes the error match ErrTLS.
func (e *TLSError) Is(target error) bool { return target == ErrTLS }

// clientTLS is the rpc ClientTLS of a Client with Config.TLS: a clone of
// it whose ServerName is the host being dialed (a configured endpoint, a
// leader hint or a member's advertised address), so that the server's
// certificate is checked against the address the Client actually reaches.
func clientTLS(base *tls.Config) func(host string) *tls.Config {
	return func(host string) *tls.Config {
		cfg := base.Clone()
		cfg.ServerName = host
		if cfg.MinVersion < tls.VersionTLS13 {
			cfg.MinVersion = tls.VersionTLS13
		}
		return cfg
	}
}

// tlsError turns a failed dial of addr into a *TLSError when TLS is the
// reason; other errors are returned as they are. own is the Client's TLS
// configuration (nil without TLS), to name its certificate.
func tlsError(addr string, own *tls.Config, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*TLSError](err); ok {
		return err
	}
	e := &TLSError{Addr: addr, Err: err}
	var verr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, rpc.ErrTLSRequired):
		e.Party = TLSMismatch
		e.Reason = "the server requires TLS and this client has no TLS configuration " +
			"(the cluster's CA certificate, a client certificate and its key)"
	case errors.Is(err, rpc.ErrServerNotTLS):
		e.Party = TLSMismatch
		e.Reason = "this client uses TLS but the server does not (it was started without certificates)"
	case errors.Is(err, rpc.ErrUnauthenticated):
		e.Party = TLSClient
		e.Reason = fmt.Sprintf("the server accepted this client's certificate %s as signed by its CA, "+
			"but it names no client (lockd://client/NAME): use a client certificate, not a node's",
			ownCertificate(own))
	case errors.As(err, &verr), isX509(err):
		e.Party = TLSServer
		e.Reason = asClient.Replace(pki.Explain(err))
	case isAlert(err, pki.AlertCertificateRequired) && hasCertificate(own):
		// crypto/tls sends no certificate that is not of a CA the server
		// asks for.
		e.Party = TLSClient
		e.Reason = fmt.Sprintf("the server requires a client certificate issued by its CA, and this client's "+
			"certificate %s is not: were both given the same CA certificate?", ownCertificate(own))
	case remoteRefusal(err):
		e.Party = TLSClient
		e.Reason = asClient.Replace(pki.Explain(err))
		if hasCertificate(own) {
			e.Reason += fmt.Sprintf(" (this client's certificate: %s)", ownCertificate(own))
		}
	default:
		if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
			e.Party = TLSMismatch
			e.Reason = asClient.Replace(pki.Explain(err))
			break
		}
		return err
	}
	return e
}

// asClient words pki's explanations, which serve both sides, for a
// client: the other side is the server.
var asClient = strings.NewReplacer("the other side's", "the server's", "the other side", "the server",
	"this side's", "this client's", "this side", "this client")

// isX509 reports a certificate verification error of crypto/x509.
func isX509(err error) bool {
	var he x509.HostnameError
	var ue x509.UnknownAuthorityError
	var ie x509.CertificateInvalidError
	return errors.As(err, &he) || errors.As(err, &ue) || errors.As(err, &ie)
}

// isAlert reports whether err is the alert a, sent by the server.
func isAlert(err error, a tls.AlertError) bool {
	got, ok := pki.RemoteAlert(err)
	return ok && got == a
}

// hasCertificate reports whether cfg presents a certificate.
func hasCertificate(cfg *tls.Config) bool {
	return cfg != nil && (len(cfg.Certificates) > 0 || cfg.GetClientCertificate != nil)
}

// remoteRefusal reports a TLS alert the server sent: during a TLS 1.3
// handshake a client learns that the server refused its certificate
// only then.
func remoteRefusal(err error) bool {
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "remote error"
}

// ownCertificate names the certificate cfg presents, for messages.
func ownCertificate(cfg *tls.Config) string {
	if cfg == nil || len(cfg.Certificates) == 0 {
		if cfg != nil && cfg.GetClientCertificate != nil {
			return "(chosen by GetClientCertificate)"
		}
		return "none"
	}
	c := cfg.Certificates[0]
	leaf := c.Leaf
	if leaf == nil && len(c.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(c.Certificate[0])
	}
	if leaf == nil {
		return "(unparsable)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q (", leaf.Subject.CommonName)
	for _, u := range leaf.URIs {
		fmt.Fprintf(&b, "%s, ", u)
	}
	fmt.Fprintf(&b, "issued by %q, valid until %s)", leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z"))
	return b.String()
}
