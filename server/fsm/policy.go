package fsm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Authorization: the policy is part of the replicated state, changed only
// by committed CmdGrant and CmdRevoke entries, so every replica decides
// every request alike at the same applied index.
//
//	principal   permission   decision
//	""          any          allowed (a connection without TLS: authorization is off)
//	root        any          allowed (the built-in administrator)
//	other       p on name    allowed iff a grant (principal or "*", a permission implying p,
//	                         a prefix of name) exists
//
// Each permission implies itself; PermLock and PermObserve also imply
// PermRead on their prefix (a holder or watcher sees the lock anyway, and
// the SDK reads a lock to clean up an acquire and to resume a watch). A
// grant of PermAdmin has the empty prefix and implies every permission
// on every name: an administrator can grant itself anything anyway.

// Permission is what a grant allows. The values are stored in the log and
// in snapshots: never renumber them.
type Permission uint8

const (
	// PermLock: acquire, release, cancel a wait and proclaim locks whose
	// name has the grant's prefix. Implies PermRead.
	PermLock Permission = 1
	// PermRead: get, list and check the tokens of those locks, and see the
	// sessions that hold or await them. PermLock and PermObserve imply it.
	PermRead Permission = 2
	// PermObserve: watch those locks' holders. Implies PermRead.
	PermObserve Permission = 3
	// PermAdmin: membership changes, leadership transfer, backups, and
	// grants and revocations; implies every other permission.
	PermAdmin Permission = 4
	permLimit Permission = 5 // first invalid value
)

var permNames = [...]string{"", "lock", "read", "observe", "admin"}

func (p Permission) String() string {
	if p > 0 && p < permLimit {
		return permNames[p]
	}
	return fmt.Sprintf("Permission(%d)", uint8(p))
}

// implies reports whether a grant of p allows q on the same prefix.
func (p Permission) implies(q Permission) bool {
	return p == q || p == PermAdmin || q == PermRead && (p == PermLock || p == PermObserve)
}

