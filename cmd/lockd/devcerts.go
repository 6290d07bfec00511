package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lockd/lockd/internal/pki"
)

// devPrincipal is the client principal whose certificate --dev prints:
// the built-in administrator.
const devPrincipal = "root"

// devCerts are the files of the dev cluster's throwaway CA.
type devCerts struct {
	node   map[string]pki.Files // by node ID
	client pki.Files            // principal devPrincipal
}

// makeDevCerts creates, in dir, a CA (ca.crt, ca.key), a certificate for
// each node (on 127.0.0.1 and localhost) and one for principal root, as
// lockctl cert would.
func makeDevCerts(dir string, ids []string) (devCerts, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return devCerts{}, fmt.Errorf("dev certificates: %w", err)
	}
	ca, err := pki.NewCA(pki.Options{})
	if err != nil {
		return devCerts{}, err
	}
	caFile := filepath.Join(dir, pki.CACertFile)
	if err := ca.WriteFiles(caFile, filepath.Join(dir, pki.CAKeyFile), pki.CreateOnly); err != nil {
		return devCerts{}, err
	}
	out := devCerts{node: make(map[string]pki.Files, len(ids))}
	for _, id := range ids {
		kp, err := ca.IssueNode(id, []string{"127.0.0.1", "localhost"}, pki.Options{})
		if err != nil {
			return devCerts{}, err
		}
		cert, key := pki.NodeFiles(id)
		f := pki.Files{CA: caFile, Cert: filepath.Join(dir, cert), Key: filepath.Join(dir, key)}
		if err := kp.WriteFiles(f.Cert, f.Key, pki.CreateOnly); err != nil {
			return devCerts{}, err
		}
		out.node[id] = f
	}
	kp, err := ca.IssueClient(devPrincipal, pki.Options{})
	if err != nil {
		return devCerts{}, err
	}
	cert, key := pki.ClientFiles(devPrincipal)
	out.client = pki.Files{CA: caFile, Cert: filepath.Join(dir, cert), Key: filepath.Join(dir, key)}
	if err := kp.WriteFiles(out.client.Cert, out.client.Key, pki.CreateOnly); err != nil {
		return devCerts{}, err
	}
	return out, nil
}
