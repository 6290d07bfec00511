package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// topDoc is one frame of `top`: the whole cluster, as the web page at a
// node's HTTP / shows it.
type topDoc struct {
	Time     string      `json:"time"`
	Status   statusDoc   `json:"status"`
	Sessions topSessions `json:"sessions"`
	Locks    topLocks    `json:"locks"`
}

// topSessions counts sessions by state and lists the first --limit.
type topSessions struct {
	Total   int `json:"total"`
	Holding int `json:"holding"`
	Waiting int `json:"waiting"`
	Idle    int `json:"idle"`
	// ByOwner counts sessions per owner; absent when none has one.
	ByOwner map[string]int `json:"by_owner,omitempty"`
	List    []sessionDoc   `json:"list"`
	Error   string         `json:"error,omitempty"`
}

// topLocks counts locks and waiters and lists the first --limit locks,
// those held or waited for first.
type topLocks struct {
	Total   int       `json:"total"`
	Held    int       `json:"held"`
	Delayed int       `json:"delayed"`
	Waiters int       `json:"waiters"`
	List    []lockDoc `json:"list"`
	Error   string    `json:"error,omitempty"`
}

// clearScreen moves the cursor home and clears a terminal.
const clearScreen = "\x1b[H\x1b[2J"

func (l *lockctl) topCommand() *cli.Command {
	return &cli.Command{
		Name:  "top",
		Usage: "show the whole cluster, refreshed: members, sessions, locks and their queues",
		Description: "Shows what a node's web page shows: every member's role, term, indexes, lag\n" +
			"and errors; sessions by state; locks with holders, tokens, values, waiters in\n" +
			"queue order and lock-delays. Refreshes every --interval until interrupted;\n" +
			"--once prints one frame and exits (with status's exit code: 5 without a\n" +
			"leader). With -o json or --json each frame is one JSON document per line.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "once", Usage: "print one frame and exit"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (as -o json)"},
			&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "time between refreshes"},
			&cli.IntFlag{Name: "limit", Value: 20, Usage: "sessions and locks listed per frame (counts are always whole)"},
		},
		Action: func(c *cli.Context) error {
			if err := exactArgs(c); err != nil {
				return err
			}
			if c.Duration("interval") <= 0 {
				return usagef("--interval must be positive")
			}
			if c.Int("limit") < 0 {
				return usagef("--limit must not be negative")
			}
			out := l.g.out
			if c.Bool("json") {
				out.json = true
			}
			cl, err := l.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			if c.Bool("once") {
				doc, err := l.topFrame(c.Context, cl, c.Int("limit"))
				if perr := l.printTop(out, doc, false); perr != nil {
					return perr
				}
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			tick := time.NewTicker(c.Duration("interval"))
			defer tick.Stop()
			for {
				doc, _ := l.topFrame(ctx, cl, c.Int("limit"))
				if ctx.Err() != nil {
					return nil
				}
				if err := l.printTop(out, doc, l.tty); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
			}
		},
	}
}

// topFrame collects one frame within --timeout. Its error is status's
// (no leader) or the first failed read; the frame holds what answered.
func (l *lockctl) topFrame(parent context.Context, cl *client.Client, limit int) (topDoc, error) {
	ctx, cancel := context.WithTimeout(parent, l.g.timeout)
	defer cancel()
	now := time.Now()
	doc := topDoc{Time: timestamp(now), Sessions: topSessions{List: []sessionDoc{}}, Locks: topLocks{List: []lockDoc{}}}
	var errs []error
	if nodes, err := l.clusterStatus(ctx, cl); err != nil {
		doc.Status = statusDoc{Nodes: []nodeDoc{}}
		errs = append(errs, err)
	} else {
		doc.Status = statusFrom(nodes)
		if err := doc.Status.health(); err != nil {
			errs = append(errs, err)
		}
	}
	if ss, err := cl.ListSessions(ctx, l.readOpts()...); err != nil {
		doc.Sessions.Error = err.Error()
		errs = append(errs, err)
	} else {
		for _, s := range ss {
			d := sessionFrom(s, now)
			doc.Sessions.Total++
			switch {
			case len(d.Held) > 0:
				doc.Sessions.Holding++
			case len(d.Waiting) > 0:
				doc.Sessions.Waiting++
			default:
				doc.Sessions.Idle++
			}
			if d.Owner != "" {
				if doc.Sessions.ByOwner == nil {
					doc.Sessions.ByOwner = map[string]int{}
				}
				doc.Sessions.ByOwner[d.Owner]++
			}
			if len(doc.Sessions.List) < limit {
				doc.Sessions.List = append(doc.Sessions.List, d)
			}
		}
	}
	if ls, err := cl.ListLocks(ctx, "", l.readOpts()...); err != nil {
		doc.Locks.Error = err.Error()
		errs = append(errs, err)
	} else {
		var busy, idle []lockDoc
		for _, in := range ls {
			d := lockFrom(in, now)
			doc.Locks.Total++
			doc.Locks.Waiters += len(d.Waiters)
			switch {
			case len(d.Holders) > 0:
				doc.Locks.Held++
			case d.DelayUntil != "" && in.DelayUntil.After(now):
				doc.Locks.Delayed++
			}
			if len(d.Holders)+len(d.Waiters) > 0 {
				busy = append(busy, d)
			} else {
				idle = append(idle, d)
			}
		}
		for _, d := range append(busy, idle...) {
			if len(doc.Locks.List) == limit {
				break
			}
			doc.Locks.List = append(doc.Locks.List, d)
		}
	}
	return doc, errors.Join(errs...)
}

