package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/internal/pki"
)

// createCert runs a `cert` command with -o json in dir and returns its
// document.
func createCert(t *testing.T, dir string, args ...string) certDoc {
	t.Helper()
	full := append([]string{"-o", "json", "cert", args[0], "--dir", dir}, args[1:]...)
	code, out, stderr := runArgs(t, full...)
	if code != exitOK {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	var d certDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v: %v: %q", args, err, out)
	}
	return d
}

// TestCertCommandsCreateFilesThatVerify: a CA, a node and a client
// certificate, each made by one command, complete a TLS 1.3 handshake
// over loopback in which each side sees the other's identity.
func TestCertCommandsCreateFilesThatVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs") // created by create-ca
	ca := createCert(t, dir, "create-ca")
	n1 := createCert(t, dir, "create-node", "--addr", "127.0.0.1,n1.example", "--addr", "::1", "n1")
	n2 := createCert(t, dir, "create-node", "--addr", "127.0.0.2", "n2")
	alice := createCert(t, dir, "create-client", "--days", "30", "alice")

	if ca.Kind != "ca" || !strings.HasPrefix(ca.Name, "lockd CA ") || ca.URI != "" || len(ca.Hosts) != 0 ||
		ca.CertFile != filepath.Join(dir, "ca.crt") || ca.KeyFile != filepath.Join(dir, "ca.key") {
		t.Errorf("create-ca: %+v", ca)
	}
	if n1.Kind != "node" || n1.Name != "n1" || n1.URI != "lockd://node/n1" ||
		strings.Join(n1.Hosts, ",") != "127.0.0.1,::1,n1.example" ||
		n1.CertFile != filepath.Join(dir, "node-n1.crt") || n1.KeyFile != filepath.Join(dir, "node-n1.key") {
		t.Errorf("create-node: %+v", n1)
	}
	if alice.Kind != "client" || alice.Name != "alice" || alice.URI != "lockd://client/alice" || len(alice.Hosts) != 0 ||
		alice.CertFile != filepath.Join(dir, "client-alice.crt") || alice.KeyFile != filepath.Join(dir, "client-alice.key") {
		t.Errorf("create-client: %+v", alice)
	}
	notBefore, err1 := time.Parse(time.RFC3339, alice.NotBefore)
	notAfter, err2 := time.Parse(time.RFC3339, alice.NotAfter)
	if err1 != nil || err2 != nil || notAfter.Sub(notBefore) != 30*24*time.Hour+time.Hour {
		t.Errorf("--days 30: valid %s to %s", alice.NotBefore, alice.NotAfter)
	}

	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v %v", st.Mode(), err)
	}
	for _, d := range []certDoc{ca, n1, n2, alice} {
		checkMode(t, d.CertFile, 0o644)
		checkMode(t, d.KeyFile, 0o600)
	}

	caFile := ca.CertFile
	srvCfg, err := pki.ServerConfig(caFile, n1.CertFile, n1.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan string, 1)
	go serveIdentities(ln, peers)

	for _, tc := range []struct {
		who        certDoc
		serverName string
		want       string
	}{
		{alice, "n1.example", "client alice"},
		{alice, "127.0.0.1", "client alice"},
		{n2, "::1", "node n2"},
	} {
		cliCfg, err := pki.ClientConfig(caFile, tc.who.CertFile, tc.who.KeyFile, tc.serverName)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cliCfg)
		if err != nil {
			t.Fatalf("%s to %s: %s", tc.want, tc.serverName, pki.Explain(err))
		}
		id, err := pki.NodeID(conn.ConnectionState().PeerCertificates[0])
		_ = conn.Close()
		if id != "n1" || err != nil {
			t.Errorf("%s sees node %q, %v", tc.want, id, err)
		}
		if got := <-peers; got != tc.want {
			t.Errorf("the server saw %q, want %q", got, tc.want)
		}
	}

	// A name the node's certificate does not hold is refused.
	cliCfg, err := pki.ClientConfig(caFile, alice.CertFile, alice.KeyFile, "n2.example")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), cliCfg)
	if got := pki.Explain(err); !strings.Contains(got, `not for "n2.example"`) {
		t.Errorf("wrong name: %v: %s", err, got)
	}
	<-peers // the server's side of the refused handshake
}

// serveIdentities accepts connections on ln and reports the identity each
// client's certificate binds ("client NAME" or "node ID"), or the error.
func serveIdentities(ln net.Listener, peers chan<- string) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		tc := conn.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			peers <- "error: " + err.Error()
			_ = tc.Close()
			continue
		}
		peer := tc.ConnectionState().VerifiedChains[0][0]
		if name, err := pki.Principal(peer); err == nil {
			peers <- "client " + name
		} else if id, err := pki.NodeID(peer); err == nil {
			peers <- "node " + id
		} else {
			peers <- "error: " + err.Error()
		}
		_ = tc.Close()
	}
}

