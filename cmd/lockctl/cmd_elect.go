package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// electDoc is one JSON line of `elect`: elected, resigned or lost.
type electDoc struct {
	Event     string `json:"event"`
	Name      string `json:"name"`
	Value     string `json:"value"`
	Token     uint64 `json:"token"`
	SessionID uint64 `json:"session_id"`
}

// leaderDoc is one JSON line of `elect --observe`: the leader after a
// change (HasLeader false: none).
type leaderDoc struct {
	Name        string `json:"name"`
	HasLeader   bool   `json:"has_leader"`
	Value       string `json:"value"`
	ValueBase64 string `json:"value_base64"`
	Token       uint64 `json:"token"`
	SessionID   uint64 `json:"session_id"`
	Revision    uint64 `json:"revision"`
}

func leaderFrom(name string, li client.LeaderInfo) leaderDoc {
	return leaderDoc{
		Name: name, HasLeader: li.Session != 0,
		Value: strings.ToValidUTF8(string(li.Value), "\uFFFD"), ValueBase64: base64.StdEncoding.EncodeToString(li.Value),
		Token: li.Token, SessionID: li.Session, Revision: li.Revision,
	}
}

func (d leaderDoc) text() string {
	if !d.HasLeader {
		return fmt.Sprintf("%s: no leader (revision %d)", d.Name, d.Revision)
	}
	return fmt.Sprintf("%s: leader %s (session %d, token %d, revision %d)", d.Name, showValue(d.Value), d.SessionID, d.Token, d.Revision)
}

func (l *lockctl) electCommand() *cli.Command {
	return &cli.Command{
		Name:      "elect",
		Usage:     "campaign in election NAME with VALUE and lead until interrupted, or --observe its leader",
		ArgsUsage: "NAME VALUE | --observe NAME",
		Description: "elect NAME VALUE waits until elected, prints it, and holds leadership until\n" +
			"SIGINT/SIGTERM (then resigns and exits 0); if leadership may be lost (the\n" +
			"session is in jeopardy) or is lost, it prints \"lost\" and exits 4.\n" +
			"elect --observe NAME prints the leader and every change until interrupted.\n" +
			"With -o json each event is one JSON object on its own line.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "observe", Usage: "watch the election's leader instead of campaigning"},
			&cli.DurationFlag{Name: "ttl", Value: 10 * time.Second, Usage: "session TTL, positive (the server clamps it to its range)"},
			&cli.DurationFlag{Name: "lock-delay", Value: client.DefaultElectionLockDelay,
				Usage: "how long nobody can win the election if this session expires while leading"},
		},
		Action: func(c *cli.Context) error {
			if c.Bool("observe") {
				if err := exactArgs(c, "NAME"); err != nil {
					return err
				}
				if c.IsSet("lock-delay") {
					return usagef("elect: --lock-delay is for a campaign, not for --observe")
				}
			} else if err := exactArgs(c, "NAME", "VALUE"); err != nil {
				return err
			}
			ttl, err := sessionTTL(c)
			if err != nil {
				return err
			}
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, forwardedSignals()...)
			defer signal.Stop(sigs)
			ctx, stop := context.WithCancel(c.Context)
			defer stop()
			go func() {
				select {
				case <-sigs:
					stop()
				case <-ctx.Done():
				}
			}()

			cl, err := l.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			sctx, cancel := context.WithTimeout(ctx, l.g.timeout)
			s, err := cl.NewSession(sctx, client.WithTTL(ttl))
			cancel()
			if err != nil {
				return interrupted(ctx, err)
			}
			defer l.closeSession(s)
			e := s.Election(c.Args().First(), client.WithElectionLockDelay(c.Duration("lock-delay")))
			if c.Bool("observe") {
				return l.observe(ctx, e)
			}
			return l.campaign(ctx, cl, e, c.Args().Get(1))
		},
	}
}

// interrupted turns the error of a call that a signal cut short into a
// clean exit.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (l *lockctl) campaign(ctx context.Context, cl *client.Client, e *client.Election, value string) error {
	if err := e.Campaign(ctx, []byte(value)); err != nil {
		if ctx.Err() == nil && sessionEnded(err) {
			// Never elected: nothing was held, so nothing was lost.
			return fmt.Errorf("%w for leadership of %q: %w", errGaveUpWaiting, e.Name(), err)
		}
		return interrupted(ctx, err)
	}
	lk := e.Lock()
	doc := electDoc{Event: "elected", Name: e.Name(), Value: value, Token: lk.Token(), SessionID: lk.Session().ID()}
	if err := l.g.out.line(doc, fmt.Sprintf("elected: %s = %s (session %d, token %d)", e.Name(), showValue(value), doc.SessionID, doc.Token)); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		rctx, cancel := context.WithTimeout(context.Background(), l.g.timeout)
		defer cancel()
		if err := e.Resign(rctx); err != nil {
			return fmt.Errorf("resign: %w", err)
		}
		doc.Event = "resigned"
		return l.g.out.line(doc, fmt.Sprintf("resigned: %s", e.Name()))
	case <-lk.Context().Done():
		// At the start of jeopardy, before anyone else could win: the
		// service following this output must stop leading now. The
		// session is closed on the way out if the cluster answers.
		why := context.Cause(lk.Context())
		doc.Event = "lost"
		_ = l.g.out.line(doc, fmt.Sprintf("lost: %s (%v)", e.Name(), why))
		l.abandon(cl, lk.Session())
		return fmt.Errorf("%w: leadership of %q: %v", errLockLost, e.Name(), why)
	}
}

// observe prints the current leader (read first, so that an election
// without one says so and an unreachable cluster fails), then every
// change until ctx ends.
func (l *lockctl) observe(ctx context.Context, e *client.Election) error {
	rctx, cancel := context.WithTimeout(ctx, l.g.timeout)
	li, err := e.Leader(rctx)
	cancel()
	switch {
	case errors.Is(err, client.ErrNoElectionLeader):
		li = client.LeaderInfo{}
	case err != nil:
		return interrupted(ctx, err)
	}
	last := leaderFrom(e.Name(), li)
	if err := l.g.out.line(last, last.text()); err != nil {
		return err
	}
	for li := range e.Observe(ctx) {
		d := leaderFrom(e.Name(), li)
		if d == last || (!d.HasLeader && !last.HasLeader) {
			continue
		}
		last = d
		if err := l.g.out.line(d, d.text()); err != nil {
			return err
		}
	}
	return nil
}

// abandon closes s if the cluster answers soon, halfway to the session's
// earliest expiry (when the cluster could elect someone else) at the
// latest, so that lockctl exits before then; then it closes cl, which
// ends s locally if the close did not get through.
func (l *lockctl) abandon(cl *client.Client, s *client.Session) {
	bound := min(l.g.timeout, time.Until(s.EarliestExpiry())/2)
	if bound > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		_ = s.Close(ctx)
		cancel()
	}
	_ = cl.Close()
}