// printTop writes one frame: a JSON line, or tables (after clearing the
// screen on a terminal, else after a blank line between frames).
func (l *lockctl) printTop(out printer, doc topDoc, clear bool) error {
	if out.json {
		return out.line(doc, "")
	}
	if clear {
		fmt.Fprint(out.w, clearScreen)
	}
	return out.print(doc, doc.table)
}

func (d topDoc) table(t *tableWriter) {
	leader := orDash(d.Status.Leader)
	t.text("lockd cluster at %s — leader %s", d.Time, leader)
	t.text("")
	d.Status.table(t)
	t.text("")
	s := d.Sessions
	if s.Error != "" {
		t.text("SESSIONS: unavailable: %s", s.Error)
	} else {
		t.text("SESSIONS: %d open (%d holding, %d waiting, %d idle)%s%s", s.Total, s.Holding, s.Waiting, s.Idle, owners(s.ByOwner), more(len(s.List), s.Total))
		if len(s.List) > 0 {
			t.row("ID", "OWNER", "TTL", "AGE", "HELD", "WAITING")
			for _, x := range s.List {
				t.row(x.ID, orDash(showName(x.Owner)), time.Duration(x.TTLSeconds*float64(time.Second)), ageSeconds(x.AgeSeconds),
					orDash(showNames(x.Held)), orDash(showNames(x.Waiting)))
			}
		}
	}
	t.text("")
	k := d.Locks
	if k.Error != "" {
		t.text("LOCKS: unavailable: %s", k.Error)
		return
	}
	t.text("LOCKS: %d (%d held, %d in lock-delay), %d waiting requests%s", k.Total, k.Held, k.Delayed, k.Waiters, more(len(k.List), k.Total))
	if len(k.List) == 0 {
		return
	}
	// HOLDERS are session:token pairs; QUEUE the waiting sessions in
	// order; VALUE is the first holder's.
	t.row("NAME", "MODE", "HOLDERS", "VALUE", "QUEUE", "LOCK-DELAY")
	for _, x := range k.List {
		mode, holders, value, delay := "-", make([]string, 0, len(x.Holders)), "-", "-"
		for _, h := range x.Holders {
			holders = append(holders, formatUint(h.SessionID)+":"+formatUint(h.Token))
		}
		if len(x.Holders) > 0 {
			mode, value = x.Holders[0].Mode, showValue(x.Holders[0].Value)
		}
		if x.DelayUntil != "" {
			delay = "until " + x.DelayUntil
		}
		queue := make([]string, len(x.Waiters))
		for i, w := range x.Waiters {
			queue[i] = formatUint(w.SessionID)
		}
		t.row(showName(x.Name), mode, orDash(strings.Join(holders, ",")), value, orDash(strings.Join(queue, ",")), delay)
	}
}

// owners lists the sessions per owner, by owner: " — alice 2, bob 1".
func owners(by map[string]int) string {
	if len(by) == 0 {
		return ""
	}
	names := make([]string, 0, len(by))
	for o := range by {
		names = append(names, o)
	}
	sort.Strings(names)
	for i, o := range names {
		names[i] = fmt.Sprintf("%s %d", showName(o), by[o])
	}
	return " — " + strings.Join(names, ", ")
}

// more says how many of total a list leaves out.
func more(listed, total int) string {
	if listed >= total {
		return ""
	}
	return fmt.Sprintf(" — first %d listed", listed)
}

// showName is a lock name for a terminal: quoted when it holds anything
// but printable characters (a hostile name cannot move the cursor or
// recolour the screen).
func showName(s string) string {
	if q := strconv.Quote(s); q != `"`+s+`"` || strings.ContainsAny(s, " \t") {
		return q
	}
	return s
}

func showNames(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = showName(n)
	}
	return strings.Join(out, ",")
}
