package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/internal/syncbuf"
	"github.com/lockd/lockd/rpc"
)

// certDir is a directory of certificates made with one CA, as lockctl
// cert writes them.
type certDir struct {
	t   *testing.T
	dir string
	ca  *pki.CA
}

func newCertDir(t *testing.T) *certDir {
	t.Helper()
	ca, err := pki.NewCA(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &certDir{t: t, dir: t.TempDir(), ca: ca}
	if err := ca.WriteFiles(d.path(pki.CACertFile), d.path(pki.CAKeyFile), pki.CreateOnly); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *certDir) path(name string) string { return filepath.Join(d.dir, name) }

// node writes node id's certificate for 127.0.0.1 (replacing any) and
// returns the --cacert, --cert and --key arguments.
func (d *certDir) node(id string, opts pki.Options) []string {
	d.t.Helper()
	kp, err := d.ca.IssueNode(id, []string{"127.0.0.1", "localhost"}, opts)
	if err != nil {
		d.t.Fatal(err)
	}
	cert, key := pki.NodeFiles(id)
	if err := kp.WriteFiles(d.path(cert), d.path(key), pki.Overwrite); err != nil {
		d.t.Fatal(err)
	}
	return []string{"--cacert", d.path(pki.CACertFile), "--cert", d.path(cert), "--key", d.path(key)}
}

// clientRPC is an rpc configuration that dials as principal name.
func (d *certDir) clientRPC(name string) rpc.Config {
	d.t.Helper()
	kp, err := d.ca.IssueClient(name, pki.Options{})
	if err != nil {
		d.t.Fatal(err)
	}
	cfg := rpc.DefaultConfig()
	cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: d.pool(),
		Certificates: []tls.Certificate{kp.TLSCertificate()}}
	return cfg
}

func (d *certDir) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(d.ca.Cert)
	return p
}

func TestTLSFlagsGoTogether(t *testing.T) {
	cases := map[string]struct {
		edit func(o *options)
		msg  string
	}{
		"--cert alone": {func(o *options) { o.Cert = "n1.crt" }, "give all three"},
		"no --key": {func(o *options) { o.CACert, o.Cert = "ca.crt", "n1.crt" },
			"give all three"},
		"--insecure with certificates": {func(o *options) {
			o.CACert, o.Cert, o.Key, o.Insecure = "ca.crt", "n1.crt", "n1.key", true
		}, "--insecure turns TLS off"},
		"--http-tls without certificates": {func(o *options) { o.HTTPTLS = true }, "--http-tls"},
		"negative --tls-reload-interval": {func(o *options) {
			o.CACert, o.Cert, o.Key, o.TLSReloadInterval = "ca.crt", "n1.crt", "n1.key", -time.Second
		}, "--tls-reload-interval"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := validNode(t)
			c.edit(&o)
			_, err := checkNode(o)
			if !errors.Is(err, errBadFlag) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("checkNode: %v, want errBadFlag mentioning %q", err, c.msg)
			}
		})
	}
	// The control: all three, with --http-tls.
	o := validNode(t)
	o.CACert, o.Cert, o.Key, o.HTTPTLS = "ca.crt", "n1.crt", "n1.key", true
	if _, err := checkNode(o); err != nil {
		t.Fatalf("all three files: %v", err)
	}
}

