package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// HTTP timeouts: generous for a scrape of /metrics, short enough that a
// stuck or slow client cannot hold connections open.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 10 * time.Second
	httpWriteTimeout      = 30 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	httpStopTimeout       = 2 * time.Second
	httpMaxHeaderBytes    = 16 << 10
)

// newRegistry returns a registry with the Go runtime and process metrics;
// the server adds its lockd_ metrics.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// httpEndpoint is one running HTTP server.
type httpEndpoint struct {
	srv    *http.Server
	done   chan struct{}
	logger hclog.Logger
}

// serveHTTP serves h on ln until stop.
func serveHTTP(ln net.Listener, h http.Handler, logger hclog.Logger) *httpEndpoint {
	e := &httpEndpoint{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: httpReadHeaderTimeout,
			ReadTimeout:       httpReadTimeout,
			WriteTimeout:      httpWriteTimeout,
			IdleTimeout:       httpIdleTimeout,
			MaxHeaderBytes:    httpMaxHeaderBytes,
			ErrorLog:          logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		},
		done:   make(chan struct{}),
		logger: logger,
	}
	go func() {
		defer close(e.done)
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return e
}

// stop lets in-flight requests finish for a short while, then closes. A
// nil endpoint is a no-op.
func (e *httpEndpoint) stop() {
	if e == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpStopTimeout)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		_ = e.srv.Close()
	}
	<-e.done
}
