package nemesis

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/pki"
)

// tlsEchoServer is echoServer behind mutual TLS as node id of cs: it
// requires a node certificate of the CA, and its hello must name the
// certificate's node.
func tlsEchoServer(t *testing.T, cs *certs, id string) string {
	t.Helper()
	pt := cs.proxyTLS()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{*pt.Cert(id)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pt.Pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if tc.Handshake() != nil {
					return
				}
				_, from, err := readHello(c)
				certID, cerr := pki.NodeID(tc.ConnectionState().PeerCertificates[0])
				if err != nil || cerr != nil || from != certID {
					return
				}
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// dialTLSAs connects to addr with node cert's certificate, sends a hello
// naming id and reports whether a line makes the round trip.
func dialTLSAs(t *testing.T, cs *certs, addr, cert, id string) bool {
	t.Helper()
	pt := cs.proxyTLS()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{*pt.Cert(cert)}, RootCAs: pt.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(append(hello(id), "ping\n"...)); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

func TestTLSProxyCutsByTheCertifiedSender(t *testing.T) {
	cs, err := newCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if _, err := cs.node(id); err != nil {
			t.Fatal(err)
		}
	}
	n := NewNetwork()
	defer n.Close()
	n.UseTLS(cs.proxyTLS())
	p, err := n.Listen("n2", tlsEchoServer(t, cs, "n2"))
	if err != nil {
		t.Fatal(err)
	}
	if !dialTLSAs(t, cs, p.Addr(), "n1", "n1") {
		t.Fatal("n1->n2 did not pass through the TLS proxy")
	}
	if dialTLSAs(t, cs, p.Addr(), "n1", "n3") {
		t.Fatal("n1's certificate passed with a hello claiming n3")
	}
	n.Cut("n1", "n2")
	if dialTLSAs(t, cs, p.Addr(), "n1", "n1") {
		t.Fatal("a new n1->n2 connection passed the cut")
	}
	if !dialTLSAs(t, cs, p.Addr(), "n3", "n3") {
		t.Fatal("n3->n2 was cut along with n1->n2")
	}
	other, err := newCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.node("n3"); err != nil {
		t.Fatal(err)
	}
	if dialTLSAs(t, other, p.Addr(), "n3", "n3") {
		t.Fatal("a node certificate of another CA passed the proxy")
	}
}
