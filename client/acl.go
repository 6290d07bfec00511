package client

import (
	"context"

	"github.com/lockd/lockd/api"
)

// Authorization (docs/SECURITY.md): a cluster with TLS allows each client
// principal (the name in its certificate) only what the replicated policy
// grants it; the built-in principal "root" may do everything. A refused
// request fails with ErrPermissionDenied.

// Grant allows Principal ("*": every authenticated client) Permission
// (PermissionLock, PermissionRead, PermissionObserve or PermissionAdmin)
// on the lock names that begin with Prefix (admin takes no prefix).
type Grant = api.Grant

// Permission names.
const (
	// PermissionLock: acquire, release, wait for and proclaim locks;
	// includes PermissionRead.
	PermissionLock = api.PermissionLock
	// PermissionRead: get, list and check the tokens of locks, and see the
	// sessions that hold or await them.
	PermissionRead = api.PermissionRead
	// PermissionObserve: watch locks' holders (Observe, elections);
	// includes PermissionRead.
	PermissionObserve = api.PermissionObserve
	// PermissionAdmin: membership, leadership transfer, backups, grants;
	// implies every other permission on every lock.
	PermissionAdmin = api.PermissionAdmin
)

// Policy is the authorization policy as the caller may see it.
type Policy struct {
	// Grants, sorted by principal, permission and prefix: every grant for
	// an administrator, else the caller's own and those to "*".
	Grants []Grant
	// Caller is the principal this client acts for, "" on a cluster
	// without TLS (where authorization is off).
	Caller string
}

// Policy returns the authorization policy.
func (c *Client) Policy(ctx context.Context, opts ...ReadOption) (Policy, error) {
	var resp api.PolicyResponse
	err := c.read(ctx, api.MsgPolicy, &api.PolicyRequest{ReadOptions: readOptions(opts)}, &resp)
	return Policy{Grants: resp.Grants, Caller: resp.Caller}, err
}

// GrantPermission adds g to the policy; only an administrator may.
// changed is false if the policy had it already.
func (c *Client) GrantPermission(ctx context.Context, g Grant) (changed bool, err error) {
	var resp api.PolicyChangeResponse
	err = c.adminCall(ctx, api.MsgGrant, &api.GrantRequest{Grant: g}, &resp)
	return resp.Changed, err
}

// RevokePermission removes g from the policy; only an administrator may.
// changed is false if the policy did not have it.
func (c *Client) RevokePermission(ctx context.Context, g Grant) (changed bool, err error) {
	var resp api.PolicyChangeResponse
	err = c.adminCall(ctx, api.MsgRevoke, &api.RevokeRequest{Grant: g}, &resp)
	return resp.Changed, err
}
