package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// outcome is what one side of a handshake saw.
type outcome struct {
	state tls.ConnectionState
	err   error
}

// handshake runs a TLS handshake between server and client configurations
// over an in-memory pipe. After the handshake the server writes "ok" and
// the client reads it: TLS 1.3 reports a server's refusal of the client's
// certificate at the client's first read.
func handshake(t *testing.T, server, client *tls.Config) (srv, cli outcome) {
	t.Helper()
	sc, cc := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	_ = sc.SetDeadline(deadline)
	_ = cc.SetDeadline(deadline)
	done := make(chan outcome, 1)
	go func() {
		defer sc.Close()
		conn := tls.Server(sc, server)
		err := conn.HandshakeContext(context.Background())
		if err == nil {
			_, err = conn.Write([]byte("ok"))
		}
		done <- outcome{conn.ConnectionState(), err}
	}()
	conn := tls.Client(cc, client)
	err := conn.HandshakeContext(context.Background())
	if err == nil {
		buf := make([]byte, 2)
		if _, err = io.ReadFull(conn, buf); err == nil && string(buf) != "ok" {
			t.Fatalf("client read %q", buf)
		}
	}
	cli = outcome{conn.ConnectionState(), err}
	_ = cc.Close()
	return <-done, cli
}

// party is one side: a Reloader over its certificate, written in a
// directory of its own, and the CA file it trusts. It loads them at loadAt
// and runs at runAt.
func party(t *testing.T, caFile string, kp *KeyPair, loadAt, runAt time.Time) *Reloader {
	t.Helper()
	certFile, keyFile := writePair(t, kp, t.TempDir(), "leaf", CreateOnly)
	clk := newClock(loadAt)
	r, err := NewReloader(Files{CA: caFile, Cert: certFile, Key: keyFile}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	clk.set(runAt)
	return r
}

// bundle writes the certificates of cas into one CA file.
func bundle(t *testing.T, dir, name string, cas ...*CA) string {
	t.Helper()
	var b []byte
	for _, ca := range cas {
		b = append(b, ca.CertPEM()...)
	}
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestHandshake runs real TLS 1.3 handshakes between Reloaders'
// configurations: the right certificates pass and each side sees the
// other's identity; every refusal is explained on both sides.
func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t), newTestCA(t)
	caFile, both := writeCA(t, ca, dir, "ca"), bundle(t, dir, "both.crt", ca, other)
	caName, otherName := ca.Cert.Subject.CommonName, other.Cert.Subject.CommonName
	past, future := t0.Add(-2*year), t0.Add(year)
	n1, n2 := node(t, ca, "n1", at(t0, 0)), node(t, ca, "n2", at(t0, 0))
	alice := client(t, ca, "alice", at(t0, 0))
	serverOnly, err := ca.issue("web", NodeURI("web"), hostNames{names: []string{"web.example"}},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, at(t0, 0))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		what string
		// The certificate each side presents and the CA file it trusts
		// ("": ca's alone), when it loaded them ("": t0); both run at t0.
		serverKP, clientKP     *KeyPair
		serverCA, clientCA     string
		serverLoad, clientLoad time.Time
		serverName             string
		noClientCert           bool
		// wantServer, wantClient: "" for success, else a part of
		// ExplainAt of that side's error.
		wantServer, wantClient string
		// On success: the principal (or else node ID) the server sees
		// and the node ID the client sees.
		principal, clientNode, nodeID string
	}{
		{what: "client to node", serverKP: n1, clientKP: alice, serverName: "n1.example",
			principal: "alice", nodeID: "n1"},
		{what: "client to node by IP", serverKP: n1, clientKP: alice, serverName: "127.0.0.1",
			principal: "alice", nodeID: "n1"},
		{what: "node to node", serverKP: n1, clientKP: n2, serverName: "n1.example", clientNode: "n2", nodeID: "n1"},
		{what: "both trust both CAs", serverKP: node(t, other, "n1", at(t0, 0)), serverCA: both,
			clientKP: alice, clientCA: both, serverName: "n1.example", principal: "alice", nodeID: "n1"},
		{what: "server of another CA", serverKP: node(t, other, "n1", at(t0, 0)), serverCA: both,
			clientKP: alice, serverName: "n1.example",
			wantClient: `the other side's certificate "n1" (lockd://node/n1, issued by "` + otherName +
				`") is not signed by a CA this side trusts`,
			wantServer: "the other side refused this side's certificate (tls: bad certificate)"},
		{what: "client of another CA", serverKP: n1, clientKP: client(t, other, "alice", at(t0, 0)), clientCA: both,
			serverName: "n1.example",
			wantServer: `the other side's certificate "alice" (lockd://client/alice, issued by "` + otherName +
				`") is not signed by a CA this side trusts`,
			wantClient: "the other side refused this side's certificate: it is not signed by a CA the other side trusts"},
		{what: "expired server certificate", serverKP: node(t, ca, "n1", at(past, year)), serverLoad: past,
			clientKP: alice, serverName: "n1.example",
			wantClient: `the other side's certificate "n1" (lockd://node/n1, issued by "` + caName +
				`") has expired (valid from 2029-03-04T04:06:07Z to 2030-03-04T05:06:07Z)`,
			wantServer: "refused this side's certificate (tls: bad certificate)"},
		{what: "expired client certificate", serverKP: n1, clientKP: client(t, ca, "alice", at(past, year)),
			clientLoad: past, serverName: "n1.example",
			wantServer: `the other side's certificate "alice" (lockd://client/alice, issued by "` + caName + `") has expired`,
			wantClient: "the other side refused this side's certificate as expired"},
		{what: "server certificate not valid yet", serverKP: node(t, ca, "n1", at(future, 0)), serverLoad: future,
			clientKP: alice, serverName: "n1.example",
			wantClient: `the other side's certificate "n1" (lockd://node/n1, issued by "` + caName +
				`") is not valid yet (valid from 2032-03-03T04:06:07Z`,
			wantServer: "bad certificate"},
		{what: "wrong server name", serverKP: n1, clientKP: alice, serverName: "n2.example",
			wantClient: `the server's certificate "n1" (lockd://node/n1, issued by "` + caName +
				`") is for 127.0.0.1, n1.example, not for "n2.example", the name this side connected to`,
			wantServer: "bad certificate"},
		{what: "client certificate as a server's", serverKP: client(t, ca, "n1", at(t0, 0)), clientKP: alice,
			serverName: "n1.example",
			wantClient: `the server's certificate "n1" (lockd://client/n1, issued by "` + caName + `") is for no host`,
			wantServer: "bad certificate"},
		{what: "server-only certificate as a client's", serverKP: n1, clientKP: serverOnly, serverName: "n1.example",
			wantServer: `the other side's certificate "web" (lockd://node/web, issued by "` + caName + `") is not for this use`,
			wantClient: "the other side refused this side's certificate (tls: bad certificate)"},
		{what: "no client certificate", serverKP: n1, clientKP: alice, noClientCert: true, serverName: "n1.example",
			wantServer: "client didn't provide a certificate",
			wantClient: "the other side requires a client certificate and this side sent none"},
		{what: "no server name", serverKP: n1, clientKP: alice, serverName: "",
			wantClient: "this side has no server name to check the server's certificate against", wantServer: "bad certificate"},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			orT0 := func(tm time.Time) time.Time {
				if tm.IsZero() {
					return t0
				}
				return tm
			}
			orCA := func(f string) string {
				if f == "" {
					return caFile
				}
				return f
			}
			srvCfg := party(t, orCA(c.serverCA), c.serverKP, orT0(c.serverLoad), t0).ServerConfig()
			cliCfg := party(t, orCA(c.clientCA), c.clientKP, orT0(c.clientLoad), t0).ClientConfig(c.serverName)
			if c.noClientCert {
				cliCfg.GetClientCertificate = nil
			}
			srv, cli := handshake(t, srvCfg, cliCfg)
			check(t, "server", srv.err, c.wantServer)
			check(t, "client", cli.err, c.wantClient)
			if c.wantServer != "" || c.wantClient != "" {
				return
			}
			checkPeers(t, srv.state, cli.state, c.principal, c.clientNode, c.nodeID)
		})
	}
}

