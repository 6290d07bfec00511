package nemesis

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/pki"
)

// RootPrincipal is the client principal of the harness's clients: lockd's
// built-in administrator, which may do everything the faults need
// (membership changes) and the workload does.
const RootPrincipal = "root"

// certs are the PEM files of a secured Cluster, in one directory: the CA
// (ca.crt, ca.key), each node's certificate for 127.0.0.1 (node-ID.crt,
// node-ID.key) and the root client's (client-root.crt, client-root.key),
// named as `lockctl cert` names them.
type certs struct {
	dir    string
	ca     *pki.CA
	client *tls.Config // the root client's configuration, from its files

	mu    sync.Mutex
	nodes map[string]*tls.Certificate // each node's, for the peer proxies
}

// proxyTLS is what the peer proxies need to carry TLS connections.
func (c *certs) proxyTLS() *ProxyTLS {
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.Cert)
	return &ProxyTLS{Pool: pool, Cert: func(id string) *tls.Certificate {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nodes[id]
	}}
}

// newCerts makes a CA and the root client's certificate in dir.
func newCerts(dir string) (*certs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nemesis: certificates: %w", err)
	}
	ca, err := pki.NewCA(pki.Options{})
	if err != nil {
		return nil, err
	}
	if err := ca.WriteFiles(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CAKeyFile), pki.Overwrite); err != nil {
		return nil, err
	}
	kp, err := ca.IssueClient(RootPrincipal, pki.Options{})
	if err != nil {
		return nil, err
	}
	cert, key := pki.ClientFiles(RootPrincipal)
	cert, key = filepath.Join(dir, cert), filepath.Join(dir, key)
	if err := kp.WriteFiles(cert, key, pki.Overwrite); err != nil {
		return nil, err
	}
	// Loaded the way an application loads its files.
	cfg, err := client.LoadTLS(filepath.Join(dir, pki.CACertFile), cert, key)
	if err != nil {
		return nil, err
	}
	return &certs{dir: dir, ca: ca, client: cfg, nodes: map[string]*tls.Certificate{}}, nil
}

// node issues node id's certificate for 127.0.0.1, where its client port
// and its proxy (which its peers dial) listen, and returns the lockd
// flags that use it.
func (c *certs) node(id string) ([]string, error) {
	kp, err := c.ca.IssueNode(id, []string{"127.0.0.1"}, pki.Options{})
	if err != nil {
		return nil, err
	}
	cert, key := pki.NodeFiles(id)
	cert, key = filepath.Join(c.dir, cert), filepath.Join(c.dir, key)
	if err := kp.WriteFiles(cert, key, pki.Overwrite); err != nil {
		return nil, err
	}
	tc := kp.TLSCertificate()
	c.mu.Lock()
	c.nodes[id] = &tc
	c.mu.Unlock()
	return []string{"--cacert", filepath.Join(c.dir, pki.CACertFile), "--cert", cert, "--key", key}, nil
}
