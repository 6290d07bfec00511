package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// defaultEndpoints are the client addresses `lockd --dev` prefers.
const defaultEndpoints = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"

// env is what one run of lockctl talks to: its streams and whether stdout
// is a terminal. Tests build one around buffers.
type env struct {
	stdin  *os.File // passed to `lock`'s command as it is
	stdout io.Writer
	stderr io.Writer
	// tty reports whether stdout is a terminal (progress display).
	tty bool
}

// globals are the parsed global flags of one run.
type globals struct {
	endpoints []string
	out       printer
	timeout   time.Duration
	stale     bool
	tls       tlsFiles // --cacert, --cert, --key
}

// lockctl is one run: its environment and, once parsed, its global flags.
type lockctl struct {
	env
	g globals
}

// run parses args (args[0] is the program name), runs the command, prints
// a failure on stderr and returns the exit code.
func run(ctx context.Context, e env, args []string) int {
	l := &lockctl{env: e}
	app := l.app()
	err := app.RunContext(ctx, args)
	if err != nil {
		if _, ok := err.(*exitStatus); !ok || err.Error() != "" {
			fmt.Fprintf(e.stderr, "lockctl: %v\n", err)
		}
	}
	tlsHint(e.stderr, err, l.g.tls)
	return exitCode(err)
}

// app builds the command tree.
func (l *lockctl) app() *cli.App {
	app := &cli.App{
		Name:                 "lockctl",
		Usage:                "inspect and operate a lockd cluster; hold locks from the shell",
		UsageText:            "lockctl [global options] command [command options] [arguments...]",
		Writer:               l.stdout,
		ErrWriter:            l.stderr,
		EnableBashCompletion: true,
		HideVersion:          true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run maps errors to exit codes
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "endpoints", Aliases: []string{"e"}, EnvVars: []string{"LOCKD_ENDPOINTS"},
				Value: defaultEndpoints, Usage: "comma-separated client addresses of cluster members"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table",
				Usage: "output format: table or json"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second,
				Usage: "bound on each request to the cluster, retries included"},
			&cli.BoolFlag{Name: "stale",
				Usage: "reads (status aside) from the answering node without confirming it is current"},
		}, tlsFlags()...),
			// urfave/cli adds --help itself only when it adds its own help
			// command, which helpCommand replaces.
			cli.HelpFlag),
		Before: l.parseGlobals,
		Commands: []*cli.Command{
			l.statusCommand(),
			l.membersCommand(),
			l.leaderCommand(),
			l.snapshotCommand(),
			l.aclCommand(),
			l.sessionsCommand(),
			l.locksCommand(),
			l.lockCommand(),
			l.electCommand(),
			l.benchCommand(),
			l.certCommand(),
			l.completionCommand(),
			l.helpCommand(),
		},
		Action: parentAction,
	}
	app.OnUsageError = onUsageError
	for _, c := range app.Commands {
		setUsageHandlers(c)
	}
	return app
}

// setUsageHandlers makes every flag error of c and its subcommands a usage
// error, and gives every command with subcommands an action that rejects
// an unknown subcommand.
func setUsageHandlers(c *cli.Command) {
	c.OnUsageError = onUsageError
	if len(c.Subcommands) > 0 && c.Action == nil {
		c.Action = parentAction
	}
	for _, s := range c.Subcommands {
		setUsageHandlers(s)
	}
}

// onUsageError makes a flag error a usage error, with a did-you-mean for
// a mistyped flag.
func onUsageError(c *cli.Context, err error, _ bool) error {
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		flags = c.Command.Flags
	}
	return usagef("%v%s", err, flagSuggestion(err, flags))
}

// parentAction runs for a command that needs a subcommand: with none it
// shows help, with an unknown one it says so (with a did-you-mean); both
// are bad usage.
func parentAction(c *cli.Context) error {
	if c.Args().Present() {
		cmds := c.App.Commands
		if c.Command != nil && c.Command.Name != "" {
			cmds = c.Command.Subcommands
		}
		typed := c.Args().First()
		return usagef("unknown command %q%s (see '%s --help')", typed, didYouMean(typed, commandNames(cmds)), c.Command.HelpName)
	}
	_ = cli.ShowSubcommandHelp(c)
	return usagef("a command is required")
}

// parseGlobals validates the global flags into l.g.
func (l *lockctl) parseGlobals(c *cli.Context) error {
	eps, err := parseEndpoints(c.String("endpoints"))
	if err != nil {
		return err
	}
	out, err := newPrinter(c.String("output"), l.stdout)
	if err != nil {
		return err
	}
	if c.Duration("timeout") <= 0 {
		return usagef("--timeout must be positive")
	}
	files, err := parseTLSFiles(c)
	if err != nil {
		return err
	}
	l.g = globals{endpoints: eps, out: out, timeout: c.Duration("timeout"), stale: c.Bool("stale"), tls: files}
	return nil
}

// parseEndpoints splits a comma-separated endpoint list.
func parseEndpoints(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, usagef("no endpoints (set --endpoints or LOCKD_ENDPOINTS)")
	}
	for _, ep := range out {
		if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
			return nil, usagef("endpoint %q is not host:port, like 127.0.0.1:7001", ep)
		}
	}
	return out, nil
}

// client returns a Client for the global endpoints; calls without a
// deadline of their own are bounded by --timeout. It fails fast: when
// every endpoint refuses or is not a lockd client port for a few rounds
// in a row, a call fails at once, saying why, instead of retrying until
// --timeout. With --cacert, --cert and --key it connects with mutual TLS;
// a certificate refused by either side fails at once (exit 8).
func (l *lockctl) client() (*client.Client, error) {
	tlsCfg, err := l.g.tls.load()
	if err != nil {
		return nil, err
	}
	cfg := client.DefaultConfig()
	cfg.TLS = tlsCfg
	cfg.Endpoints = l.g.endpoints
	cfg.FailFast = true
	cfg.RequestTimeout = l.g.timeout
	cfg.DialTimeout = min(cfg.DialTimeout, l.g.timeout)
	cfg.AttemptTimeout = min(cfg.AttemptTimeout, l.g.timeout)
	return client.New(cfg)
}

// withClient runs fn with a Client and a context bounded by --timeout.
func (l *lockctl) withClient(c *cli.Context, fn func(ctx context.Context, cl *client.Client) error) error {
	cl, err := l.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, l.g.timeout)
	defer cancel()
	return fn(ctx, cl)
}

// readOpts returns the read options the global flags ask for.
func (l *lockctl) readOpts() []client.ReadOption {
	if l.g.stale {
		return []client.ReadOption{client.WithStale()}
	}
	return nil
}

// exactArgs checks that c has exactly the named positional arguments.
func exactArgs(c *cli.Context, names ...string) error {
	n := c.Args().Len()
	if n != 0 && len(names) == 0 {
		return usagef("%s takes no arguments, got %d", c.Command.HelpName, n)
	}
	if n != len(names) {
		return usagef("%s: want %d argument(s) (%s), got %d", c.Command.HelpName, len(names), strings.Join(names, " "), n)
	}
	return nil
}

// sessionTTL returns the --ttl of c, which must be positive; the server
// clamps a positive TTL to its range (1s..5m by default) and lockctl
// leaves that to it, so there is one rule for every command with --ttl.
func sessionTTL(c *cli.Context) (time.Duration, error) {
	ttl := c.Duration("ttl")
	if ttl <= 0 {
		return 0, usagef("%s: --ttl must be positive, not %s (the server clamps a positive TTL to its range)", c.Command.HelpName, ttl)
	}
	return ttl, nil
}
