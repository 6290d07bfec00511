package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/rpc"
)

// testCA issues the certificates of an in-process TLS cluster on
// 127.0.0.1.
type testCA struct {
	t  testing.TB
	ca *pki.CA
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	ca, err := pki.NewCA(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{t: t, ca: ca}
}

func x509Pool(ca *pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

func (c *testCA) pool() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	cfg.RootCAs = x509Pool(c.ca)
	return cfg
}

// nodeTLS is the TLSConfig of node id.
func (c *testCA) nodeTLS(id string) *TLSConfig {
	c.t.Helper()
	kp, err := c.ca.IssueNode(id, []string{"127.0.0.1"}, pki.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	cert := kp.TLSCertificate()
	pool := x509Pool(c.ca)
	return &TLSConfig{
		Server: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
		Client: func(serverName string) *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
				RootCAs: pool, ServerName: serverName}
		},
	}
}

// clientRPC is an rpc configuration that dials as principal name.
func (c *testCA) clientRPC(name string) rpc.Config {
	c.t.Helper()
	kp, err := c.ca.IssueClient(name, pki.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := rpc.DefaultConfig()
	cfg.TLS = c.pool()
	cfg.TLS.Certificates = []tls.Certificate{kp.TLSCertificate()}
	return cfg
}

// withTLS is a svcCluster tweak that gives each node its certificate.
func (c *testCA) withTLS(cfg *Config) { cfg.TLS = c.nodeTLS(cfg.ID) }

func TestTLSClusterServesOnlyCertifiedClients(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader() // the peers found each other over mutual TLS

	root := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("root"))
	root.must(api.MsgGrant, &api.GrantRequest{Grant: api.Grant{Principal: "alice", Permission: api.PermissionLock, Prefix: "tls/"}}, nil)
	alice := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("alice"))
	sess := alice.open(10 * time.Second)
	if r, err := alice.acquire(sess, "tls/a", false); err != nil || !r.Granted {
		t.Fatalf("acquire over TLS: %+v %v", r, err)
	}

	dial := func(cfg rpc.Config) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := rpc.Dial(ctx, lead.ClientAddr(), rpc.KindClient, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Call(ctx, rpc.MsgType(api.MsgListSessions), &api.ListSessionsRequest{}, new(api.ListSessionsResponse))
	}
	if err := dial(rpc.DefaultConfig()); !errors.Is(err, rpc.ErrTLSRequired) {
		t.Fatalf("plain client: %v, want rpc.ErrTLSRequired", err)
	}
	stranger := newTestCA(t).clientRPC("alice")
	stranger.TLS.RootCAs = x509Pool(ca.ca) // trusts the cluster, but is not trusted by it
	if err := dial(stranger); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
	// A node's certificate names no principal: it cannot be used as a
	// client.
	asNode := rpc.DefaultConfig()
	asNode.TLS = ca.nodeTLS("n9").Client("127.0.0.1")
	if err := dial(asNode); !errors.Is(err, rpc.ErrUnauthenticated) {
		t.Fatalf("client with a node certificate: %v, want rpc.ErrUnauthenticated", err)
	}
}

func TestTLSPeerPortRefusesStrangersAndImpostors(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 3, ca.withTLS)
	lead := c.leader()
	dialPeer := func(id string, cfg rpc.Config) error {
		cfg.NodeID = id
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := rpc.Dial(ctx, lead.PeerAddr(), rpc.KindPeer, cfg)
		if err == nil {
			_ = conn.Close()
		}
		return err
	}
	plain := rpc.DefaultConfig()
	if err := dialPeer("n2", plain); !errors.Is(err, rpc.ErrTLSRequired) {
		t.Fatalf("plain peer: %v, want rpc.ErrTLSRequired", err)
	}
	// A valid certificate of the cluster's CA for n4, used to claim n2.
	impostor := rpc.DefaultConfig()
	impostor.ClientTLS = ca.nodeTLS("n4").Client
	if err := dialPeer("n2", impostor); !errors.Is(err, rpc.ErrUnauthenticated) {
		t.Fatalf("n4's certificate claiming n2: %v, want rpc.ErrUnauthenticated", err)
	}
	other := newTestCA(t)
	foreign := rpc.DefaultConfig()
	foreign.ClientTLS = func(name string) *tls.Config {
		cfg := other.nodeTLS("n2").Client(name)
		cfg.RootCAs = x509Pool(ca.ca)
		return cfg
	}
	if err := dialPeer("n2", foreign); err == nil {
		t.Fatal("a peer with a certificate of another CA was accepted")
	}
	// The control: n2's own certificate is accepted.
	own := rpc.DefaultConfig()
	own.ClientTLS = ca.nodeTLS("n2").Client
	if err := dialPeer("n2", own); err != nil {
		t.Fatalf("n2 with its own certificate: %v", err)
	}
}
