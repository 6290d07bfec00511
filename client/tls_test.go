package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server"
)

// testPKI is a CA for the TLS tests, and the certificates it issues.
type testPKI struct {
	t  testing.TB
	ca *pki.CA
}

// newTestPKI makes a CA that started three days ago, so that it can issue
// certificates that have already expired.
func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	ca, err := pki.NewCA(pki.Options{Now: func() time.Time { return time.Now().Add(-72 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{t: t, ca: ca}
}

func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	return pool
}

// expired issues are for certificates that ended a day ago.
var expired = pki.Options{Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }, Validity: 24 * time.Hour}

func (p *testPKI) node(id string, opts pki.Options, hosts ...string) tls.Certificate {
	p.t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	kp, err := p.ca.IssueNode(id, hosts, opts)
	if err != nil {
		p.t.Fatal(err)
	}
	return kp.TLSCertificate()
}

func (p *testPKI) client(name string, opts pki.Options) tls.Certificate {
	p.t.Helper()
	kp, err := p.ca.IssueClient(name, opts)
	if err != nil {
		p.t.Fatal(err)
	}
	return kp.TLSCertificate()
}

// serverRPC is the rpc configuration of a client port that presents cert
// and requires a client certificate of p's CA naming a principal, as
// lockd's does.
func (p *testPKI) serverRPC(cert tls.Certificate) rpc.Config {
	cfg := rpc.DefaultConfig()
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool()}
	cfg.VerifyIdentity = func(st tls.ConnectionState, _ string) error {
		_, err := pki.Principal(st.PeerCertificates[0])
		return err
	}
	return cfg
}

// strangerRPC is the rpc configuration of a client port that presents
// cert and takes any client certificate: a stranger that wants requests.
func strangerRPC(cert tls.Certificate) rpc.Config {
	cfg := rpc.DefaultConfig()
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAnyClientCert}
	return cfg
}

// clientTLS is a client configuration trusting p's CA and presenting cert.
func (p *testPKI) clientTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: p.pool(), Certificates: []tls.Certificate{cert}}
}

// nodeTLS is node id's server.TLSConfig, for a real cluster on 127.0.0.1.
func (p *testPKI) nodeTLS(id string) *server.TLSConfig {
	cert := p.node(id, pki.Options{})
	pool := p.pool()
	return &server.TLSConfig{
		Server: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
		Client: func(serverName string) *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
				RootCAs: pool, ServerName: serverName}
		},
	}
}

// writeFiles writes the CA certificate and a client certificate of
// principal name to dir, returning the three file names.
func (p *testPKI) writeFiles(dir, name string, opts pki.Options) (ca, cert, key string) {
	p.t.Helper()
	kp, err := p.ca.IssueClient(name, opts)
	if err != nil {
		p.t.Fatal(err)
	}
	ca = filepath.Join(dir, pki.CACertFile)
	if err := os.WriteFile(ca, p.ca.CertPEM(), 0o644); err != nil {
		p.t.Fatal(err)
	}
	c, k := pki.ClientFiles(name)
	cert, key = filepath.Join(dir, c), filepath.Join(dir, k)
	if err := kp.WriteFiles(cert, key, pki.Overwrite); err != nil {
		p.t.Fatal(err)
	}
	return ca, cert, key
}

func TestLoadTLSReadsTheFilesOfLockctlCert(t *testing.T) {
	p := newTestPKI(t)
	dir := t.TempDir()
	ca, cert, key := p.writeFiles(dir, "alice", pki.Options{})
	cfg, err := LoadTLS(ca, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || cfg.RootCAs == nil || len(cfg.Certificates) != 1 {
		t.Fatalf("LoadTLS config: MinVersion %x, RootCAs %v, %d certificates", cfg.MinVersion, cfg.RootCAs, len(cfg.Certificates))
	}
	if p, err := pki.Principal(cfg.Certificates[0].Leaf); err != nil || p != "alice" {
		t.Fatalf("loaded certificate names %q (%v), want alice", p, err)
	}
}

func TestLoadTLSRefusesUnusableFiles(t *testing.T) {
	p := newTestPKI(t)
	other := newTestPKI(t)
	dir := t.TempDir()
	ca, cert, key := p.writeFiles(dir, "alice", pki.Options{})
	otherDir := t.TempDir()
	otherCA, otherCert, otherKey := other.writeFiles(otherDir, "bob", pki.Options{})
	expDir := t.TempDir()
	_, expCert, expKey := p.writeFiles(expDir, "carol", expired)
	cases := []struct {
		name          string
		ca, cert, key string
		want          string // in the message
	}{
		{"no CA file named", "", cert, key, "need the CA certificate"},
		{"missing CA file", filepath.Join(dir, "nope.crt"), cert, key, "nope.crt"},
		{"key of another certificate", ca, cert, otherKey, otherKey},
		{"certificate of another CA", ca, otherCert, otherKey, "not valid with the CAs of " + ca},
		{"CA file holding a client certificate", cert, cert, key, "not a CA"},
		{"expired certificate", ca, expCert, expKey, "expired"},
		{"the other CA for this certificate", otherCA, cert, key, "not valid with the CAs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadTLS(tc.ca, tc.cert, tc.key)
			if !errors.Is(err, ErrTLSFiles) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadTLS: %v, want ErrTLSFiles mentioning %q", err, tc.want)
			}
		})
	}
}

