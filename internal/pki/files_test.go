package pki

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFilesModes: keys 0600, certificates 0644, whatever the umask
// would have made of them.
func TestWriteFilesModes(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	for _, mode := range []WriteMode{CreateOnly, Overwrite} {
		certFile, keyFile := writePair(t, node(t, ca, "n1", at(t0, 0)), dir, "n1", mode)
		for file, want := range map[string]fs.FileMode{certFile: 0o644, keyFile: 0o600} {
			st, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != want {
				t.Errorf("write mode %d: %s has mode %v, want %v", mode, file, st.Mode(), want)
			}
		}
	}
	onlyFiles(t, dir, "n1.crt", "n1.key")
}

// TestWriteFilesRefusesToOverwrite: without Overwrite nothing is written
// if either file exists; with it both are replaced.
func TestWriteFilesRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	first, second := client(t, ca, "c", at(t0, 0)), client(t, ca, "c", at(t0, 0))
	certFile, keyFile := writePair(t, first, dir, "c", CreateOnly)
	certPEM, keyPEM := read(t, certFile), read(t, keyFile)

	err := second.WriteFiles(certFile, keyFile, CreateOnly)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second write: %v, want ErrExists", err)
	}
	if !bytes.Equal(read(t, certFile), certPEM) || !bytes.Equal(read(t, keyFile), keyPEM) {
		t.Fatal("a refused write changed the files")
	}

	// Only the certificate exists: the key is not written either.
	otherKey := filepath.Join(dir, "other.key")
	if err := second.WriteFiles(certFile, otherKey, CreateOnly); !errors.Is(err, ErrExists) {
		t.Fatalf("write next to an existing certificate: %v", err)
	}
	onlyFiles(t, dir, "c.crt", "c.key")

	if err := second.WriteFiles(certFile, keyFile, Overwrite); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, certFile), second.CertPEM()) {
		t.Fatal("Overwrite did not replace the certificate")
	}
	if _, err := LoadTLSCertificate(certFile, keyFile); err != nil {
		t.Fatalf("the overwritten pair does not load: %v", err)
	}
	onlyFiles(t, dir, "c.crt", "c.key")
}

// TestCreateFromRefusesExistingFile: the final step of a CreateOnly write
// fails, and leaves the file, if the name appeared after the check.
func TestCreateFromRefusesExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(path, []byte("new"), 0o600, CreateOnly); !errors.Is(err, ErrExists) {
		t.Fatalf("writeFile over an existing file: %v", err)
	}
	if got := read(t, path); string(got) != "old" {
		t.Fatalf("file now %q", got)
	}
	onlyFiles(t, dir, "f")
}

func TestPEMRoundTrip(t *testing.T) {
	dir := t.TempDir()
	kp := node(t, newTestCA(t), "n1", at(t0, 0))
	certFile, keyFile := writePair(t, kp, dir, "n1", CreateOnly)
	pair, err := LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Leaf.Equal(kp.Cert) {
		t.Fatal("loaded another certificate")
	}
	if !bytes.HasPrefix(read(t, keyFile), []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("key is not PKCS #8 PEM")
	}
	certs, err := LoadCertificates(certFile)
	if err != nil || len(certs) != 1 {
		t.Fatalf("LoadCertificates: %d, %v", len(certs), err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCertificates(empty); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("LoadCertificates of a file without PEM: %v", err)
	}
}

func TestFileNames(t *testing.T) {
	if c, k := NodeFiles("n1"); c != "node-n1.crt" || k != "node-n1.key" {
		t.Errorf("NodeFiles = %s, %s", c, k)
	}
	if c, k := ClientFiles("alice"); c != "client-alice.crt" || k != "client-alice.key" {
		t.Errorf("ClientFiles = %s, %s", c, k)
	}
}

func read(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onlyFiles checks that dir holds exactly names: no temporary files left.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
	for i := range got {
		if got[i] != names[i] {
			t.Fatalf("%s holds %v, want %v", dir, got, names)
		}
	}
}
