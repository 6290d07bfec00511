package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// tlsFlags are the global options that give lockctl the cluster's CA and
// a client certificate, for a cluster with mutual TLS.
func tlsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cacert", EnvVars: []string{"LOCKD_CACERT"},
			Usage: "the cluster's CA certificate (PEM) to check the servers' certificates against"},
		&cli.StringFlag{Name: "cert", EnvVars: []string{"LOCKD_CERT"},
			Usage: "this client's certificate (PEM), which names its principal; with --cacert and --key"},
		&cli.StringFlag{Name: "key", EnvVars: []string{"LOCKD_KEY"},
			Usage: "the private key (PEM) of --cert"},
	}
}

// tlsFiles are the files of --cacert, --cert and --key: all three, or
// none (then lockctl connects without TLS).
type tlsFiles struct {
	ca, cert, key string
}

func (f tlsFiles) set() bool { return f.ca != "" }

// parseTLSFiles reads the TLS options; some but not all of them is bad
// usage.
func parseTLSFiles(c *cli.Context) (tlsFiles, error) {
	f := tlsFiles{ca: c.String("cacert"), cert: c.String("cert"), key: c.String("key")}
	var missing []string
	for _, o := range []struct{ name, env, v string }{
		{"--cacert", "LOCKD_CACERT", f.ca}, {"--cert", "LOCKD_CERT", f.cert}, {"--key", "LOCKD_KEY", f.key},
	} {
		if o.v == "" {
			missing = append(missing, fmt.Sprintf("%s (or %s)", o.name, o.env))
		}
	}
	if len(missing) == 0 || len(missing) == 3 {
		return f, nil
	}
	return tlsFiles{}, usagef("TLS needs all of --cacert, --cert and --key (or LOCKD_CACERT, LOCKD_CERT, LOCKD_KEY); missing %v", missing)
}

// load builds the client's TLS configuration, nil without files. A file
// that cannot be used is a certificate problem (exit 8).
func (f tlsFiles) load() (*tls.Config, error) {
	if !f.set() {
		return nil, nil
	}
	return client.LoadTLS(f.ca, f.cert, f.key)
}

// tlsProblem reports whether err is a certificate or TLS problem (exit
// 8): files that LoadTLS could not use, or a certificate refused by
// either side, or TLS on one side only.
func tlsProblem(err error) bool {
	return errors.Is(err, client.ErrTLSFiles) || errors.Is(err, client.ErrTLS)
}

// tlsHint tells, after err, how to give lockctl certificates when the
// cluster asked for TLS and lockctl had none.
func tlsHint(w io.Writer, err error, f tlsFiles) {
	var te *client.TLSError
	if f.set() || !errors.As(err, &te) || te.Party != client.TLSMismatch {
		return
	}
	fmt.Fprintln(w, "lockctl: the cluster uses TLS: give lockctl its CA and a client certificate with "+
		"--cacert ca.crt --cert client-NAME.crt --key client-NAME.key (or LOCKD_CACERT, LOCKD_CERT, LOCKD_KEY); "+
		"`lockctl cert create-client NAME` makes one")
}