// Reference: a TLS cluster serves a client with a certificate of its CA;
// given only a follower, the client follows the NotLeader hint over TLS.
func TestTLSClusterServesAClientWithACertificate(t *testing.T) {
	p := newTestPKI(t)
	c := newTestClusterWith(t, 3, func(cfg *server.Config) { cfg.TLS = p.nodeTLS(cfg.ID) })
	leader := c.leader()
	var follower string
	for _, id := range c.ids() {
		if id != leader {
			follower = c.cfgs[id].ClientAddr
			break
		}
	}
	ca, cert, key := p.writeFiles(t.TempDir(), "root", pki.Options{})
	tlsCfg, err := LoadTLS(ca, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(follower)
	cfg.TLS = tlsCfg
	cl := newTestClient(t, cfg)
	s := newTestSession(t, cl)
	l, err := s.Acquire(testCtx(t), "tls/lock")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.GetLock(testCtx(t), "tls/lock")
	if err != nil || len(info.Holders) != 1 || info.Holders[0].Token != l.Token() {
		t.Fatalf("GetLock over TLS: %+v, %v", info, err)
	}

	plain := newTestClient(t, testConfig(follower))
	_, err = plain.GetLock(testCtx(t), "tls/lock")
	var te *TLSError
	if !errors.As(err, &te) || te.Party != TLSMismatch {
		t.Fatalf("a client without TLS: %v, want a TLSError (TLS mismatch)", err)
	}
}

// Reference: a leader hint that names a server without a certificate of
// the cluster's CA for the hinted host is not followed: the request never
// reaches that server, and the client finds the real leader.
func TestLeaderHintToAStrangerIsRefused(t *testing.T) {
	p := newTestPKI(t)
	stranger := newTestPKI(t)
	cases := []struct {
		name string
		cert tls.Certificate // the stranger's
		// serverName is put in the client's Config.TLS, which must not
		// make it check another host than the one dialed.
		serverName string
	}{
		{"certificate of another CA", stranger.node("n9", pki.Options{}), ""},
		{"cluster certificate for another host", p.node("n9", pki.Options{}, "n9.example"), ""},
		{"cluster certificate for the configured server name", p.node("n9", pki.Options{}, "n1.example"), "n1.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Node 0 is a follower, node 1 the leader, node 2 the stranger,
			// which node 0 names as the leader until it has done so once.
			fc := newFakeClusterWith(t, 3, 2, func(i int) rpc.Config {
				if i == 2 {
					return strangerRPC(tc.cert)
				}
				return p.serverRPC(p.node(fmt.Sprintf("n%d", i+1), pki.Options{}, "127.0.0.1", "n1.example"))
			})
			fc.onNotLeader = func(node, count int) {
				fc.mu.Lock()
				fc.leader = 1
				fc.mu.Unlock()
			}
			cfg := testConfig(fc.nodes[0].addr)
			cfg.TLS = p.clientTLS(p.client("alice", pki.Options{}))
			cfg.TLS.ServerName = tc.serverName
			cl := newTestClient(t, cfg)
			if _, err := cl.GetLock(testCtx(t), "x"); err != nil {
				t.Fatalf("GetLock after a poisoned hint: %v", err)
			}
			// The stranger counts its failed handshake once it sees the
			// client give up, which may be after the client moved on.
			for deadline := time.Now().Add(5 * time.Second); fc.nodes[2].srv.Stats().HandshakesFailed == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond) // polls a condition; no timing is assumed
			}
			st := fc.nodes[2].srv.Stats()
			if st.HandshakesFailed == 0 || len(fc.nodes[2].srv.Conns()) != 0 {
				t.Fatalf("the stranger: %d failed handshakes, %d connections; want its handshake refused",
					st.HandshakesFailed, len(fc.nodes[2].srv.Conns()))
			}
			fc.mu.Lock()
			seen := fc.notLeaderSeen
			fc.mu.Unlock()
			if seen != 2 {
				// One from node 0 naming the stranger, one naming node 1
				// after it; a request to the stranger would add one.
				t.Fatalf("%d NotLeader answers, want 2", seen)
			}
		})
	}
}

