package pki

import "crypto/tls"

// RemoteAlert returns the TLS alert the other side sent, if err is one:
// how a client learns, during a TLS 1.3 handshake, that the server
// refused its certificate (AlertCertificateRequired: it sent none that
// the server accepts as from its CAs).
func RemoteAlert(err error) (tls.AlertError, bool) { return remoteAlert(err) }

// AlertCertificateRequired is the alert of a server that requires a
// client certificate and got none (RFC 8446, section 4.4.2.4). A Go
// client sends none when its certificate is not issued by a CA the
// server named in its request.
const AlertCertificateRequired tls.AlertError = alertCertificateRequired
