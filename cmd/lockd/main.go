package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/server"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitFailStop: the node stopped itself because its disk stopped
	// answering (server.ErrFailStop). 74 is EX_IOERR of sysexits.h.
	exitFailStop = 74
)

func main() {
	// The first SIGTERM or SIGINT cancels ctx and starts a graceful stop;
	// run restores the default action then, so a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, stop, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it parses args, runs a node or the dev
// cluster until ctx is done, and returns the exit code. onSignal is called
// once ctx is done, before the graceful stop begins.
func run(ctx context.Context, onSignal func(), args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:  "lockd",
		Usage: "a Chubby-style distributed lock service node",
		UsageText: "lockd --dev\n" +
			"lockd --id n1 --data-dir d1 --peer-addr 127.0.0.1:7101 --client-addr 127.0.0.1:7001 " +
			"--http-addr 127.0.0.1:7201 --initial-cluster n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103",
		Description: "Every flag can also be set through its LOCKD_* environment variable " +
			"(--data-dir is LOCKD_DATA_DIR). See docs/OPERATIONS.md.",
		Flags:           cliFlags(server.DefaultConfig()),
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       stderr,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w: %v", errBadFlag, err)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run decides the exit code
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q (lockd takes only flags)", errBadFlag, c.Args().First())
			}
			return runOptions(ctx, onSignal, optionsFrom(c), stdout, stderr)
		},
	}
	err := app.RunContext(ctx, args)
	code := exitCodeOf(err)
	switch code {
	case exitOK:
	case exitUsage:
		fmt.Fprintf(stderr, "lockd: %v\nRun 'lockd --help' for the flags.\n", trimPrefix(err))
	default:
		fmt.Fprintf(stderr, "lockd: %v\n", trimPrefix(err))
	}
	return code
}

// exitCodeOf is the exit code for run's outcome: 0 for nil, 2 for a bad
// flag, 74 for a fail-stop on a stalled or failed disk, 1 for anything
// else.
func exitCodeOf(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errBadFlag):
		return exitUsage
	case errors.Is(err, server.ErrFailStop):
		return exitFailStop
	default:
		return exitFailure
	}
}

// trimPrefix drops the "lockd: " that errBadFlag and run both add.
func trimPrefix(err error) string {
	const p = "lockd: "
	s := err.Error()
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// runOptions validates o, builds the logger and runs one node or the dev
// cluster until ctx is done.
func runOptions(ctx context.Context, onSignal func(), o options, stdout, stderr io.Writer) error {
	var spec nodeSpec
	if o.Dev {
		if err := checkDev(o); err != nil {
			return err
		}
	} else {
		var err error
		if spec, err = checkNode(o); err != nil {
			return err
		}
	}
	logger, err := newLogger(o.LogLevel, o.LogJSON, stderr)
	if err != nil {
		return err
	}
	if o.Dev {
		return runDev(ctx, onSignal, o, logger, stdout)
	}
	return runNode(ctx, onSignal, spec, logger)
}

// newLogger logs text (coloured on a terminal) or, when asked, JSON lines.
func newLogger(level string, json bool, out io.Writer) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		return nil, fmt.Errorf("%w: --log-level %q is not one of trace, debug, info, warn, error", errBadFlag, level)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "lockd",
		Level:      lvl,
		Output:     out,
		JSONFormat: json,
		Color:      hclog.AutoColor,
	}), nil
}
