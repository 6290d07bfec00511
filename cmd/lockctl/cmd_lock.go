package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// forwardedSignals are passed on to `lock`'s command; while lockctl waits
// for the lock they cancel the wait instead. `elect` stops on them.
func forwardedSignals() []os.Signal {
	return []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
}

// Exit codes for a command that could not be started, as shells use them.
const (
	exitCannotExec  = 126
	exitNotFoundCmd = 127
)

func (l *lockctl) lockCommand() *cli.Command {
	return &cli.Command{
		Name:      "lock",
		Usage:     "hold lock NAME while CMD runs",
		ArgsUsage: "NAME -- CMD [ARG...]",
		Description: "Opens a session, acquires NAME (waiting in its queue unless --try) and runs\n" +
			"CMD with LOCKD_LOCK_NAME, LOCKD_FENCING_TOKEN and LOCKD_SESSION_ID added to\n" +
			"its environment. SIGINT, SIGTERM and SIGHUP are forwarded to CMD. When CMD\n" +
			"exits the lock is released and lockctl exits with CMD's code (128+signal if\n" +
			"a signal killed it). When the lock may be lost (the session is in jeopardy:\n" +
			"no keep-alive confirmed for 3/4 of the TTL), CMD gets SIGTERM, then SIGKILL\n" +
			"halfway to the earliest moment the cluster could grant the lock to anyone\n" +
			"else (or after --grace, if sooner), and lockctl exits 4. A lock lost\n" +
			"outright gets the same, SIGKILL after --grace.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "try", Usage: "fail at once (exit 3) if the lock is held"},
			&cli.DurationFlag{Name: "wait", Usage: "give up (exit 3) if not granted within this long; 0 waits forever"},
			&cli.BoolFlag{Name: "shared", Usage: "take a shared hold instead of an exclusive one"},
			&cli.DurationFlag{Name: "ttl", Value: 10 * time.Second, Usage: "session TTL, positive (the server clamps it to its range)"},
			&cli.StringFlag{Name: "value", Usage: "value to attach to the hold (shown by 'locks show')"},
			&cli.DurationFlag{Name: "lock-delay", Value: client.DefaultLockDelay,
				Usage: "how long the lock stays ungrantable if this session expires holding it"},
			&cli.DurationFlag{Name: "grace", Value: 10 * time.Second, Usage: "longest time between SIGTERM and SIGKILL when the lock may be lost"},
		},
		Action: l.lockAction,
	}
}

// lockArgs splits `NAME [--] CMD...`.
func lockArgs(args []string) (name string, cmd []string, err error) {
	if len(args) == 0 || args[0] == "" {
		return "", nil, usagef("lock: missing NAME (usage: lock [options] NAME -- CMD [ARG...])")
	}
	name, rest := args[0], args[1:]
	switch {
	case len(rest) > 0 && rest[0] == "--":
		rest = rest[1:]
	case len(rest) > 0 && len(rest[0]) > 1 && rest[0][0] == '-':
		return "", nil, usagef("lock: option %q after NAME: options go before NAME, the command after --", rest[0])
	}
	if len(rest) == 0 {
		return "", nil, usagef("lock: missing CMD (usage: lock [options] NAME -- CMD [ARG...])")
	}
	return name, rest, nil
}

func (l *lockctl) lockAction(c *cli.Context) error {
	name, argv, err := lockArgs(c.Args().Slice())
	if err != nil {
		return err
	}
	if c.Bool("try") && c.Duration("wait") > 0 {
		return usagef("lock: --try and --wait exclude each other")
	}
	if c.Duration("grace") < 0 || c.Duration("wait") < 0 {
		return usagef("lock: --grace and --wait must not be negative")
	}
	ttl, err := sessionTTL(c)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, forwardedSignals()...)
	defer signal.Stop(sigs)

	cl, err := l.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(c.Context, l.g.timeout)
	s, err := cl.NewSession(sctx, client.WithTTL(ttl))
	cancel()
	if err != nil {
		return err
	}
	defer l.closeSession(s)

	lk, err := l.acquire(c, s, name, sigs)
	if err != nil {
		return err
	}
	code, err := l.runHolding(c, cl, s, lk, argv, sigs)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitStatus{code: code}
	}
	return nil
}