// TestCertCommandsRefuseToOverwrite: an existing file is kept, with exit
// 1, unless --force is given.
func TestCertCommandsRefuseToOverwrite(t *testing.T) {
	dir := t.TempDir()
	createCert(t, dir, "create-ca")
	createCert(t, dir, "create-client", "alice")
	for _, args := range [][]string{
		{"create-ca"},
		{"create-client", "alice"},
	} {
		before := readAll(t, dir)
		code, _, stderr := runArgs(t, append([]string{"cert", args[0], "--dir", dir}, args[1:]...)...)
		if code != exitError || !strings.Contains(stderr, "file exists") || !strings.Contains(stderr, "--force") {
			t.Errorf("%v again: exit %d, %q", args, code, stderr)
		}
		if after := readAll(t, dir); !equalFiles(before, after) {
			t.Errorf("%v again changed the files", args)
		}
	}
	before := readAll(t, dir)
	createCert(t, dir, "create-client", "--force", "alice")
	after := readAll(t, dir)
	if bytes.Equal(before["client-alice.crt"], after["client-alice.crt"]) || !bytes.Equal(before["ca.crt"], after["ca.crt"]) {
		t.Errorf("--force did not replace only alice's certificate")
	}
	checkMode(t, filepath.Join(dir, "client-alice.key"), 0o600)
}

// TestCertCommandsNeedTheCA: create-node and create-client without a CA in
// --dir fail (exit 1) saying how to create one.
func TestCertCommandsNeedTheCA(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"cert", "create-node", "--dir", dir, "--addr", "127.0.0.1", "n1"},
		{"cert", "create-client", "--dir", dir, "alice"},
	} {
		code, _, stderr := runArgs(t, args...)
		if code != exitError || !strings.Contains(stderr, "lockctl cert create-ca --dir "+dir) {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
	if files := readAll(t, dir); len(files) != 0 {
		t.Errorf("files written: %v", files)
	}
}

// TestCertBadUsageExitsTwo: bad IDs, hosts and --days exit 2 and write
// nothing.
func TestCertBadUsageExitsTwo(t *testing.T) {
	dir := t.TempDir()
	createCert(t, dir, "create-ca")
	before := readAll(t, dir)
	cases := [][]string{
		{"cert"},
		{"cert", "frobnicate"},
		{"cert", "create-ca", "extra"},
		{"cert", "create-ca", "--days", "0"},
		{"cert", "create-ca", "--days", "-1"},
		{"cert", "create-ca", "--days", "36501"},
		{"cert", "create-ca", "--days", "many"},
		{"cert", "create-node", "--addr", "127.0.0.1"},
		{"cert", "create-node", "--addr", "127.0.0.1", "n1", "n2"},
		{"cert", "create-node", "n1"},
		{"cert", "create-node", "n1", "--addr", "127.0.0.1"},
		{"cert", "create-node", "--addr", "", "n1"},
		{"cert", "create-node", "--addr", "127.0.0.1:7001", "n1"},
		{"cert", "create-node", "--addr", "n1.example:7001", "n1"},
		{"cert", "create-node", "--addr", "bad_host", "n1"},
		{"cert", "create-node", "--addr", "127.0.0.1", "n/1"},
		{"cert", "create-node", "--addr", "127.0.0.1", ""},
		{"cert", "create-node", "--addr", "127.0.0.1", strings.Repeat("n", 65)},
		{"cert", "create-node", "--addr", "127.0.0.1", "--days", "0", "n1"},
		{"cert", "create-node", "--addr", "127.0.0.1", "--days", "4000", "n1"}, // outlasts the CA
		{"cert", "create-client"},
		{"cert", "create-client", "a b"},
		{"cert", "create-client", "alice", "--force"},
		{"cert", "create-client", "--days", "-5", "alice"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := append([]string{args[0]}, args[1:]...)
			if len(args) > 1 && strings.HasPrefix(args[1], "create-") {
				full = append([]string{args[0], args[1], "--dir", dir}, args[2:]...)
			}
			code, _, stderr := runArgs(t, full...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !strings.HasPrefix(stderr, "lockctl: bad usage") {
				t.Errorf("stderr %q does not say bad usage", stderr)
			}
		})
	}
	if after := readAll(t, dir); !equalFiles(before, after) {
		t.Errorf("bad usage wrote files: %v", after)
	}
}

// TestCertTable: the table output names the files and the identity.
func TestCertTable(t *testing.T) {
	dir := t.TempDir()
	code, out, stderr := runArgs(t, "cert", "create-ca", "--dir", dir)
	if code != exitOK || !strings.HasPrefix(out, `created CA "lockd CA `) || !strings.Contains(out, filepath.Join(dir, "ca.key")) {
		t.Fatalf("create-ca: exit %d %q %s", code, out, stderr)
	}
	code, out, stderr = runArgs(t, "cert", "create-node", "--dir", dir, "--addr", "10.0.0.1,N1.Example", "n1")
	if code != exitOK || !strings.HasPrefix(out, "created node certificate n1 (lockd://node/n1) for 10.0.0.1, n1.example, valid until ") ||
		!strings.HasSuffix(out, filepath.Join(dir, "node-n1.crt")+", "+filepath.Join(dir, "node-n1.key")+"\n") {
		t.Fatalf("create-node: exit %d %q %s", code, out, stderr)
	}
}

func checkMode(t *testing.T, file string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != want {
		t.Errorf("%s: mode %v, want %v", file, st.Mode(), want)
	}
}

// readAll returns the files of dir by name.
func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			return false
		}
	}
	return true
}
