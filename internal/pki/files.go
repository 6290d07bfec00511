package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names that lockctl's cert commands write and lockd's defaults read,
// in a directory of certificates.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// NodeFiles returns the file names of node id's certificate and key:
// node-ID.crt and node-ID.key.
func NodeFiles(id string) (cert, key string) { return "node-" + id + ".crt", "node-" + id + ".key" }

// ClientFiles returns the file names of principal name's certificate and
// key: client-NAME.crt and client-NAME.key.
func ClientFiles(name string) (cert, key string) {
	return "client-" + name + ".crt", "client-" + name + ".key"
}

// Modes of the files written.
const (
	CertMode fs.FileMode = 0o644
	KeyMode  fs.FileMode = 0o600
)

// WriteMode says whether WriteFiles may replace existing files.
type WriteMode int

const (
	// CreateOnly refuses to write if the certificate or key file exists.
	CreateOnly WriteMode = iota
	// Overwrite replaces existing files.
	Overwrite
)

// CertPEM is the certificate in PEM.
func (kp *KeyPair) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.Cert.Raw})
}

// KeyPEM is the private key in PEM (PKCS #8).
func (kp *KeyPair) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key of %q: %w", kp.Cert.Subject.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// TLSCertificate is the pair as crypto/tls uses it.
func (kp *KeyPair) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key, Leaf: kp.Cert}
}

// WriteFiles writes the certificate (mode 0644) and the key (mode 0600).
// With CreateOnly it refuses, with ErrExists and before writing anything,
// if either file exists. Each file is written to a temporary file in its
// directory, given its mode, synced and then moved into place, so a reader
// never sees a partial file.
func (kp *KeyPair) WriteFiles(certFile, keyFile string, mode WriteMode) error {
	keyPEM, err := kp.KeyPEM()
	if err != nil {
		return err
	}
	if mode == CreateOnly {
		for _, f := range []string{keyFile, certFile} {
			if _, err := os.Lstat(f); err == nil {
				return fmt.Errorf("%w: %s", ErrExists, f)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("pki: %w", err)
			}
		}
	}
	if err := writeFile(keyFile, keyPEM, KeyMode, mode); err != nil {
		return err
	}
	if err := writeFile(certFile, kp.CertPEM(), CertMode, mode); err != nil {
		if mode == CreateOnly {
			_ = os.Remove(keyFile) // written just now: leave no key without its certificate
		}
		return err
	}
	return nil
}

// writeFile writes data to path with perm. The temporary file is created
// 0600 and chmod-ed to perm before it is linked (CreateOnly: fails if path
// exists) or renamed (Overwrite) to path; the directory is synced.
func writeFile(path string, data []byte, perm fs.FileMode, mode WriteMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	name := tmp.Name()
	defer func() {
		_ = os.Remove(name) // after a link, or a failure; gone after a rename
	}()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if mode == Overwrite {
		err = os.Rename(name, path)
	} else {
		err = createFrom(name, path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// createFrom gives the complete file tmp the name path if path does not
// exist. A hard link does that atomically; on a file system without hard
// links the check and the rename are two steps.
func createFrom(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if _, serr := os.Lstat(path); serr == nil {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if rerr := os.Rename(tmp, path); rerr != nil {
		return fmt.Errorf("pki: %w", rerr)
	}
	return nil
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pki: sync %s: %w", dir, err)
	}
	return nil
}