// acquire takes the lock as the flags say; a forwarded signal while
// waiting gives up (exit 128+signal).
func (l *lockctl) acquire(c *cli.Context, s *client.Session, name string, sigs <-chan os.Signal) (*client.Lock, error) {
	opts := []client.LockOption{client.WithLockDelay(c.Duration("lock-delay"))}
	if c.Bool("shared") {
		opts = append(opts, client.Shared())
	}
	if c.IsSet("value") {
		opts = append(opts, client.WithValue([]byte(c.String("value"))))
	}
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	if d := c.Duration("wait"); d > 0 {
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	type result struct {
		lk  *client.Lock
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if c.Bool("try") {
			tctx, tcancel := context.WithTimeout(ctx, l.g.timeout)
			r.lk, r.err = s.TryAcquire(tctx, name, opts...)
			tcancel()
		} else {
			r.lk, r.err = s.Acquire(ctx, name, opts...)
		}
		done <- r
	}()
	var got os.Signal
	for {
		select {
		case r := <-done:
			switch {
			case got != nil:
				if r.err == nil {
					l.release(r.lk)
				}
				return nil, signalExit(got, "interrupted while waiting for the lock")
			case r.err != nil && errors.Is(r.err, context.DeadlineExceeded) && c.Duration("wait") > 0 && ctx.Err() != nil:
				return nil, fmt.Errorf("%w: %q after %s", errWaitExpired, name, c.Duration("wait"))
			case r.err != nil && errors.Is(r.err, client.ErrLockHeld):
				return nil, fmt.Errorf("%w: %q", client.ErrLockHeld, name)
			case r.err != nil && sessionEnded(r.err):
				// Never granted: nothing was held, so nothing was lost.
				return nil, fmt.Errorf("%w for lock %q: %w", errGaveUpWaiting, name, r.err)
			case r.err != nil:
				return nil, fmt.Errorf("acquire %q: %w", name, r.err)
			}
			return r.lk, nil
		case sig := <-sigs:
			if got == nil {
				got = sig
				cancel()
			}
		}
	}
}

// runHolding runs argv while lk is held and returns the exit code to use.
func (l *lockctl) runHolding(c *cli.Context, cl *client.Client, s *client.Session, lk *client.Lock, argv []string, sigs <-chan os.Signal) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(),
		"LOCKD_LOCK_NAME="+lk.Name(),
		"LOCKD_FENCING_TOKEN="+strconv.FormatUint(lk.Token(), 10),
		"LOCKD_SESSION_ID="+strconv.FormatUint(s.ID(), 10),
	)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = l.stdin, l.stdout, l.stderr
	// Without a terminal to share, CMD gets a process group of its own,
	// so that signals (forwarded, or on a loss) reach every process it
	// started. With one, CMD stays in lockctl's group to keep using it.
	ownGroup := l.stdin == nil || !isTerminal(l.stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: ownGroup}
	signal := func(sig os.Signal) {
		if s, ok := sig.(syscall.Signal); ok && ownGroup {
			_ = syscall.Kill(-cmd.Process.Pid, s)
			return
		}
		_ = cmd.Process.Signal(sig)
	}
	if err := cmd.Start(); err != nil {
		l.release(lk)
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFoundCmd
		}
		return 0, &exitStatus{code: code, why: err.Error()}
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	var kill <-chan time.Time
	var killTimer *time.Timer
	defer func() {
		if killTimer != nil {
			killTimer.Stop()
		}
	}()
	stopping := false // SIGTERM sent: the lock may be, or is, lost
	// Closed at the start of jeopardy, or when the hold ends (Lost).
	mayBeLost := lk.Context().Done()
	state := s.StateChanged()
	jeopardy := false
	grace := c.Duration("grace")
	// stop sends SIGTERM now and arms SIGKILL after wait.
	stop := func(wait time.Duration) {
		stopping = true
		signal(syscall.SIGTERM)
		killTimer = time.NewTimer(wait)
		kill = killTimer.C
	}
	for {
		select {
		case <-exited:
			if stopping || isClosed(lk.Lost()) {
				why := lk.Err()
				if why == nil {
					why = context.Cause(lk.Context())
					l.abandon(cl, s) // exit before anyone else could be granted the lock
				}
				return 0, fmt.Errorf("%w: %q: %v", errLockLost, lk.Name(), why)
			}
			l.release(lk)
			return commandCode(cmd.ProcessState), nil
		case sig := <-sigs:
			signal(sig)
		case <-state:
			state = s.StateChanged()
			switch st := s.State(); {
			case st == client.SessionJeopardy && !jeopardy:
				jeopardy = true
				fmt.Fprintf(l.stderr, "lockctl: session %d in jeopardy: lock %q may be lost\n", s.ID(), lk.Name())
			case st == client.SessionSafe && jeopardy:
				jeopardy = false
				fmt.Fprintf(l.stderr, "lockctl: session %d safe again\n", s.ID())
			}
		case <-mayBeLost:
			mayBeLost = nil
			if stopping {
				continue
			}
			if !errors.Is(context.Cause(lk.Context()), client.ErrJeopardy) {
				// The hold ended (lost on the server, or the session
				// ended): the lock may be granted again already.
				fmt.Fprintf(l.stderr, "lockctl: lock %q lost (%v); sending SIGTERM to %s\n", lk.Name(), lk.Err(), argv[0])
				stop(grace)
				continue
			}
			wait := killWait(time.Now(), s.EarliestExpiry(), c.Duration("lock-delay"), grace)
			fmt.Fprintf(l.stderr, "lockctl: lock %q may be lost (session %d in jeopardy); sending SIGTERM to %s, SIGKILL in %s\n",
				lk.Name(), s.ID(), argv[0], wait.Round(time.Millisecond))
			stop(wait)
		case <-kill:
			kill = nil
			fmt.Fprintf(l.stderr, "lockctl: %s still running; sending SIGKILL\n", argv[0])
			signal(syscall.SIGKILL)
		}
	}
}

