package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/internal/pki"
)

// maxCertDays bounds --days (100 years).
const maxCertDays = 36500

// certDoc is the JSON of `cert create-ca|create-node|create-client`.
type certDoc struct {
	// Kind is ca, node or client.
	Kind string `json:"kind"`
	// Name is the node ID, the principal or the CA's Common Name.
	Name string `json:"name"`
	// URI binds the identity: lockd://node/ID, lockd://client/NAME; ""
	// for the CA.
	URI string `json:"uri"`
	// Hosts are a node's IP addresses and DNS names; [] otherwise.
	Hosts     []string `json:"hosts"`
	CertFile  string   `json:"cert_file"`
	KeyFile   string   `json:"key_file"`
	Serial    string   `json:"serial"`
	NotBefore string   `json:"not_before"`
	NotAfter  string   `json:"not_after"`
}

func newCertDoc(kind, name string, kp *pki.KeyPair, certFile, keyFile string) certDoc {
	c := kp.Cert
	d := certDoc{Kind: kind, Name: name, Hosts: []string{}, CertFile: certFile, KeyFile: keyFile,
		Serial: c.SerialNumber.Text(16), NotBefore: timestamp(c.NotBefore), NotAfter: timestamp(c.NotAfter)}
	if len(c.URIs) == 1 {
		d.URI = c.URIs[0].String()
	}
	for _, ip := range c.IPAddresses {
		d.Hosts = append(d.Hosts, ip.String())
	}
	d.Hosts = append(d.Hosts, c.DNSNames...)
	return d
}

func (d certDoc) table(t *tableWriter) {
	until := d.NotAfter
	switch d.Kind {
	case "ca":
		t.text("created CA %q, valid until %s: %s, %s", d.Name, until, d.CertFile, d.KeyFile)
	case "node":
		t.text("created node certificate %s (%s) for %s, valid until %s: %s, %s",
			d.Name, d.URI, strings.Join(d.Hosts, ", "), until, d.CertFile, d.KeyFile)
	default:
		t.text("created client certificate %s (%s), valid until %s: %s, %s", d.Name, d.URI, until, d.CertFile, d.KeyFile)
	}
}

func (l *lockctl) certCommand() *cli.Command {
	dir := &cli.StringFlag{Name: "dir", Value: ".", Usage: "directory of the CA and of the files created"}
	force := &cli.BoolFlag{Name: "force", Usage: "overwrite existing files"}
	days := func(def int) *cli.IntFlag {
		return &cli.IntFlag{Name: "days", Value: def, Usage: "days the certificate is valid, from now"}
	}
	return &cli.Command{
		Name:  "cert",
		Usage: "create the CA and the certificates of nodes and clients (no cluster needed)",
		Description: "Writes PEM files into --dir: ca.crt and ca.key, node-ID.crt and node-ID.key,\n" +
			"client-NAME.crt and client-NAME.key. Keys are mode 0600, certificates 0644;\n" +
			"existing files are kept unless --force is given. create-node and create-client\n" +
			"sign with the CA in --dir.",
		Subcommands: []*cli.Command{
			{
				Name:  "create-ca",
				Usage: "create a CA: ca.crt and ca.key",
				Flags: []cli.Flag{dir, days(3650), force},
				Action: func(c *cli.Context) error {
					if err := exactArgs(c); err != nil {
						return err
					}
					opts, err := certOptions(c)
					if err != nil {
						return err
					}
					if err := os.MkdirAll(c.String("dir"), 0o700); err != nil {
						return err
					}
					ca, err := pki.NewCA(opts)
					if err != nil {
						return certUsage(err)
					}
					certFile, keyFile := certDir(c.String("dir")).paths(pki.CACertFile, pki.CAKeyFile)
					if err := writeCert(c, &ca.KeyPair, certFile, keyFile); err != nil {
						return err
					}
					doc := newCertDoc("ca", ca.Cert.Subject.CommonName, &ca.KeyPair, certFile, keyFile)
					return l.g.out.print(doc, doc.table)
				},
			},
			{
				Name:      "create-node",
				Usage:     "create node ID's certificate, signed by the CA: node-ID.crt and node-ID.key",
				ArgsUsage: "ID",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "addr",
						Usage: "host names and IP addresses the node is reached at (comma-separated or repeated; required)"},
					dir, days(365), force,
				},
				Action: func(c *cli.Context) error {
					id, err := certName(c, "ID")
					if err != nil {
						return err
					}
					hosts, err := pki.ParseHosts(c.StringSlice("addr"))
					if err != nil {
						return certUsage(err)
					}
					opts, err := certOptions(c)
					if err != nil {
						return err
					}
					ca, err := loadCA(c)
					if err != nil {
						return err
					}
					kp, err := ca.IssueNode(id, hosts, opts)
					if err != nil {
						return certUsage(err)
					}
					certFile, keyFile := certDir(c.String("dir")).paths(pki.NodeFiles(id))
					if err := writeCert(c, kp, certFile, keyFile); err != nil {
						return err
					}
					doc := newCertDoc("node", id, kp, certFile, keyFile)
					return l.g.out.print(doc, doc.table)
				},
			},
			{
				Name:      "create-client",
				Usage:     "create principal NAME's client certificate, signed by the CA: client-NAME.crt and client-NAME.key",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{dir, days(365), force},
				Action: func(c *cli.Context) error {
					name, err := certName(c, "NAME")
					if err != nil {
						return err
					}
					opts, err := certOptions(c)
					if err != nil {
						return err
					}
					ca, err := loadCA(c)
					if err != nil {
						return err
					}
					kp, err := ca.IssueClient(name, opts)
					if err != nil {
						return certUsage(err)
					}
					certFile, keyFile := certDir(c.String("dir")).paths(pki.ClientFiles(name))
					if err := writeCert(c, kp, certFile, keyFile); err != nil {
						return err
					}
					doc := newCertDoc("client", name, kp, certFile, keyFile)
					return l.g.out.print(doc, doc.table)
				},
			},
		},
	}
}

