package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// sessionDoc is the JSON of one session (`sessions show`, and each item
// of `sessions list`).
type sessionDoc struct {
	ID         uint64  `json:"id"`
	TTLSeconds float64 `json:"ttl_seconds"`
	OpenedAt   string  `json:"opened_at"`
	AgeSeconds float64 `json:"age_seconds"`
	// Owner is the principal that opened the session, "" without
	// authentication.
	Owner   string   `json:"owner"`
	Held    []string `json:"held"`
	Waiting []string `json:"waiting"`
}

type sessionsDoc struct {
	Sessions []sessionDoc `json:"sessions"`
}

// lockDoc is the JSON of one lock (`locks show`, and each item of
// `locks list`).
type lockDoc struct {
	Name     string `json:"name"`
	Revision uint64 `json:"revision"`
	// DelayUntil is the end of a lock-delay after a holder expired; ""
	// if none.
	DelayUntil string      `json:"delay_until"`
	Holders    []holderDoc `json:"holders"`
	Waiters    []waiterDoc `json:"waiters"`
}

type holderDoc struct {
	SessionID uint64 `json:"session_id"`
	Mode      string `json:"mode"`
	Token     uint64 `json:"token"`
	// Value is the holder's value as text (invalid UTF-8 replaced);
	// ValueBase64 is its exact bytes.
	Value       string  `json:"value"`
	ValueBase64 string  `json:"value_base64"`
	AcquiredAt  string  `json:"acquired_at"`
	AgeSeconds  float64 `json:"age_seconds"`
}

type waiterDoc struct {
	// Position is the place in the FIFO queue, from 1.
	Position   int     `json:"position"`
	SessionID  uint64  `json:"session_id"`
	Mode       string  `json:"mode"`
	QueuedAt   string  `json:"queued_at"`
	AgeSeconds float64 `json:"age_seconds"`
}

type locksDoc struct {
	Locks []lockDoc `json:"locks"`
}

func sessionFrom(s client.SessionInfo, now time.Time) sessionDoc {
	return sessionDoc{
		ID: s.ID, TTLSeconds: seconds(s.TTL), OpenedAt: timestamp(s.OpenedAt),
		AgeSeconds: seconds(since(now, s.OpenedAt)), Owner: s.Owner,
		Held: nonNil(s.Held), Waiting: nonNil(s.Waiting),
	}
}

func lockFrom(in client.LockInfo, now time.Time) lockDoc {
	d := lockDoc{Name: in.Name, Revision: in.Revision, DelayUntil: timestamp(in.DelayUntil),
		Holders: []holderDoc{}, Waiters: []waiterDoc{}}
	for _, h := range in.Holders {
		d.Holders = append(d.Holders, holderDoc{
			SessionID: h.Session, Mode: h.Mode.String(), Token: h.Token,
			Value: strings.ToValidUTF8(string(h.Value), "\uFFFD"), ValueBase64: base64.StdEncoding.EncodeToString(h.Value),
			AcquiredAt: timestamp(h.AcquiredAt), AgeSeconds: seconds(since(now, h.AcquiredAt)),
		})
	}
	for i, w := range in.Waiters {
		d.Waiters = append(d.Waiters, waiterDoc{
			Position: i + 1, SessionID: w.Session, Mode: w.Mode.String(),
			QueuedAt: timestamp(w.QueuedAt), AgeSeconds: seconds(since(now, w.QueuedAt)),
		})
	}
	return d
}

