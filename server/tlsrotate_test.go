package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/internal/pki"
)

// fileCerts writes node certificates of one CA to files and serves each
// node through a pki.Reloader over them, as lockd does with --cacert,
// --cert and --key.
type fileCerts struct {
	*testCA
	dir       string
	reloaders map[string]*pki.Reloader
}

func newFileCerts(t testing.TB, ids ...string) *fileCerts {
	t.Helper()
	f := &fileCerts{testCA: newTestCA(t), dir: t.TempDir(), reloaders: map[string]*pki.Reloader{}}
	if err := f.ca.WriteFiles(f.path(pki.CACertFile), f.path(pki.CAKeyFile), pki.CreateOnly); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		f.rotate(id)
		r, err := pki.NewReloader(f.files(id), nil)
		if err != nil {
			t.Fatal(err)
		}
		f.reloaders[id] = r
	}
	return f
}

func (f *fileCerts) path(name string) string { return filepath.Join(f.dir, name) }

func (f *fileCerts) files(id string) pki.Files {
	cert, key := pki.NodeFiles(id)
	return pki.Files{CA: f.path(pki.CACertFile), Cert: f.path(cert), Key: f.path(key)}
}

// rotate writes a new certificate of node id over its files (without
// reloading) and returns its serial number.
func (f *fileCerts) rotate(id string) *big.Int {
	f.t.Helper()
	kp, err := f.ca.IssueNode(id, []string{"127.0.0.1"}, pki.Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	files := f.files(id)
	if err := kp.WriteFiles(files.Cert, files.Key, pki.Overwrite); err != nil {
		f.t.Fatal(err)
	}
	return kp.Cert.SerialNumber
}

// withTLS is a svcCluster tweak: each node serves through its reloader.
func (f *fileCerts) withTLS(cfg *Config) {
	r := f.reloaders[cfg.ID]
	cfg.TLS = &TLSConfig{Server: r.ServerConfig(), Client: r.ClientConfig}
}

// served is the serial number of the certificate a new TLS handshake
// with addr is shown.
func (f *fileCerts) served(addr string, client tls.Certificate) (*big.Int, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: x509Pool(f.ca), Certificates: []tls.Certificate{client},
		ServerName: "127.0.0.1"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// TestCertificateRotationUnderLoadFailsNoCall replaces every node's
// certificate by a new one of the same CA and reloads it (what SIGHUP or
// the poll does) while clients keep acquiring and releasing over TLS,
// redialing often so that handshakes happen throughout. No call fails;
// new handshakes on the client and peer ports present the new
// certificates; peer connections cut after the rotation come back with
// them.
func TestCertificateRotationUnderLoadFailsNoCall(t *testing.T) {
	ids := []string{"n1", "n2", "n3"}
	certs := newFileCerts(t, ids...)
	c := newSvcCluster(t, 3, certs.withTLS)
	lead := c.leader()
	kp, err := certs.ca.IssueClient("root", pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clientCert := kp.TLSCertificate()

	const workers = 4
	const pairsPerConn = 5
	var (
		pairs, dials atomic.Int64
		mu           sync.Mutex
		failures     []error
		stop         = make(chan struct{})
		wg           sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("rotate/%d", w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				cl := &svcClient{t: t, seq: map[uint64]uint64{}, cfg: certs.clientRPC("root"), secret: harnessSecret}
				if err := cl.connect(lead.ClientAddr()); err != nil {
					fail(fmt.Errorf("dial: %w", err))
					return
				}
				dials.Add(1)
				var open api.OpenSessionResponse
				if err := cl.call(api.MsgOpenSession, &api.OpenSessionRequest{Key: fmt.Sprintf("%s/%d", name, dials.Load()), TTL: int64(time.Minute)}, &open); err != nil {
					fail(fmt.Errorf("open: %w", err))
					return
				}
				for range pairsPerConn {
					r, err := cl.acquire(open.Session, name, false)
					if err == nil && !r.Granted {
						err = fmt.Errorf("not granted: %+v", r)
					}
					if err == nil {
						err = cl.call(api.MsgRelease, &api.ReleaseRequest{Write: cl.write(open.Session), Name: name, Token: r.Token}, nil)
					}
					if err != nil {
						fail(fmt.Errorf("pair: %w", err))
						return
					}
					pairs.Add(1)
				}
				_ = cl.conn.Close()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	progress := func(what string, from int64) {
		svcWait(t, what, 60*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(failures) > 0 || pairs.Load() >= from+workers*pairsPerConn*3
		})
	}
	progress("pairs before the rotation", 0)

	serials := map[string]*big.Int{}
	for _, id := range ids {
		serials[id] = certs.rotate(id)
		if err := certs.reloaders[id].Reload(); err != nil {
			t.Fatalf("reload %s: %v", id, err)
		}
	}
	dialsAtRotation, pairsAtRotation := dials.Load(), pairs.Load()
	for _, s := range c.servers {
		for _, addr := range []string{s.ClientAddr(), s.PeerAddr()} {
			got, err := certs.served(addr, clientCert)
			if err != nil || got.Cmp(serials[s.ID()]) != 0 {
				t.Fatalf("%s %s presents %v (%v), want the new certificate %v", s.ID(), addr, got, err, serials[s.ID()])
			}
		}
	}
	// The leader's peer connections to each follower are cut and
	// redialed: both sides now hold the new certificates.
	for _, id := range ids {
		if id == lead.ID() {
			continue
		}
		c.faults[lead.ID()].Block(id)
		c.faults[lead.ID()].Unblock(id)
		// An entry committed after the cut reaches id only over a new
		// connection.
		cut := lead.node.CommitIndex()
		svcWait(t, "a commit after the cut", 30*time.Second, func() bool { return lead.node.CommitIndex() > cut })
		after := lead.node.CommitIndex()
		svcWait(t, id+" catching up after its peer connection was redialed", 30*time.Second, func() bool {
			return c.servers[id].node.AppliedIndex() >= after
		})
	}
	progress("pairs after the rotation", pairsAtRotation)
	close(stop)
	wg.Wait()
	stop = make(chan struct{})

	if len(failures) > 0 {
		t.Fatalf("%d calls failed during the rotation, first: %v", len(failures), failures[0])
	}
	if dials.Load() <= dialsAtRotation {
		t.Fatal("no client dialed after the rotation")
	}
	t.Logf("%d pairs, %d connections, %d of them after the rotation", pairs.Load(), dials.Load(), dials.Load()-dialsAtRotation)
}
