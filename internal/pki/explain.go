package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"time"
)

// TLS alerts (RFC 8446, section 6) that Explain tells apart.
const (
	alertHandshakeFailure       = 40
	alertBadCertificate         = 42
	alertUnsupportedCertificate = 43
	alertCertificateRevoked     = 44
	alertCertificateExpired     = 45
	alertCertificateUnknown     = 46
	alertUnknownCA              = 48
	alertProtocolVersion        = 70
	alertCertificateRequired    = 116
)

// Explain turns an error of a TLS handshake (or of the first read or
// write after it, where TLS 1.3 reports that the server refused the
// client's certificate) into a sentence for an operator: whose
// certificate was refused, which one, and why. Times are judged against
// time.Now.
func Explain(err error) string { return ExplainAt(err, time.Now()) }

// ExplainAt is Explain with the time the refusing side judged the
// certificate at, to tell an expired certificate from one not yet valid.
func ExplainAt(err error, now time.Time) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[x509.HostnameError](err); ok {
		return fmt.Sprintf("the server's certificate %s is for %s, not for %q, the name this side connected to",
			describe(e.Certificate), hostsOf(e.Certificate), e.Host)
	}
	if e, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return fmt.Sprintf("the other side's certificate %s is not signed by a CA this side trusts; "+
			"were both given the same CA certificate?", describe(e.Cert))
	}
	if e, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return explainInvalid(e, now)
	}
	if a, ok := remoteAlert(err); ok {
		return explainAlert(a)
	}
	if errors.Is(err, ErrNoServerName) {
		return "this side has no server name to check the server's certificate against"
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return "the other side does not speak TLS: " + err.Error()
	}
	return err.Error()
}

func explainInvalid(e x509.CertificateInvalidError, now time.Time) string {
	c := "the other side's certificate " + describe(e.Cert)
	if e.Cert != nil && e.Cert.IsCA {
		c = "the CA certificate " + describe(e.Cert) + " of the other side's chain"
	}
	switch e.Reason {
	case x509.Expired:
		window := fmt.Sprintf("valid from %s to %s", e.Cert.NotBefore.UTC().Format(time.RFC3339), e.Cert.NotAfter.UTC().Format(time.RFC3339))
		switch {
		case now.After(e.Cert.NotAfter):
			return fmt.Sprintf("%s has expired (%s); issue a new one", c, window)
		case now.Before(e.Cert.NotBefore):
			return fmt.Sprintf("%s is not valid yet (%s); is a clock wrong?", c, window)
		}
		return fmt.Sprintf("%s was not valid when checked (%s): %s; is a clock wrong?", c, window, e.Detail)
	case x509.IncompatibleUsage:
		return fmt.Sprintf("%s is not for this use "+
			"(a server's needs serverAuth, a client's clientAuth among its extended key usages)", c)
	case x509.NotAuthorizedToSign:
		return fmt.Sprintf("%s is signed by a certificate that is not a CA", c)
	}
	return fmt.Sprintf("%s was refused: %v", c, e)
}

// remoteAlert returns the alert the other side sent. crypto/tls reports
// it as a *net.OpError whose Op is "remote error" and whose Err is its
// unexported alert type, a uint8 like tls.AlertError.
func remoteAlert(err error) (tls.AlertError, bool) {
	op, ok := errors.AsType[*net.OpError](err)
	if !ok || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	if a, ok := op.Err.(tls.AlertError); ok {
		return a, true
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 {
		return 0, false
	}
	return tls.AlertError(v.Uint()), true
}

func explainAlert(a tls.AlertError) string {
	switch a {
	case alertUnknownCA:
		return "the other side refused this side's certificate: it is not signed by a CA the other side trusts"
	case alertCertificateExpired:
		return "the other side refused this side's certificate as expired (or not yet valid: is a clock wrong?)"
	case alertCertificateRequired:
		return "the other side requires a client certificate and this side sent none"
	case alertBadCertificate, alertUnsupportedCertificate, alertCertificateRevoked, alertCertificateUnknown:
		return fmt.Sprintf("the other side refused this side's certificate (%v); "+
			"its log says why: another CA, expired, or not for this use", a)
	case alertProtocolVersion:
		return "the other side does not speak TLS 1.3"
	case alertHandshakeFailure:
		return "the other side could not agree on the handshake's parameters (" + a.Error() + ")"
	}
	return "the other side ended the handshake: " + a.Error()
}

// describe names a certificate for a message: its Common Name, its lockd
// identity and its issuer.
func describe(c *x509.Certificate) string {
	if c == nil {
		return "(none)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q (", c.Subject.CommonName)
	for _, u := range c.URIs {
		if u.Scheme == uriScheme {
			fmt.Fprintf(&b, "%s, ", u)
		}
	}
	fmt.Fprintf(&b, "issued by %q)", c.Issuer.CommonName)
	return b.String()
}

// hostsOf lists the names a certificate is valid for.
func hostsOf(c *x509.Certificate) string {
	var hs []string
	for _, ip := range c.IPAddresses {
		hs = append(hs, ip.String())
	}
	hs = append(hs, c.DNSNames...)
	if len(hs) == 0 {
		return "no host"
	}
	return strings.Join(hs, ", ")
}