// free reports whether nobody holds or waits for the lock and no
// lock-delay keeps it: the cluster has no record of it.
func (d lockDoc) free() bool {
	return len(d.Holders) == 0 && len(d.Waiters) == 0 && d.DelayUntil == ""
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// showValue is a holder's value for a table: quoted when it is not plain
// printable text, shortened when long.
func showValue(v string) string {
	const maxLen = 40
	if v == "" {
		return "-"
	}
	if utf8.RuneCountInString(v) > maxLen {
		v = string([]rune(v)[:maxLen]) + "…"
	}
	if strconv.Quote(v) != `"`+v+`"` || strings.ContainsAny(v, " \t") {
		return strconv.Quote(v)
	}
	return v
}

func (d sessionsDoc) table(t *tableWriter, now time.Time) {
	t.row("ID", "OWNER", "TTL", "AGE", "HELD", "WAITING")
	for _, s := range d.Sessions {
		t.row(s.ID, orDash(s.Owner), time.Duration(s.TTLSeconds*float64(time.Second)), ageSeconds(s.AgeSeconds),
			orDash(strings.Join(s.Held, ",")), orDash(strings.Join(s.Waiting, ",")))
	}
}

func (s sessionDoc) table(t *tableWriter) {
	t.row("ID:", s.ID)
	t.row("OWNER:", orDash(s.Owner))
	t.row("TTL:", time.Duration(s.TTLSeconds*float64(time.Second)))
	t.row("OPENED:", orDash(s.OpenedAt)+" ("+ageSeconds(s.AgeSeconds)+" ago)")
	t.row("HELD:", orDash(strings.Join(s.Held, ", ")))
	t.row("WAITING:", orDash(strings.Join(s.Waiting, ", ")))
}

func (d locksDoc) table(t *tableWriter) {
	// HOLDER SESSIONS lists the holders' session IDs; TOKEN, VALUE and AGE
	// are the first holder's; WAITERS counts the queue.
	t.row("NAME", "MODE", "HOLDER SESSIONS", "TOKEN", "VALUE", "AGE", "WAITERS")
	for _, l := range d.Locks {
		mode, holders, token, value, ageS := "-", "-", "-", "-", "-"
		if len(l.Holders) > 0 {
			h := l.Holders[0]
			ids := make([]string, len(l.Holders))
			for i, h := range l.Holders {
				ids[i] = formatUint(h.SessionID)
			}
			mode, holders, token, value, ageS = h.Mode, strings.Join(ids, ","), formatUint(h.Token), showValue(h.Value), ageSeconds(h.AgeSeconds)
		} else if l.DelayUntil != "" {
			mode = "delayed"
		}
		t.row(l.Name, mode, holders, token, value, ageS, len(l.Waiters))
	}
}

func (l lockDoc) table(t *tableWriter) {
	t.text("LOCK %s (revision %d)", l.Name, l.Revision)
	if l.DelayUntil != "" {
		t.text("lock-delay until %s", l.DelayUntil)
	}
	t.row("", "SESSION", "MODE", "TOKEN", "VALUE", "SINCE")
	if len(l.Holders) == 0 {
		t.row("holder", "-", "-", "-", "-", "-")
	}
	for _, h := range l.Holders {
		t.row("holder", h.SessionID, h.Mode, h.Token, showValue(h.Value), ageSeconds(h.AgeSeconds)+" ago")
	}
	for _, w := range l.Waiters {
		t.row(fmt.Sprintf("waiter %d", w.Position), w.SessionID, w.Mode, "-", "-", ageSeconds(w.AgeSeconds)+" ago")
	}
}

// ageSeconds formats an age in seconds for people.
func ageSeconds(s float64) string {
	return age(time.Unix(0, 0).Add(time.Duration(s*float64(time.Second))), time.Unix(0, 0))
}

func (l *lockctl) sessionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "sessions",
		Usage: "inspect open sessions",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list open sessions with the locks they hold and wait for",
				Action: func(c *cli.Context) error {
					if err := exactArgs(c); err != nil {
						return err
					}
					return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
						ss, err := cl.ListSessions(ctx, l.readOpts()...)
						if err != nil {
							return err
						}
						now := time.Now()
						doc := sessionsDoc{Sessions: []sessionDoc{}}
						for _, s := range ss {
							doc.Sessions = append(doc.Sessions, sessionFrom(s, now))
						}
						return l.g.out.print(doc, func(t *tableWriter) { doc.table(t, now) })
					})
				},
			},
			{
				Name:      "show",
				Usage:     "describe one session (exit 6 if it is not open)",
				ArgsUsage: "ID",
				Action: func(c *cli.Context) error {
					if err := exactArgs(c, "ID"); err != nil {
						return err
					}
					id, err := strconv.ParseUint(c.Args().First(), 10, 64)
					if err != nil {
						return usagef("session ID %q is not a number", c.Args().First())
					}
					return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
						s, err := cl.GetSession(ctx, id, l.readOpts()...)
						if err != nil {
							return err
						}
						doc := sessionFrom(s, time.Now())
						return l.g.out.print(doc, doc.table)
					})
				},
			},
		},
	}
}

func (l *lockctl) locksCommand() *cli.Command {
	return &cli.Command{
		Name:  "locks",
		Usage: "inspect locks",
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list locks (whose names start with PREFIX)",
				ArgsUsage: "[PREFIX]",
				Action: func(c *cli.Context) error {
					if c.Args().Len() > 1 {
						return usagef("locks list: want at most one argument (PREFIX), got %d", c.Args().Len())
					}
					return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
						ls, err := cl.ListLocks(ctx, c.Args().First(), l.readOpts()...)
						if err != nil {
							return err
						}
						now := time.Now()
						doc := locksDoc{Locks: []lockDoc{}}
						for _, in := range ls {
							doc.Locks = append(doc.Locks, lockFrom(in, now))
						}
						return l.g.out.print(doc, doc.table)
					})
				},
			},
			{
				Name:      "show",
				Usage:     "show a lock's holders and its waiters in queue order (exit 6 if nobody holds or waits for it)",
				ArgsUsage: "NAME",
				Action: func(c *cli.Context) error {
					if err := exactArgs(c, "NAME"); err != nil {
						return err
					}
					name := c.Args().First()
					return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
						in, err := cl.GetLock(ctx, name, l.readOpts()...)
						if err != nil {
							return err
						}
						doc := lockFrom(in, time.Now())
						if doc.free() {
							return fmt.Errorf("%w: lock %q: nobody holds or waits for it", errNotFound, name)
						}
						return l.g.out.print(doc, doc.table)
					})
				},
			},
		},
	}
}