// killWait is how long after now (the start of jeopardy, as lockctl saw
// it) the command gets SIGKILL: halfway from now to the earliest moment
// the cluster could grant the lock to anyone else (the session's earliest
// expiry plus the lock-delay shortened by the clock rate bound), and no
// later than grace. Half of that window is left for the signal to land
// and for lockctl itself to be late.
func killWait(now, earliestExpiry time.Time, lockDelay, grace time.Duration) time.Duration {
	if earliestExpiry.IsZero() {
		return 0
	}
	grant := earliestExpiry.Add(time.Duration(float64(lockDelay) / (1 + client.MaxClockRateDifference)))
	return max(0, min(grace, grant.Sub(now)/2))
}

// commandCode is the exit code a shell would report for st.
func commandCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitSignalled + int(ws.Signal())
	}
	return st.ExitCode()
}

// signalExit is the exit of a lockctl stopped by sig: 128+sig.
func signalExit(sig os.Signal, why string) error {
	code := exitSignalled
	if s, ok := sig.(syscall.Signal); ok {
		code += int(s)
	}
	return &exitStatus{code: code, why: fmt.Sprintf("%s (%v)", why, sig)}
}

// release releases lk, reporting a failure on stderr only: the command's
// outcome decides the exit code.
func (l *lockctl) release(lk *client.Lock) {
	ctx, cancel := context.WithTimeout(context.Background(), l.g.timeout)
	defer cancel()
	if err := lk.Release(ctx); err != nil {
		fmt.Fprintf(l.stderr, "lockctl: release %q: %v\n", lk.Name(), err)
	}
}

// closeSession closes s on the server so its locks and waits go at once.
func (l *lockctl) closeSession(s *client.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), l.g.timeout)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		fmt.Fprintf(l.stderr, "lockctl: close session %d: %v\n", s.ID(), err)
	}
}

// sessionEnded reports whether err says the session ended (expired or
// closed, on the server or with its Client).
func sessionEnded(err error) bool {
	return errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrSessionClosed) ||
		errors.Is(err, client.ErrUnknownSession) || errors.Is(err, client.ErrClosed)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