// Reference: a refused certificate, or TLS on one side only, fails the
// call at once with a TLSError that says whose certificate and why.
func TestTLSErrorsSayWhichCertificateAndWhy(t *testing.T) {
	p := newTestPKI(t)
	stranger := newTestPKI(t)
	good := p.clientTLS(p.client("alice", pki.Options{}))
	goodServer := p.serverRPC(p.node("n1", pki.Options{}))
	cases := []struct {
		name   string
		server rpc.Config
		client *tls.Config
		party  TLSParty // 0: no error
		want   string   // in the message
	}{
		{"valid certificates", goodServer, good, 0, ""},
		{"server certificate expired", p.serverRPC(p.node("n1", expired)), good, TLSServer, `) has expired (valid from`},
		{"server certificate of another CA", stranger.serverRPC(stranger.node("n1", pki.Options{})), good,
			TLSServer, "is not signed by a CA this client trusts"},
		{"server certificate for another host", p.serverRPC(p.node("n1", pki.Options{}, "n1.example")), good,
			TLSServer, `is for n1.example, not for "127.0.0.1"`},
		{"client certificate expired", goodServer, p.clientTLS(p.client("alice", expired)),
			TLSClient, "refused this client's certificate as expired"},
		{"client certificate of another CA", goodServer, p.clientTLS(stranger.client("alice", pki.Options{})),
			TLSClient, `requires a client certificate issued by its CA, and this client's certificate "alice"`},
		{"no client certificate", goodServer, &tls.Config{RootCAs: p.pool()},
			TLSClient, "requires a client certificate and this client sent none"},
		{"a node certificate as client certificate", goodServer, p.clientTLS(p.node("n2", pki.Options{})),
			TLSClient, "names no client"},
		{"no TLS on the client", goodServer, nil, TLSMismatch, "requires TLS"},
		{"no TLS on the server", rpc.DefaultConfig(), good, TLSMismatch, "uses TLS but the server does not"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeClusterWith(t, 1, 0, func(int) rpc.Config { return tc.server })
			cfg := testConfig(fc.addrs()...)
			cfg.TLS = tc.client
			cl := newTestClient(t, cfg)
			_, err := cl.GetLock(testCtx(t), "x")
			if tc.party == 0 {
				if err != nil {
					t.Fatalf("GetLock with valid certificates: %v", err)
				}
				return
			}
			var te *TLSError
			if !errors.As(err, &te) || !errors.Is(err, ErrTLS) {
				t.Fatalf("GetLock: %v, want a TLSError", err)
			}
			if te.Party != tc.party || te.Addr != fc.nodes[0].addr || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("TLSError %q (party %v, addr %s), want party %v mentioning %q", err, te.Party, te.Addr, tc.party, tc.want)
			}
			t.Logf("%v", err)
			if n := cl.retries.Load(); n != 0 {
				t.Fatalf("the call was retried %d times; a certificate error must fail at once", n)
			}
		})
	}
}

// Reference: a failing endpoint among working ones is skipped, TLS
// failure or not; only when every endpoint refuses does the call fail.
func TestOneEndpointWithABadCertificateIsSkipped(t *testing.T) {
	p := newTestPKI(t)
	fc := newFakeClusterWith(t, 2, 1, func(i int) rpc.Config {
		if i == 0 {
			return p.serverRPC(p.node("n1", expired))
		}
		return p.serverRPC(p.node("n2", pki.Options{}))
	})
	cfg := testConfig(fc.addrs()...)
	cfg.TLS = p.clientTLS(p.client("alice", pki.Options{}))
	cl := newTestClient(t, cfg)
	if _, err := cl.GetLock(testCtx(t), "x"); err != nil {
		t.Fatalf("GetLock with one good endpoint of two: %v", err)
	}
}

// Reference: a LeaderChanged push naming a stranger is not followed
// either: the next call refuses the stranger's certificate and reaches
// the leader through the configured endpoints.
func TestLeaderChangedPushToAStrangerIsRefused(t *testing.T) {
	p := newTestPKI(t)
	stranger := newTestPKI(t)
	// Node 0 follows, node 1 leads, node 2 is a stranger.
	fc := newFakeClusterWith(t, 3, 1, func(i int) rpc.Config {
		if i == 2 {
			return strangerRPC(stranger.node("n9", pki.Options{}))
		}
		return p.serverRPC(p.node(fmt.Sprintf("n%d", i+1), pki.Options{}))
	})
	cfg := testConfig(fc.nodes[0].addr, fc.nodes[1].addr)
	cfg.TLS = p.clientTLS(p.client("alice", pki.Options{}))
	cl := newTestClient(t, cfg)
	ctx := testCtx(t)
	if _, err := cl.GetLock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	for _, conn := range fc.nodes[1].srv.Conns() {
		_ = conn.Push(rpc.MsgType(api.PushLeaderChanged), &api.LeaderChangedEvent{LeaderAddr: fc.nodes[2].addr, Term: 3})
	}
	// The push is handled on its own goroutine: call until the client has
	// tried the hint, which it does at its first dial after the push.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for fc.nodes[2].srv.Stats().HandshakesFailed == 0 {
		if _, err := cl.GetLock(ctx, "x"); err != nil {
			t.Fatalf("GetLock after a LeaderChanged push naming a stranger: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the client never dialed the hinted address")
		case <-tick.C:
		}
	}
	if _, err := cl.GetLock(ctx, "x"); err != nil {
		t.Fatalf("GetLock after the stranger was refused: %v", err)
	}
	if n := len(fc.nodes[2].srv.Conns()); n != 0 {
		t.Fatalf("the stranger holds %d connections of the client", n)
	}
}
