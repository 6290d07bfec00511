package main

import (
	"context"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// aclDoc is the JSON of `acl list`.
type aclDoc struct {
	// Caller is the principal lockctl acts for ("" without TLS).
	Caller string     `json:"caller"`
	Grants []grantDoc `json:"grants"`
}

type grantDoc struct {
	Principal  string `json:"principal"`
	Permission string `json:"permission"`
	Prefix     string `json:"prefix"`
}

func (d aclDoc) table(t *tableWriter) {
	t.row("PRINCIPAL", "PERMISSION", "PREFIX")
	for _, g := range d.Grants {
		prefix := g.Prefix
		if prefix == "" {
			prefix = "(all)"
		}
		t.row(g.Principal, g.Permission, prefix)
	}
}

// aclChangeDoc is the JSON of `acl grant` and `acl revoke`.
type aclChangeDoc struct {
	// Action is grant or revoke.
	Action string   `json:"action"`
	Grant  grantDoc `json:"grant"`
	// Changed is false when the policy already had (grant) or lacked
	// (revoke) the grant.
	Changed bool `json:"changed"`
}

func (d aclChangeDoc) table(t *tableWriter) {
	what := d.Grant.Permission
	if d.Grant.Prefix != "" {
		what += " on " + d.Grant.Prefix + "*"
	}
	switch {
	case d.Action == "grant" && d.Changed:
		t.text("granted %s to %s", what, d.Grant.Principal)
	case d.Action == "grant":
		t.text("%s already had %s", d.Grant.Principal, what)
	case d.Changed:
		t.text("revoked %s from %s", what, d.Grant.Principal)
	default:
		t.text("%s did not have %s", d.Grant.Principal, what)
	}
}

var permissions = []string{client.PermissionLock, client.PermissionRead, client.PermissionObserve, client.PermissionAdmin}

func (l *lockctl) aclCommand() *cli.Command {
	return &cli.Command{
		Name:  "acl",
		Usage: "list and change who may do what (clusters with TLS)",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list the grants (an administrator sees all, others their own and those to *)",
				Action: func(c *cli.Context) error {
					if err := exactArgs(c); err != nil {
						return err
					}
					return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
						p, err := cl.Policy(ctx, l.readOpts()...)
						if err != nil {
							return err
						}
						doc := aclDoc{Caller: p.Caller, Grants: []grantDoc{}}
						for _, g := range p.Grants {
							doc.Grants = append(doc.Grants, grantDoc(g))
						}
						return l.g.out.print(doc, doc.table)
					})
				},
			},
			l.aclChange("grant", "allow PRINCIPAL (* for everyone) PERMISSION (lock, read, observe, admin) on the locks under PREFIX",
				(*client.Client).GrantPermission),
			l.aclChange("revoke", "remove a grant made with acl grant", (*client.Client).RevokePermission),
		},
	}
}

// aclChange is `acl grant` or `acl revoke`.
func (l *lockctl) aclChange(name, usage string, do func(cl *client.Client, ctx context.Context, g client.Grant) (bool, error)) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "PRINCIPAL PERMISSION [PREFIX]",
		Action: func(c *cli.Context) error {
			n := c.Args().Len()
			if n < 2 || n > 3 {
				return usagef("acl %s: want PRINCIPAL PERMISSION [PREFIX], got %d argument(s)", name, n)
			}
			g := client.Grant{Principal: c.Args().Get(0), Permission: c.Args().Get(1), Prefix: c.Args().Get(2)}
			if !slices.Contains(permissions, g.Permission) {
				return usagef("acl %s: unknown permission %q (want lock, read, observe or admin)", name, g.Permission)
			}
			if g.Permission == client.PermissionAdmin && g.Prefix != "" {
				return usagef("acl %s: admin applies to the whole cluster and takes no PREFIX", name)
			}
			return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
				changed, err := do(cl, ctx, g)
				if err != nil {
					return err
				}
				doc := aclChangeDoc{Action: name, Grant: grantDoc(g), Changed: changed}
				return l.g.out.print(doc, doc.table)
			})
		},
	}
}
