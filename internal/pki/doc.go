// Package pki creates, stores and loads the certificates of lockd's mutual
// TLS: a cluster CA, node certificates and client certificates, and the
// TLS 1.3 configurations that use them.
//
// Identity. A certificate binds one lockd identity through a URI subject
// alternative name:
//
//	node n1           lockd://node/n1       ExtKeyUsage serverAuth, clientAuth
//	client principal  lockd://client/alice  ExtKeyUsage clientAuth
//
// The name follows lockd's node ID rules (1 to 64 letters, digits, '-', '_'
// and '.'; see CheckName). The subject Common Name repeats it for people
// reading the certificate, but NodeID and Principal read only the URI: a
// URI cannot be mistaken for a DNS name, and a node certificate names no
// principal (nor a client certificate a node). A certificate with more
// than one lockd URI, or a malformed one, names nobody. Call NodeID and
// Principal on a certificate that the TLS handshake verified.
//
// Keys are ECDSA P-256 (signatures ECDSA with SHA-256), which every TLS 1.3
// implementation supports. The CA is self-signed, may sign leaf
// certificates only (MaxPathLen 0) and by default lasts 10 years; node and
// client certificates last 1 year. Every certificate has a random 128-bit
// serial number and starts an hour before it is issued, so that a machine
// whose clock is a little behind accepts it at once.
//
// Files are PEM: certificates mode 0644, private keys (PKCS #8) mode 0600.
// They are written to a temporary file in the same directory, given their
// final mode, synced and then linked (refusing an existing file) or, with
// Overwrite, renamed into place: a reader sees the old file or the new
// one, never a partial one.
//
// Configurations require TLS 1.3; a server requires and verifies a client
// certificate. A Reloader holds the current certificate, key and CA pool
// and rereads them on Reload; the configurations it builds take them from
// it at each new handshake, and a Reload whose files are not valid keeps
// the previous ones. Explain turns a handshake error into a sentence that
// says whose certificate was refused and why.
//
// The clocks of issuing, loading, handshakes and explanations can be
// injected (Options.Now, the now argument of NewReloader, ExplainAt), so
// that tests of expiry need no waiting; only the one-shot ServerConfig and
// ClientConfig use the real time. The package holds no mutable state of
// its own.
package pki