// certName returns the one positional argument, a valid node ID or
// principal.
func certName(c *cli.Context, what string) (string, error) {
	args := c.Args().Slice()
	for _, a := range args[min(1, len(args)):] {
		if strings.HasPrefix(a, "-") {
			return "", usagef("%s: options go before %s (%q came after it)", c.Command.HelpName, what, a)
		}
	}
	if err := exactArgs(c, what); err != nil {
		return "", err
	}
	name := c.Args().First()
	if err := pki.CheckName(name); err != nil {
		return "", certUsage(err)
	}
	return name, nil
}

// certOptions checks --days.
func certOptions(c *cli.Context) (pki.Options, error) {
	days := c.Int("days")
	if days <= 0 || days > maxCertDays {
		return pki.Options{}, usagef("--days must be from 1 to %d, not %d", maxCertDays, days)
	}
	return pki.Options{Validity: time.Duration(days) * 24 * time.Hour}, nil
}

// certUsage makes an error about the names, hosts or validity asked for
// a usage error.
func certUsage(err error) error {
	if errors.Is(err, pki.ErrInvalidName) || errors.Is(err, pki.ErrInvalidHost) ||
		errors.Is(err, pki.ErrNoHosts) || errors.Is(err, pki.ErrInvalidValidity) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}

// certDir is the --dir of the cert commands.
type certDir string

// paths returns the paths of a certificate and a key file in d.
func (d certDir) paths(cert, key string) (string, string) {
	return filepath.Join(string(d), cert), filepath.Join(string(d), key)
}

// loadCA loads the CA of --dir.
func loadCA(c *cli.Context) (*pki.CA, error) {
	certFile, keyFile := certDir(c.String("dir")).paths(pki.CACertFile, pki.CAKeyFile)
	ca, err := pki.LoadCA(certFile, keyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no CA in %s (%s, %s): create one with 'lockctl cert create-ca --dir %s': %w",
			c.String("dir"), pki.CACertFile, pki.CAKeyFile, c.String("dir"), err)
	}
	return ca, err
}

// writeCert writes a certificate and its key, refusing to replace either
// without --force.
func writeCert(c *cli.Context, kp *pki.KeyPair, certFile, keyFile string) error {
	mode := pki.CreateOnly
	if c.Bool("force") {
		mode = pki.Overwrite
	}
	err := kp.WriteFiles(certFile, keyFile, mode)
	if errors.Is(err, pki.ErrExists) {
		return fmt.Errorf("%w (use --force to replace it)", err)
	}
	return err
}
