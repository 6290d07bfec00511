package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/internal/pki"
	"github.com/lockd/lockd/rpc"
)

// refusingAddrs are loopback addresses where nothing listens.
var refusingAddrs = []string{"127.0.0.1:1", "127.0.0.2:1"}

// A FailFast Client gives up on a cluster where every endpoint refuses,
// after a few rounds, well before its deadline, with every endpoint's
// cause; the same call of a default Client retries until its deadline.
func TestFailFastGivesUpWhenEveryEndpointRefuses(t *testing.T) {
	cfg := testConfig(refusingAddrs...)
	cfg.FailFast = true
	c := newTestClient(t, cfg)
	_, err := c.NewSession(testCtx(t)) // 20 s: a retry loop would hit it
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrNoEndpoint) || !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewSession: %v, want an UnreachableError of refused endpoints, not the deadline", err)
	}
	if len(ue.Endpoints) != 2 || ue.Endpoints[0].Addr != refusingAddrs[0] || !ue.Permanent(refusingAddrs) {
		t.Fatalf("endpoints %+v", ue.Endpoints)
	}
	if !strings.Contains(err.Error(), "127.0.0.2:1: connection refused: nothing listens there") {
		t.Errorf("message %q does not say what is wrong", err)
	}
	// A few rounds, not one: callers may share a round, so it is a range.
	if got := c.retries.Load(); got < failFastRounds-1 || got > 2*failFastRounds {
		t.Errorf("%d retries, want a short bounded retry of %d rounds", got, failFastRounds)
	}

	patient := newTestClient(t, testConfig(refusingAddrs...))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := patient.NewSession(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("default Client: %v, want its deadline after retrying", err)
	}
}

// One endpoint that answers (here: no quorum) keeps a FailFast Client
// retrying: the cluster is there, and may recover.
func TestFailFastRetriesWhileAnEndpointAnswers(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	fc.set(func(fc *fakeCluster) { fc.openErr = &api.Error{Code: api.CodeNoQuorum} })
	cfg := testConfig(refusingAddrs[0], fc.addrs()[0])
	cfg.FailFast = true
	c := newTestClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.NewSession(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("NewSession: %v, want the deadline after NoQuorum", err)
	}
}

// An HTTP port (lockd's --http-addr) given as an endpoint is named as
// such, at once, by a client with TLS as by one without.
func TestEndpointThatIsAnHTTPPortIsNamed(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	addr := strings.TrimPrefix(web.URL, "http://")
	p := newTestPKI(t)
	for name, tlsCfg := range map[string]*tls.Config{"plain": nil, "TLS": p.clientTLS(p.client("alice", pki.Options{}))} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(addr)
			cfg.FailFast = true
			cfg.TLS = tlsCfg
			c := newTestClient(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.ListLocks(ctx, "")
			if !errors.Is(err, rpc.ErrHTTPPort) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("ListLocks: %v, want ErrHTTPPort before the deadline", err)
			}
			if want := addr + ": that is an HTTP port, not a lockd client port"; !strings.Contains(err.Error(), want) {
				t.Errorf("message %q lacks %q", err, want)
			}
		})
	}
}

// An unspecified address (0.0.0.0, [::]) reaches only the dialer's own
// host; the message says so.
func TestUnspecifiedAddressIsExplained(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7000", "[::]:7000"} {
		e := EndpointError{Addr: addr, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
		if !strings.Contains(e.Error(), "is an unspecified address, dialable only on the node's own host") {
			t.Errorf("%s: %q", addr, e.Error())
		}
		if !e.Permanent() {
			t.Errorf("%s: refused is not permanent", addr)
		}
	}
	if (EndpointError{Addr: "127.0.0.1:7001", Err: context.DeadlineExceeded}).Permanent() {
		t.Error("a timeout is permanent")
	}
}