// checkPeers checks what each side of a handshake sees of the other: the
// server a principal (or a node ID), the client a node ID.
func checkPeers(t *testing.T, srv, cli tls.ConnectionState, principal, clientNode, nodeID string) {
	t.Helper()
	if cli.Version != tls.VersionTLS13 || srv.Version != tls.VersionTLS13 {
		t.Errorf("versions %x, %x", srv.Version, cli.Version)
	}
	if len(srv.VerifiedChains) == 0 {
		t.Fatal("the server has no verified chain")
	}
	peer := srv.VerifiedChains[0][0]
	if principal != "" {
		if p, err := Principal(peer); p != principal || err != nil {
			t.Errorf("the server sees principal %q, %v; want %q", p, err, principal)
		}
	} else if id, err := NodeID(peer); id != clientNode || err != nil {
		t.Errorf("the server sees node %q, %v; want %q", id, err, clientNode)
	}
	if id, err := NodeID(cli.PeerCertificates[0]); id != nodeID || err != nil {
		t.Errorf("the client sees node %q, %v; want %q", id, err, nodeID)
	}
}

// TestStaticConfigs: ServerConfig and ClientConfig, which crypto/tls
// verifies on its own, accept the right certificates and refuse a wrong
// server name, at the real time.
func TestStaticConfigs(t *testing.T) {
	dir := t.TempDir()
	now := Options{}
	ca, err := NewCA(now)
	if err != nil {
		t.Fatal(err)
	}
	caFile := writeCA(t, ca, dir, "ca")
	n1, err := ca.IssueNode("n1", []string{"127.0.0.1", "n1.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ca.IssueClient("alice", now)
	if err != nil {
		t.Fatal(err)
	}
	nCert, nKey := writePair(t, n1, dir, "n1", CreateOnly)
	aCert, aKey := writePair(t, alice, dir, "alice", CreateOnly)
	srvCfg, err := ServerConfig(caFile, nCert, nKey)
	if err != nil {
		t.Fatal(err)
	}
	if srvCfg.MinVersion != tls.VersionTLS13 || srvCfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("server: MinVersion %x, ClientAuth %v", srvCfg.MinVersion, srvCfg.ClientAuth)
	}
	for _, name := range []string{"n1.example", "127.0.0.1"} {
		cliCfg, err := ClientConfig(caFile, aCert, aKey, name)
		if err != nil {
			t.Fatal(err)
		}
		srv, cli := handshake(t, srvCfg, cliCfg)
		if srv.err != nil || cli.err != nil {
			t.Fatalf("%s: server %v, client %v", name, srv.err, cli.err)
		}
		checkPeers(t, srv.state, cli.state, "alice", "", "n1")
	}
	cliCfg, err := ClientConfig(caFile, aCert, aKey, "n2.example")
	if err != nil {
		t.Fatal(err)
	}
	_, cli := handshake(t, srvCfg, cliCfg)
	if got := Explain(cli.err); !strings.Contains(got, `not for "n2.example"`) {
		t.Errorf("wrong name: %v, explained %q", cli.err, got)
	}
	if _, err := ServerConfig(caFile, aKey, aKey); !errors.Is(err, ErrBadPEM) {
		t.Errorf("ServerConfig with a key for a certificate: %v", err)
	}
}

// check compares a side's error with the part of its explanation wanted.
func check(t *testing.T, side string, err error, want string) {
	t.Helper()
	if err != nil {
		t.Logf("%s explains: %s", side, ExplainAt(err, t0))
	}
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v (%s)", side, err, ExplainAt(err, t0))
	case want != "" && err == nil:
		t.Errorf("%s: no error, want %q", side, want)
	case want != "" && !strings.Contains(ExplainAt(err, t0), want):
		t.Errorf("%s: %v\nexplained: %s\nwant part: %s", side, err, ExplainAt(err, t0), want)
	}
}
