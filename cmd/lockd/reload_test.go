package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/internal/syncbuf"
)

// servedSerial is the serial number of the certificate a new TLS
// handshake with addr is shown, or why there is none.
func (d *certDir) servedSerial(addr string) (*big.Int, error) {
	kp, err := d.ca.IssueClient("probe", pki.Options{})
	if err != nil {
		return nil, err
	}
	dialer := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: d.pool(), ServerName: "127.0.0.1",
		Certificates: []tls.Certificate{kp.TLSCertificate()}}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// issueNode writes a new certificate of node id over its files and
// returns it.
func (d *certDir) issueNode(id string) *pki.KeyPair {
	d.t.Helper()
	kp, err := d.ca.IssueNode(id, []string{"127.0.0.1"}, pki.Options{})
	if err != nil {
		d.t.Fatal(err)
	}
	cert, key := pki.NodeFiles(id)
	if err := kp.WriteFiles(d.path(cert), d.path(key), pki.Overwrite); err != nil {
		d.t.Fatal(err)
	}
	return kp
}

func (d *certDir) nodeFiles(id string) pki.Files {
	cert, key := pki.NodeFiles(id)
	return pki.Files{CA: d.path(pki.CACertFile), Cert: d.path(cert), Key: d.path(key)}
}

// metricValue reads one sample of the node's /metrics, e.g.
// `lockd_tls_reloads_total{result="ok"}`.
func metricValue(httpAddr, sample string) (float64, error) {
	code, body, err := httpGet("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("/metrics: %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no sample %s", sample)
}

// writeAtomic replaces file by a complete new one (rename), so that the
// poll sees the old content or the new, never a partial file.
func writeAtomic(t *testing.T, file string, b []byte) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

func waitServed(t *testing.T, d *certDir, addr string, want *big.Int) {
	t.Helper()
	waitUntil(t, startTimeout, "the certificate "+want.Text(16)+" served at "+addr, func() (bool, string) {
		got, err := d.servedSerial(addr)
		if err != nil {
			return false, err.Error()
		}
		return got.Cmp(want) == 0, "serves " + got.Text(16)
	})
}

// waitMetric waits until the sample is want, or at least want with
// atLeast.
func waitMetric(t *testing.T, httpAddr, sample string, want float64, atLeast bool) {
	t.Helper()
	waitUntil(t, startTimeout, sample+" = "+strconv.FormatFloat(want, 'f', -1, 64), func() (bool, string) {
		v, err := metricValue(httpAddr, sample)
		if err != nil {
			return false, err.Error()
		}
		return v == want || atLeast && v > want, fmt.Sprint(v)
	})
}

// TestChangedCertificatesAreReloadedByThePoll runs a TLS node that polls
// its files every 20ms: a new certificate of the CA is served by the next
// handshakes and counted as ok; a key that does not match, or the
// certificate of another node, is refused and counted as an error, and
// the certificate in use stays.
func TestChangedCertificatesAreReloadedByThePoll(t *testing.T) {
	certs := newCertDir(t)
	a := freeAddrs(t, 3)
	stop, stderr := runAsync(append([]string{"lockd", "--id", "n1", "--data-dir", filepath.Join(t.TempDir(), "n1"),
		"--initial-cluster", "n1=" + a[0], "--client-addr", a[1], "--http-addr", a[2],
		"--tls-reload-interval", "20ms"}, certs.node("n1", pki.Options{})...))
	defer stop()
	waitUntil(t, startTimeout, "n1 /readyz", func() (bool, string) { return readyz(a[2]) })
	first, err := pki.LoadCertificates(certs.nodeFiles("n1").Cert)
	if err != nil {
		t.Fatal(err)
	}
	waitServed(t, certs, a[1], first[0].SerialNumber)

	next := certs.issueNode("n1")
	waitServed(t, certs, a[1], next.Cert.SerialNumber)
	waitServed(t, certs, a[0], next.Cert.SerialNumber) // the peer port too
	waitMetric(t, a[2], `lockd_tls_reloads_total{result="ok"}`, 1, false)
	waitMetric(t, a[2], `lockd_tls_certificate_expiry_timestamp_seconds`, float64(next.Cert.NotAfter.Unix()), false)

	// A key that is not the certificate's.
	stray, err := certs.ca.IssueNode("n1", []string{"127.0.0.1"}, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := stray.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	// The poll may have seen the new certificate before its key above: a
	// refusal counted already.
	errs, err := metricValue(a[2], `lockd_tls_reloads_total{result="error"}`)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, certs.nodeFiles("n1").Key, keyPEM)
	waitMetric(t, a[2], `lockd_tls_reloads_total{result="error"}`, errs+1, true)
	if got, err := certs.servedSerial(a[1]); err != nil || got.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("after a failed reload the node serves %v (%v), want %v", got, err, next.Cert.SerialNumber)
	}
	if !strings.Contains(stderr.String(), "certificate reload failed; the current certificate stays in use") {
		t.Fatalf("the failed reload is not logged:\n%s", stderr.String())
	}

	// A valid certificate of the CA, but of another node.
	other := certs.issueNode("n2")
	for name, src := range map[string]string{"cert": certs.nodeFiles("n2").Cert, "key": certs.nodeFiles("n2").Key} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := certs.nodeFiles("n1").Cert
		if name == "key" {
			dst = certs.nodeFiles("n1").Key
		}
		writeAtomic(t, dst, b)
	}
	// The poll may see the certificate before the key: one or two
	// refusals.
	waitMetric(t, a[2], `lockd_tls_reloads_total{result="error"}`, errs+2, true)
	if got, err := certs.servedSerial(a[1]); err != nil || got.Cmp(next.Cert.SerialNumber) != 0 || got.Cmp(other.Cert.SerialNumber) == 0 {
		t.Fatalf("after n2's certificate the node serves %v (%v), want %v", got, err, next.Cert.SerialNumber)
	}
	if v, err := metricValue(a[2], `lockd_tls_reloads_total{result="ok"}`); err != nil || v != 1 {
		t.Fatalf("ok reloads %v (%v), want still 1", v, err)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

// TestPollRetriesOnlyChangedFiles: files that failed to load are not
// reloaded (nor logged) again until they change.
func TestPollRetriesOnlyChangedFiles(t *testing.T) {
	certs := newCertDir(t)
	certs.node("n1", pki.Options{})
	files := certs.nodeFiles("n1")
	r, err := pki.NewReloader(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	reg := prometheus.NewRegistry()
	w := newCertWatcher(r, files, reg, hclog.New(&hclog.LoggerOptions{Output: logs}))
	count := func(result string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if mf.GetName() == "lockd_tls_reloads_total" && m.GetLabel()[0].GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
		t.Fatalf("no lockd_tls_reloads_total{result=%q}", result)
		return 0
	}
	w.poll()
	if count(reloadOK)+count(reloadFailed) != 0 {
		t.Fatal("unchanged files were reloaded")
	}
	if err := os.WriteFile(files.Cert, []byte("not PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.poll()
	}
	if count(reloadFailed) != 1 || strings.Count(logs.String(), "certificate reload failed") != 1 {
		t.Fatalf("three polls of one bad file: %v errors, log:\n%s", count(reloadFailed), logs.String())
	}
	next := certs.issueNode("n1")
	w.poll()
	if count(reloadOK) != 1 || r.Leaf().SerialNumber.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("the repaired files were not reloaded: %v ok", count(reloadOK))
	}
	// A SIGHUP reloads even unchanged files.
	w.reload("SIGHUP")
	if count(reloadOK) != 2 {
		t.Fatalf("SIGHUP: %v ok", count(reloadOK))
	}
}

// TestSIGHUPReloadsCertificates runs the lockd binary with the poll off:
// a new certificate is served after SIGHUP, and the process keeps
// running.
func TestSIGHUPReloadsCertificates(t *testing.T) {
	bin := lockdBinary(t)
	certs := newCertDir(t)
	a := freeAddrs(t, 3)
	p := startProc(t, "n1", bin, append([]string{"--id", "n1", "--data-dir", filepath.Join(t.TempDir(), "n1"),
		"--initial-cluster", "n1=" + a[0], "--client-addr", a[1], "--http-addr", a[2],
		"--tls-reload-interval", "0"}, certs.node("n1", pki.Options{})...), nil, nil)
	waitUntil(t, startTimeout, "n1 /readyz", func() (bool, string) { return readyz(a[2]) })
	next := certs.issueNode("n1")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitServed(t, certs, a[1], next.Cert.SerialNumber)
	waitMetric(t, a[2], `lockd_tls_reloads_total{result="ok"}`, 1, false)
	if p.exited() {
		t.Fatal("lockd exited on SIGHUP")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, stopTimeout); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}
