package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
)

// A refusal for lack of permission reaches the caller as
// ErrPermissionDenied at once: retrying cannot help.
func TestPermissionDeniedIsReturnedNotRetried(t *testing.T) {
	fc := newFakeCluster(t, 1, 0)
	fc.set(func(fc *fakeCluster) {
		fc.openErr = &api.Error{Code: api.CodePermissionDenied, Message: `"bob" may not lock "x"`}
	})
	c := newTestClient(t, testConfig(fc.addrs()...))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.NewSession(ctx)
	if !errors.Is(err, ErrPermissionDenied) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrPermissionDenied without waiting for the deadline", err)
	}
	if n := c.retries.Load(); n != 0 {
		t.Fatalf("a permission denial was retried %d times", n)
	}
}

// Policy, GrantPermission and RevokePermission against a cluster (without
// TLS, so the caller is anonymous and the grants are only recorded).
func TestIntegrationGrantListRevoke(t *testing.T) {
	tc := newTestCluster(t, 3)
	c := newTestClient(t, integrationConfig(tc))
	g := Grant{Principal: "svc", Permission: PermissionLock, Prefix: "svc/"}
	if changed, err := c.GrantPermission(testCtx(t), g); err != nil || !changed {
		t.Fatalf("grant: %v %v", changed, err)
	}
	if changed, err := c.GrantPermission(testCtx(t), g); err != nil || changed {
		t.Fatalf("repeated grant: %v %v", changed, err)
	}
	p, err := c.Policy(testCtx(t))
	if err != nil || p.Caller != "" || len(p.Grants) != 1 || p.Grants[0] != g {
		t.Fatalf("policy %+v %v", p, err)
	}
	if changed, err := c.RevokePermission(testCtx(t), g); err != nil || !changed {
		t.Fatalf("revoke: %v %v", changed, err)
	}
	if p, err := c.Policy(testCtx(t), WithStale()); err != nil || len(p.Grants) > 1 {
		t.Fatalf("policy after revoke %+v %v", p, err)
	}
	if _, err := c.GrantPermission(testCtx(t), Grant{Principal: "svc", Permission: "fly"}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("unknown permission: %v, want ErrInvalidRequest", err)
	}
}
