package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/server"
)

// daemon is the part of *server.Server that the process lifecycle drives.
type daemon interface {
	Live() error
	Shutdown(ctx context.Context) error
	Close() error
	Removed() <-chan struct{}
	FailStopped() <-chan struct{}
}

// runNode runs one persistent node until a signal or its removal.
func runNode(ctx context.Context, onSignal func(), spec nodeSpec, logger hclog.Logger) (err error) {
	o := spec.opts
	reg := newRegistry()
	cfg, err := serverConfig(o, spec.cluster, logger, reg)
	if err != nil {
		return err
	}
	var certs *pki.Reloader
	var watchers []*certWatcher
	if o.tlsEnabled() {
		if certs, err = loadNodeTLS(o); err != nil {
			return err
		}
		cfg.TLS = serverTLS(certs)
		watchers = append(watchers, newCertWatcher(certs, o.files(), reg, logger))
		warnCertHosts(certs.Leaf(), dialedAddrs(o, spec.cluster), logger)
	} else {
		logger.Warn("running without TLS: nobody is authenticated, and anyone who reaches a port may act as any client or node",
			"insecure", o.Insecure)
	}
	stopReloads := startReloads(watchers, o.TLSReloadInterval, logger)
	defer stopReloads()
	// Bind the HTTP port before the server starts, so a taken port fails
	// the start instead of leaving a node without health checks; server.New
	// binds the other two before it writes anything.
	var httpLn net.Listener
	if o.HTTPAddr != "" {
		if httpLn, err = net.Listen("tcp", o.HTTPAddr); err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
		if o.HTTPTLS {
			httpLn = tls.NewListener(httpLn, httpTLS(certs))
		} else if certs != nil && !isLoopback(o.HTTPAddr) {
			logger.Warn("the HTTP port is served without TLS; --http-tls serves it with this node's certificate", "http_addr", o.HTTPAddr)
		}
	}
	srv, err := server.New(cfg)
	if err != nil {
		closeListener(httpLn)
		return openError(o, err)
	}
	if err := srv.Start(); err != nil {
		closeListener(httpLn)
		return errors.Join(fmt.Errorf("start node: %w", err), srv.Close())
	}
	var web *httpEndpoint
	httpAddr := ""
	if httpLn != nil {
		web = serveHTTP(httpLn, withPprof(server.NewHTTPHandler(srv, reg, logger.Named("http")), o.PProf), logger)
		httpAddr = httpLn.Addr().String()
	}
	logger.Info("node serving", "id", srv.ID(), "client_addr", srv.ClientAddr(),
		"peer_addr", srv.PeerAddr(), "http_addr", httpAddr, "data_dir", o.DataDir, "join", o.Join,
		"tls", certs != nil, "http_tls", o.HTTPTLS)
	err = awaitStop(ctx, onSignal, srv, o.ShutdownTimeout, livenessCheckInterval, logger)
	web.stop()
	if err == nil {
		logger.Info("node stopped", "id", srv.ID())
	}
	return err
}

// startReloads reloads the watchers' certificates on SIGHUP and polls
// them every interval, until the returned stop is called. Without
// certificates a SIGHUP is only logged (systemctl reload must not kill
// the node).
func startReloads(ws []*certWatcher, interval time.Duration, logger hclog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if len(ws) > 0 {
			watchCerts(ctx, ws, hup, interval)
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: no certificates to reload (TLS is off)")
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// livenessCheckInterval is how often the process checks that its node
// still runs (its loop has not stopped on a storage error).
const livenessCheckInterval = time.Second

// awaitStop waits for a signal (ctx done), the node's removal, or the
// node's death (Live fails, checked every liveEvery) and stops the node. A
// signal asks for a graceful Shutdown bounded by timeout: a leader first
// hands leadership to a caught-up follower. A node never leaves the
// membership here; removal is decided by the cluster. A dead node is an
// error, so that a supervisor restarts the process.
//
// A node that fail-stopped on its disk (FailStopped, or Live returning
// server.ErrFailStop) is not closed: its log may never answer again, and
// the process exits at once with the reason. A stall not yet past the
// bound (server.ErrWALStalled alone) is only logged: the node decides.
func awaitStop(ctx context.Context, onSignal func(), d daemon, timeout, liveEvery time.Duration, logger hclog.Logger) error {
	live := time.NewTicker(liveEvery)
	defer live.Stop()
	stalled := false
	for {
		select {
		case <-d.FailStopped():
			return failStopped(d.Live(), logger)
		case <-live.C:
			err := d.Live()
			switch {
			case err == nil:
				stalled = false
			case errors.Is(err, server.ErrFailStop):
				return failStopped(err, logger)
			case errors.Is(err, server.ErrWALStalled):
				if !stalled {
					logger.Warn("a write-ahead log write is stalled", "error", err)
				}
				stalled = true
			default:
				logger.Error("node stopped by itself; exiting", "error", err)
				return errors.Join(fmt.Errorf("node stopped: %w", err), d.Close())
			}
		case <-ctx.Done():
			return shutdown(onSignal, d, timeout, logger)
		case <-d.Removed():
			logger.Info("this node was removed from the cluster; stopping")
			if err := d.Close(); err != nil {
				return fmt.Errorf("close after removal: %w", err)
			}
			return nil
		}
	}
}

// failStopped returns the fail-stop reason without closing the node.
func failStopped(err error, logger hclog.Logger) error {
	if err == nil {
		err = server.ErrFailStop
	} else if !errors.Is(err, server.ErrFailStop) {
		err = fmt.Errorf("%w: %w", server.ErrFailStop, err)
	}
	logger.Error("fail-stop: exiting without closing the write-ahead log; the supervisor restarts this node",
		"error", err, "exit_code", exitFailStop)
	return err
}

// shutdown stops the node gracefully after a signal.
func shutdown(onSignal func(), d daemon, timeout time.Duration, logger hclog.Logger) error {
	onSignal()
	logger.Info("signal received; shutting down", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := d.Shutdown(sctx)
	if err == nil {
		return nil
	}
	// Shutdown closes the node even when the hand-off fails (say, no
	// follower is up). Close is idempotent and reports whether the
	// node itself stopped cleanly: only that decides the exit code.
	if cerr := d.Close(); cerr != nil {
		return fmt.Errorf("shutdown: %w", errors.Join(err, cerr))
	}
	logger.Warn("stopped without a graceful hand-off", "error", err)
	return nil
}

func closeListener(ln net.Listener) {
	if ln != nil {
		_ = ln.Close()
	}
}
