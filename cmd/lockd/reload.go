package main

import (
	"context"
	"crypto/sha256"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/internal/pki"
)

// Results of a certificate reload, the values of the result label of
// lockd_tls_reloads_total.
const (
	reloadOK     = "ok"
	reloadFailed = "error"
)

// certWatcher reloads one node's certificate files when asked (SIGHUP)
// and when they change (polled). A failed reload keeps the certificate in
// use and logs why. It only reloads: handshakes read the Reloader.
type certWatcher struct {
	certs   *pki.Reloader
	files   pki.Files
	logger  hclog.Logger
	reloads *prometheus.CounterVec
	// seen is the digest of the files at the last reload attempt (or at
	// the start), so that the poll retries only files that changed
	// since, and logs a failure once, not at every poll.
	seen [sha256.Size]byte
}

// newCertWatcher registers the TLS metrics on reg: the reloads by result
// and the expiry of the certificate in use.
func newCertWatcher(certs *pki.Reloader, files pki.Files, reg prometheus.Registerer, logger hclog.Logger) *certWatcher {
	w := &certWatcher{
		certs:  certs,
		files:  files,
		logger: logger,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lockd_tls_reloads_total",
			Help: "Reloads of the node's certificate files (SIGHUP or a change seen by the poll), by result: ok, or error (the previous certificate stays).",
		}, []string{"result"}),
		seen: digestFiles(files),
	}
	w.reloads.WithLabelValues(reloadOK)
	w.reloads.WithLabelValues(reloadFailed)
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "lockd_tls_certificate_expiry_timestamp_seconds",
		Help: "When the node certificate in use expires, in Unix seconds.",
	}, func() float64 { return float64(certs.Leaf().NotAfter.Unix()) })
	reg.MustRegister(w.reloads, expiry)
	return w
}

// reload reads the files again now. why is logged ("SIGHUP", "changed").
func (w *certWatcher) reload(why string) {
	w.seen = digestFiles(w.files)
	old := w.certs.Leaf()
	if err := w.certs.Reload(); err != nil {
		w.reloads.WithLabelValues(reloadFailed).Inc()
		w.logger.Error("certificate reload failed; the current certificate stays in use",
			"trigger", why, "error", err, "current_serial", old.SerialNumber.Text(16),
			"current_not_after", old.NotAfter.UTC().Format(time.RFC3339))
		return
	}
	w.reloads.WithLabelValues(reloadOK).Inc()
	leaf := w.certs.Leaf()
	w.logger.Info("certificates reloaded", "trigger", why, "cert", w.files.Cert,
		"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"changed", leaf.SerialNumber.Cmp(old.SerialNumber) != 0)
}

// poll reloads if the files changed since the last attempt.
func (w *certWatcher) poll() {
	if digestFiles(w.files) != w.seen {
		w.reload("changed")
	}
}

// digestFiles digests the contents of the three files. A file that
// cannot be read counts as its error, so that its return is a change.
func digestFiles(f pki.Files) [sha256.Size]byte {
	h := sha256.New()
	for _, name := range []string{f.CA, f.Cert, f.Key} {
		b, err := os.ReadFile(name)
		if err != nil {
			b = []byte("error: " + err.Error())
		}
		var n [8]byte
		for i := range n {
			n[i] = byte(len(b) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(b)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// watchCerts reloads every watcher on a value from hup, and polls each
// every interval (0: never), until ctx is done. All reloads happen on
// this one goroutine.
func watchCerts(ctx context.Context, ws []*certWatcher, hup <-chan os.Signal, interval time.Duration) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			for _, w := range ws {
				w.reload("SIGHUP")
			}
		case <-tick:
			for _, w := range ws {
				w.poll()
			}
		}
	}
}