// ParsePermission returns the permission a name ("lock", "read",
// "observe", "admin") stands for.
func ParsePermission(s string) (Permission, error) {
	for p := PermLock; p < permLimit; p++ {
		if permNames[p] == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown permission %q (want lock, read, observe or admin)", ErrInvalidGrant, s)
}

const (
	// RootPrincipal is the built-in administrator: it may do everything,
	// whatever the policy says, and cannot be granted or revoked anything.
	RootPrincipal = "root"
	// AnyPrincipal in a grant stands for every authenticated principal.
	AnyPrincipal = "*"
	// MaxGrants bounds the policy; a grant beyond it is refused with
	// ErrTooManyGrants. Every replica must agree on it, so it is not
	// configurable.
	MaxGrants = 1024
	// MaxPrincipalLen bounds a grant's principal in bytes.
	MaxPrincipalLen = 256
	// MaxPrefixLen bounds a grant's prefix in bytes.
	MaxPrefixLen = 1024
)

// Errors of authorization.
var (
	// ErrPermissionDenied: the command's principal lacks the permission.
	ErrPermissionDenied = errors.New("fsm: permission denied")
	// ErrInvalidGrant: a grant names no principal, root, an unknown
	// permission, or an over-long or malformed prefix.
	ErrInvalidGrant = errors.New("fsm: invalid grant")
	// ErrTooManyGrants: the policy holds MaxGrants grants already.
	ErrTooManyGrants = errors.New("fsm: too many grants")
)

// Grant allows Principal (or everyone, AnyPrincipal) Permission on the
// lock names that begin with Prefix. It is also CmdGrant's and CmdRevoke's
// body.
type Grant struct {
	Principal  string
	Permission Permission
	Prefix     string
}

// validate checks a grant as CmdGrant and Restore do.
func (g Grant) validate() error {
	switch {
	case g.Principal == "":
		return fmt.Errorf("%w: no principal", ErrInvalidGrant)
	case g.Principal == RootPrincipal:
		return fmt.Errorf("%w: %s always has every permission", ErrInvalidGrant, RootPrincipal)
	case len(g.Principal) > MaxPrincipalLen || !utf8.ValidString(g.Principal) || strings.ContainsRune(g.Principal, 0):
		return fmt.Errorf("%w: principal is not UTF-8 of at most %d bytes without NUL", ErrInvalidGrant, MaxPrincipalLen)
	case g.Permission == 0 || g.Permission >= permLimit:
		return fmt.Errorf("%w: unknown permission %d", ErrInvalidGrant, g.Permission)
	case g.Permission == PermAdmin && g.Prefix != "":
		return fmt.Errorf("%w: admin applies to the whole cluster and takes no prefix", ErrInvalidGrant)
	case len(g.Prefix) > MaxPrefixLen || !utf8.ValidString(g.Prefix) || strings.ContainsRune(g.Prefix, 0):
		return fmt.Errorf("%w: prefix is not UTF-8 of at most %d bytes without NUL", ErrInvalidGrant, MaxPrefixLen)
	}
	return nil
}

func compareGrants(a, b Grant) int {
	if c := strings.Compare(a.Principal, b.Principal); c != 0 {
		return c
	}
	if a.Permission != b.Permission {
		return int(a.Permission) - int(b.Permission)
	}
	return strings.Compare(a.Prefix, b.Prefix)
}

// policy is the set of grants, sorted by principal, permission, prefix.
// Invariant: sorted, no duplicates, every grant valid, len <= MaxGrants.
type policy struct {
	grants []Grant
}

// allows decides whether principal may use perm on name ("" for the
// permissions that name no lock: admin).
func (p *policy) allows(principal string, perm Permission, name string) bool {
	if principal == "" || principal == RootPrincipal {
		return true
	}
	return p.match(principal, perm, name) || p.match(AnyPrincipal, perm, name)
}

func (p *policy) match(principal string, perm Permission, name string) bool {
	i, _ := slices.BinarySearchFunc(p.grants, principal, func(g Grant, who string) int { return strings.Compare(g.Principal, who) })
	for ; i < len(p.grants) && p.grants[i].Principal == principal; i++ {
		g := p.grants[i]
		if g.Permission == PermAdmin || g.Permission.implies(perm) && strings.HasPrefix(name, g.Prefix) {
			return true
		}
	}
	return false
}

// add inserts g; existing reports that it was there already.
func (p *policy) add(g Grant) (existing bool, err error) {
	if err := g.validate(); err != nil {
		return false, err
	}
	i, found := slices.BinarySearchFunc(p.grants, g, compareGrants)
	if found {
		return true, nil
	}
	if len(p.grants) >= MaxGrants {
		return false, fmt.Errorf("%w: the policy holds %d, the limit", ErrTooManyGrants, MaxGrants)
	}
	p.grants = slices.Insert(p.grants, i, g)
	return false, nil
}

// remove deletes g; absent reports that it was not there.
func (p *policy) remove(g Grant) (absent bool) {
	i, found := slices.BinarySearchFunc(p.grants, g, compareGrants)
	if !found {
		return true
	}
	p.grants = slices.Delete(p.grants, i, i+1)
	return false
}

// restorePolicy returns the policy of a snapshot's grants, checking the
// invariant.
func restorePolicy(grants []Grant) (policy, error) {
	if len(grants) > MaxGrants {
		return policy{}, fmt.Errorf("%d grants, the limit is %d", len(grants), MaxGrants)
	}
	for i, g := range grants {
		if err := g.validate(); err != nil {
			return policy{}, err
		}
		if i > 0 && compareGrants(grants[i-1], g) >= 0 {
			return policy{}, fmt.Errorf("grants not sorted and unique at %d", i)
		}
	}
	return policy{grants: slices.Clone(grants)}, nil
}
