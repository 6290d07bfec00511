package api

// Requests of authorization (docs/SECURITY.md). Never renumber.
const (
	// MsgPolicy lists the authorization policy (PolicyRequest →
	// PolicyResponse); any authenticated client may ask.
	MsgPolicy MsgType = 23
	// MsgGrant adds a grant (GrantRequest → PolicyChangeResponse); only an
	// administrator may.
	MsgGrant MsgType = 24
	// MsgRevoke removes a grant (RevokeRequest → PolicyChangeResponse);
	// only an administrator may.
	MsgRevoke MsgType = 25
)

// Permission names, as Grant.Permission holds them.
const (
	// PermissionLock: acquire, release, wait for and proclaim the locks
	// under the prefix; includes PermissionRead.
	PermissionLock = "lock"
	// PermissionRead: get, list and check the tokens of those locks, and
	// see the sessions that hold or await them.
	PermissionRead = "read"
	// PermissionObserve: watch those locks' holders; includes
	// PermissionRead.
	PermissionObserve = "observe"
	// PermissionAdmin: change membership, transfer leadership, save
	// backups, grant and revoke; implies every permission on every lock.
	// It takes no prefix.
	PermissionAdmin = "admin"
)

// Grant allows Principal ("*": every authenticated client) Permission on
// the lock names that begin with Prefix.
type Grant struct {
	Principal  string
	Permission string
	Prefix     string
}

// PolicyRequest asks for the policy.
type PolicyRequest struct {
	ReadOptions
}

// PolicyResponse is the policy, sorted by principal, permission and
// prefix, and the principal the asking connection acts for ("" without
// TLS, where authorization is off).
type PolicyResponse struct {
	Grants []Grant
	Caller string
}

// GrantRequest adds Grant to the policy.
type GrantRequest struct {
	Grant Grant
}

// RevokeRequest removes Grant from the policy.
type RevokeRequest struct {
	Grant Grant
}

// PolicyChangeResponse answers a grant or revoke: Changed is false when
// the policy already had (or lacked) the grant.
type PolicyChangeResponse struct {
	Changed bool
}
