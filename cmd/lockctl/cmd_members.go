package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// membersDoc is the JSON of `members list`.
type membersDoc struct {
	Members []memberDoc `json:"members"`
}

type memberDoc struct {
	ID         string `json:"id"`
	PeerAddr   string `json:"peer_addr"`
	ClientAddr string `json:"client_addr"`
	Learner    bool   `json:"learner"`
}

// changeDoc is the JSON of a membership or leadership change.
type changeDoc struct {
	// Action is add, promote, remove or transfer.
	Action string `json:"action"`
	// ID is the member changed ("" for a transfer to the most caught-up
	// voter).
	ID string `json:"id"`
	// Leader is the leader after a transfer ("" for other actions).
	Leader string `json:"leader,omitempty"`
}

func (d changeDoc) table(t *tableWriter) {
	switch d.Action {
	case "transfer":
		t.text("leadership transferred; leader is now %s", orDash(d.Leader))
	case "add":
		t.text("added %s as a learner", d.ID)
	case "promote":
		t.text("promoted %s to voter", d.ID)
	case "remove":
		t.text("removed %s", d.ID)
	}
}

func membersFrom(ms []client.Member) membersDoc {
	doc := membersDoc{Members: []memberDoc{}}
	for _, m := range ms {
		doc.Members = append(doc.Members, memberDoc{ID: m.ID, PeerAddr: m.PeerAddr, ClientAddr: m.ClientAddr, Learner: m.Learner})
	}
	return doc
}

func (d membersDoc) table(t *tableWriter) {
	t.row("ID", "PEER ADDRESS", "CLIENT ADDRESS", "KIND")
	for _, m := range d.Members {
		kind := "voter"
		if m.Learner {
			kind = "learner"
		}
		t.row(m.ID, orDash(m.PeerAddr), orDash(m.ClientAddr), kind)
	}
}

func (l *lockctl) membersCommand() *cli.Command {
	force := &cli.BoolFlag{Name: "force", Usage: "skip the safety check"}
	return &cli.Command{
		Name:  "members",
		Usage: "list and change the cluster's membership",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list members (voters and learners)",
				Action: func(c *cli.Context) error {
					if err := exactArgs(c); err != nil {
						return err
					}
					return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
						ms, err := cl.Members(ctx, l.readOpts()...)
						if err != nil {
							return err
						}
						doc := membersFrom(ms)
						return l.g.out.print(doc, doc.table)
					})
				},
			},
			{
				Name:      "add",
				Usage:     "add a member as a learner (promote it once it caught up)",
				ArgsUsage: "ID PEER_ADDR CLIENT_ADDR",
				Action: func(c *cli.Context) error {
					if err := exactArgs(c, "ID", "PEER_ADDR", "CLIENT_ADDR"); err != nil {
						return err
					}
					id := c.Args().Get(0)
					return l.change(c, changeDoc{Action: "add", ID: id}, func(ctx context.Context, cl *client.Client) error {
						return cl.AddLearner(ctx, id, c.Args().Get(1), c.Args().Get(2))
					})
				},
			},
			l.forcedChange("promote", "make a caught-up learner a voter", force, (*client.Client).Promote),
			l.forcedChange("remove", "remove a member", force, (*client.Client).RemoveMember),
		},
	}
}

// forcedChange is a "members" subcommand that changes one member, ID, by
// calling do, with the safety check skipped under --force.
func (l *lockctl) forcedChange(name, usage string, force cli.Flag,
	do func(cl *client.Client, ctx context.Context, id string, force bool) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "ID",
		Flags:     []cli.Flag{force},
		Action: func(c *cli.Context) error {
			if err := exactArgs(c, "ID"); err != nil {
				return err
			}
			id := c.Args().First()
			return l.change(c, changeDoc{Action: name, ID: id}, func(ctx context.Context, cl *client.Client) error {
				return do(cl, ctx, id, c.Bool("force"))
			})
		},
	}
}

func (l *lockctl) leaderCommand() *cli.Command {
	return &cli.Command{
		Name:  "leader",
		Usage: "operate on the Raft leader",
		Subcommands: []*cli.Command{{
			Name:      "transfer",
			Usage:     "hand leadership to member ID (default: the most caught-up voter)",
			ArgsUsage: "[ID]",
			Action: func(c *cli.Context) error {
				if c.Args().Len() > 1 {
					return usagef("leader transfer: want at most one argument (ID), got %d", c.Args().Len())
				}
				doc := changeDoc{Action: "transfer", ID: c.Args().First()}
				return l.change(c, doc, func(ctx context.Context, cl *client.Client) error {
					if err := cl.TransferLeader(ctx, doc.ID); err != nil {
						return err
					}
					st, err := cl.Status(ctx)
					if err != nil {
						return fmt.Errorf("transferred, but reading the new leader failed: %w", err)
					}
					doc.Leader = st.Leader
					return l.g.out.print(doc, doc.table)
				})
			},
		}},
	}
}

// change runs a membership or leadership change and prints doc. A
// transfer prints its own document (it learns the new leader).
func (l *lockctl) change(c *cli.Context, doc changeDoc, fn func(ctx context.Context, cl *client.Client) error) error {
	return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
		if err := fn(ctx, cl); err != nil {
			return err
		}
		if doc.Action == "transfer" {
			return nil
		}
		return l.g.out.print(doc, doc.table)
	})
}
