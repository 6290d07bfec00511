package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/pki"
)

// testPKI is a CA with node certificates for 127.0.0.1.
type testPKI struct {
	ca   *pki.CA
	pool *x509.CertPool
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := pki.NewCA(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &testPKI{ca: ca, pool: pool}
}

func (p *testPKI) node(t *testing.T, id string, hosts ...string) tls.Certificate {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	kp, err := p.ca.IssueNode(id, hosts, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return kp.TLSCertificate()
}

func (p *testPKI) serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool}
}

func (p *testPKI) clientTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: p.pool}
}

// idFromCert is a VerifyIdentity that wants the remote id to equal the
// certificate's node id.
func idFromCert(st tls.ConnectionState, remoteID string) error {
	id, err := pki.NodeID(st.PeerCertificates[0])
	if err != nil {
		return err
	}
	if id != remoteID {
		return fmt.Errorf("certificate of %q used by %q", id, remoteID)
	}
	return nil
}

func TestTLSCallCarriesVerifiedCertificates(t *testing.T) {
	p := newTestPKI(t)
	scfg := testConfig(nil)
	scfg.NodeID = "n1"
	scfg.TLS = p.serverTLS(p.node(t, "n1"))
	scfg.VerifyIdentity = idFromCert
	srv, addr := startServer(t, scfg, KindPeer)
	got := make(chan string, 1)
	err := Register(srv, typEcho, func(_ context.Context, c *Conn, r *echoReq) (any, error) {
		st := c.TLSState()
		if st == nil || len(st.PeerCertificates) == 0 {
			got <- "no TLS state"
		} else {
			id, _ := pki.NodeID(st.PeerCertificates[0])
			got <- id
		}
		return echoResp{N: r.N * 2}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ccfg := testConfig(nil)
	ccfg.NodeID = "n2"
	ccfg.TLS = p.clientTLS(p.node(t, "n2"))
	ccfg.VerifyIdentity = idFromCert
	c := dial(t, addr, KindPeer, ccfg)
	if c.TLSState() == nil || c.TLSState().Version != tls.VersionTLS13 {
		t.Fatalf("dial side TLS state = %+v, want TLS 1.3", c.TLSState())
	}
	var resp echoResp
	if err := c.Call(context.Background(), typEcho, echoReq{N: 21}, &resp); err != nil || resp.N != 42 {
		t.Fatalf("call over TLS: %v %+v", err, resp)
	}
	if id := <-got; id != "n2" {
		t.Fatalf("handler saw peer %q, want n2", id)
	}
}

func TestTLSRefusesAPeerClaimingAnotherID(t *testing.T) {
	p := newTestPKI(t)
	scfg := testConfig(nil)
	scfg.NodeID = "n1"
	scfg.TLS = p.serverTLS(p.node(t, "n1"))
	scfg.VerifyIdentity = idFromCert
	srv, addr := startServer(t, scfg, KindPeer)
	ccfg := testConfig(nil)
	ccfg.NodeID = "n3" // its certificate says n2
	ccfg.TLS = p.clientTLS(p.node(t, "n2"))
	_, err := Dial(context.Background(), addr, KindPeer, ccfg)
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("dial as n3 with n2's certificate: %v, want ErrUnauthenticated", err)
	}
	// The server counts the failure after writing its refusal, which the
	// dial side may read first.
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().HandshakesFailed == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // polls a condition; no timing is assumed
	}
	if n := srv.Stats().HandshakesFailed; n != 1 {
		t.Fatalf("HandshakesFailed = %d, want 1", n)
	}
	if len(srv.Conns()) != 0 {
		t.Fatal("the refused connection is still open")
	}
}

func TestTLSDialSideChecksTheServerIdentity(t *testing.T) {
	p := newTestPKI(t)
	scfg := testConfig(nil)
	scfg.NodeID = "n9" // its certificate says n1
	scfg.TLS = p.serverTLS(p.node(t, "n1"))
	_, addr := startServer(t, scfg, KindPeer)
	ccfg := testConfig(nil)
	ccfg.NodeID = "n2"
	ccfg.TLS = p.clientTLS(p.node(t, "n2"))
	ccfg.VerifyIdentity = idFromCert
	if _, err := Dial(context.Background(), addr, KindPeer, ccfg); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("dial to a server whose id is not its certificate's: %v, want ErrUnauthenticated", err)
	}
}

func TestTLSRefusals(t *testing.T) {
	p := newTestPKI(t)
	stranger := newTestPKI(t)
	tlsCfg := testConfig(nil)
	tlsCfg.TLS = p.serverTLS(p.node(t, "n1"))
	_, tlsAddr := startServer(t, tlsCfg, KindClient)
	_, plainAddr := startServer(t, testConfig(nil), KindClient)
	otherName := testConfig(nil)
	otherName.TLS = p.serverTLS(p.node(t, "n1", "n1.example"))
	_, otherNameAddr := startServer(t, otherName, KindClient)

	good := p.clientTLS(p.node(t, "c1"))
	cases := []struct {
		name  string
		addr  string
		tls   *tls.Config
		check func(error) bool
		want  string
	}{
		{"plain client to a TLS server", tlsAddr, nil,
			func(err error) bool { return errors.Is(err, ErrTLSRequired) }, "ErrTLSRequired"},
		{"TLS client to a plain server", plainAddr, good,
			func(err error) bool { return errors.Is(err, ErrServerNotTLS) }, "ErrServerNotTLS"},
		{"client certificate of another CA", tlsAddr, p.clientTLS(stranger.node(t, "c1")),
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "certificate") }, "a certificate error"},
		{"no client certificate", tlsAddr, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: p.pool},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "certificate") }, "a certificate error"},
		{"server of another CA", tlsAddr, stranger.clientTLS(stranger.node(t, "c1")),
			func(err error) bool {
				var ue x509.UnknownAuthorityError
				return errors.As(err, &ue)
			}, "x509.UnknownAuthorityError"},
		{"server certificate for another host", otherNameAddr, good,
			func(err error) bool {
				var he x509.HostnameError
				return errors.As(err, &he)
			}, "x509.HostnameError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(nil)
			cfg.TLS = tc.tls
			c, err := Dial(context.Background(), tc.addr, KindClient, cfg)
			if err == nil {
				// A refused client certificate may show only at the first
				// read, after TLS 1.3's handshake completed on this side.
				err = c.Call(context.Background(), typEcho, echoReq{N: 1}, new(echoResp))
				_ = c.Close()
			}
			if !tc.check(err) {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func TestClientTLSIsAskedForTheHostDialed(t *testing.T) {
	p := newTestPKI(t)
	scfg := testConfig(nil)
	scfg.TLS = p.serverTLS(p.node(t, "n1"))
	srv, addr := startServer(t, scfg, KindClient)
	registerEcho(t, srv)
	var asked []string
	ccfg := testConfig(nil)
	ccfg.ClientTLS = func(serverName string) *tls.Config {
		asked = append(asked, serverName)
		c := p.clientTLS(p.node(t, "c1"))
		c.ServerName = serverName
		return c
	}
	c := dial(t, addr, KindClient, ccfg)
	if err := c.Call(context.Background(), typEcho, echoReq{N: 1}, new(echoResp)); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "127.0.0.1" {
		t.Fatalf("ClientTLS asked for %q, want [127.0.0.1]", asked)
	}
}