// TestNonLoopbackWithoutTLSNeedsInsecure checks the rule for each port:
// a non-loopback address without certificates is refused with an
// InsecureListenError (a usage error) naming the flag and what to do;
// --insecure or certificates allow it; loopback needs neither.
func TestNonLoopbackWithoutTLSNeedsInsecure(t *testing.T) {
	cases := map[string]func(o *options){
		"--client-addr": func(o *options) { o.ClientAddr = "0.0.0.0:7001" },
		"--http-addr":   func(o *options) { o.HTTPAddr = ":7201" },
		"--peer-addr":   func(o *options) { o.PeerAddr = "10.0.0.1:7101"; o.AdvertisePeer = "127.0.0.1:7101" },
	}
	for flag, edit := range cases {
		t.Run(flag, func(t *testing.T) {
			o := validNode(t)
			edit(&o)
			_, err := checkNode(o)
			var ie *InsecureListenError
			if !errors.As(err, &ie) || ie.Flag != flag || !errors.Is(err, errBadFlag) {
				t.Fatalf("checkNode: %v, want an InsecureListenError for %s", err, flag)
			}
			for _, want := range []string{"--cacert, --cert and --key", "--insecure"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not mention %s", err, want)
				}
			}
			o.Insecure = true
			if _, err := checkNode(o); err != nil {
				t.Fatalf("with --insecure: %v", err)
			}
			o.Insecure = false
			o.CACert, o.Cert, o.Key = "ca.crt", "n1.crt", "n1.key"
			if _, err := checkNode(o); err != nil {
				t.Fatalf("with certificates: %v", err)
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:7001", "127.0.0.2:7001", "[::1]:7001", "localhost:7001"} {
		if !isLoopback(addr) {
			t.Errorf("isLoopback(%q) = false", addr)
		}
	}
	for _, addr := range []string{"0.0.0.0:7001", "[::]:7001", ":7001", "10.0.0.1:7001", "lockd.example.com:7001", "nonsense"} {
		if isLoopback(addr) {
			t.Errorf("isLoopback(%q) = true", addr)
		}
	}
}

func TestInsecureListenExitsTwoWithAdvice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d1")
	var stdout, stderr strings.Builder
	code := run(context.Background(), func() {}, []string{"lockd", "--id", "n1", "--data-dir", dir,
		"--initial-cluster", "n1=127.0.0.1:7101", "--client-addr", "0.0.0.0:7001"}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "--client-addr 0.0.0.0:7001 is not a loopback address") ||
		!strings.Contains(stderr.String(), "--insecure") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestCertificateOfAnotherNodeIsRefusedAtStart: --cert must name --id.
func TestCertificateOfAnotherNodeIsRefusedAtStart(t *testing.T) {
	certs := newCertDir(t)
	a := freeAddrs(t, 2)
	dir := filepath.Join(t.TempDir(), "d1")
	var stdout, stderr strings.Builder
	args := append([]string{"lockd", "--id", "n1", "--data-dir", dir, "--initial-cluster", "n1=" + a[0],
		"--client-addr", a[1]}, certs.node("n2", pki.Options{})...)
	code := run(context.Background(), func() {}, args, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), `certificate of node "n2"`) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	missing := append([]string{"lockd", "--id", "n1", "--data-dir", dir, "--initial-cluster", "n1=" + a[0],
		"--client-addr", a[1]}, "--cacert", certs.path("none.crt"), "--cert", certs.path("n.crt"), "--key", certs.path("n.key"))
	stderr.Reset()
	if code := run(context.Background(), func() {}, missing, &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "none.crt") {
		t.Fatalf("missing files: exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestTLSNodeServesCertifiedClientsAndHTTPS runs a one-node cluster with
// certificates and --http-tls: a client with a certificate of the CA is
// served, a plain one is told TLS is required, the HTTP port answers
// over TLS with the node's certificate, and the peer port refuses a
// plain peer and one with a certificate of another CA.
func TestTLSNodeServesCertifiedClientsAndHTTPS(t *testing.T) {
	certs := newCertDir(t)
	a := freeAddrs(t, 3)
	stop, stderr := runAsync(append([]string{"lockd", "--id", "n1", "--data-dir", filepath.Join(t.TempDir(), "n1"),
		"--initial-cluster", "n1=" + a[0], "--client-addr", a[1], "--http-addr", a[2], "--http-tls", "--log-level", "warn"},
		certs.node("n1", pki.Options{})...))
	defer stop()
	https := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: certs.pool()}}}
	waitUntil(t, startTimeout, "n1 /readyz over TLS", func() (bool, string) {
		resp, err := https.Get("https://" + a[2] + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	// Go's HTTP server answers a plain request on a TLS port with 400.
	if resp, err := httpClient.Get("http://" + a[2] + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the --http-tls port: %s", resp.Status)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status := func(cfg rpc.Config) (api.NodeStatus, error) {
		var st api.NodeStatus
		conn, err := rpc.Dial(ctx, a[1], rpc.KindClient, cfg, ignorePushes())
		if err != nil {
			return st, err
		}
		defer conn.Close()
		return st, conn.Call(ctx, rpc.MsgType(api.MsgStatus), api.StatusRequest{}, &st)
	}
	if st, err := status(certs.clientRPC("alice")); err != nil || st.Leader != "n1" {
		t.Fatalf("client with a certificate: %+v, %v", st, err)
	}
	if _, err := status(rpc.DefaultConfig()); !errors.Is(err, rpc.ErrTLSRequired) {
		t.Fatalf("plain client: %v, want rpc.ErrTLSRequired", err)
	}

	// The peer port: a plain peer and one with a certificate of another
	// CA are refused; n2's certificate of the cluster's CA is not.
	dialPeer := func(cfg rpc.Config) error {
		cfg.NodeID = "n2"
		conn, err := rpc.Dial(ctx, a[0], rpc.KindPeer, cfg)
		if err == nil {
			_ = conn.Close()
		}
		return err
	}
	if err := dialPeer(rpc.DefaultConfig()); !errors.Is(err, rpc.ErrTLSRequired) {
		t.Fatalf("plain peer: %v, want rpc.ErrTLSRequired", err)
	}
	nodeCfg := func(d *certDir, roots *x509.CertPool) rpc.Config {
		kp, err := d.ca.IssueNode("n2", []string{"127.0.0.1"}, pki.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := rpc.DefaultConfig()
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, Certificates: []tls.Certificate{kp.TLSCertificate()}}
		return cfg
	}
	if err := dialPeer(nodeCfg(newCertDir(t), certs.pool())); err == nil {
		t.Fatal("a peer with a certificate of another CA was accepted")
	}
	if err := dialPeer(nodeCfg(certs, certs.pool())); err != nil {
		t.Fatalf("n2 with a certificate of the cluster's CA: %v", err)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestShellQuoteKeepsExportLinesEvaluable(t *testing.T) {
	cases := map[string]string{
		"/tmp/lockd-dev-1/certs/ca.crt": "/tmp/lockd-dev-1/certs/ca.crt",
		"/tmp/my dir/ca.crt":            "'/tmp/my dir/ca.crt'",
		"/tmp/it's/ca.crt":              `'/tmp/it'\''s/ca.crt'`,
		"":                              "''",
	}
	for in, want := range cases {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestCertificateWithoutTheDialedHostIsWarnedAbout: a node certificate
// that does not name the host of the peer or client address others dial
// is logged, naming the address; one that names it is not.
func TestCertificateWithoutTheDialedHostIsWarnedAbout(t *testing.T) {
	ca, err := pki.NewCA(pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueNode("n1", []string{"10.0.0.1", "n1.example"}, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := options{ID: "n1", PeerAddr: "0.0.0.0:7101", ClientAddr: "0.0.0.0:7001", AdvertiseClient: "n1.example:7001"}
	logs := &syncbuf.Buffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs})
	warnCertHosts(kp.Cert, dialedAddrs(o, map[string]string{"n1": "10.0.0.1:7101"}), logger)
	if logs.String() != "" {
		t.Fatalf("warned about hosts the certificate names:\n%s", logs.String())
	}
	warnCertHosts(kp.Cert, dialedAddrs(o, map[string]string{"n1": "10.0.0.2:7101"}), logger)
	if !strings.Contains(logs.String(), "does not name a host") || !strings.Contains(logs.String(), "10.0.0.2:7101") {
		t.Fatalf("no warning for 10.0.0.2:\n%s", logs.String())
	}
}
