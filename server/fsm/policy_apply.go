package fsm

import "fmt"

// authorize refuses principal's use of perm on name unless the policy
// allows it.
func (f *Machine) authorize(principal string, perm Permission, name string) error {
	if f.policy.allows(principal, perm, name) {
		return nil
	}
	if perm == PermAdmin {
		return fmt.Errorf("%w: %q is not an administrator", ErrPermissionDenied, principal)
	}
	return fmt.Errorf("%w: %q may not %s %q", ErrPermissionDenied, principal, perm, name)
}

// changePolicy applies CmdGrant or CmdRevoke: the issuer
// (Command.Principal) must be an administrator. A repeated grant, or the
// revocation of an absent grant, succeeds with Duplicate.
func (f *Machine) changePolicy(cmd Command) Result {
	if err := f.authorize(cmd.Principal, PermAdmin, ""); err != nil {
		return refused(err)
	}
	var g Grant
	if err := f.codec.DecodeBody(cmd, &g); err != nil {
		return refused(err)
	}
	if cmd.Type == CmdRevoke {
		if err := g.validate(); err != nil {
			return refused(err)
		}
		return Result{Duplicate: f.policy.remove(g)}
	}
	existing, err := f.policy.add(g)
	if err != nil {
		return refused(err)
	}
	return Result{Duplicate: existing}
}

// Allowed reports whether principal may use perm on the lock name (""
// for admin): what the command would be decided at the applied index.
// "" (no TLS) and RootPrincipal are always allowed.
func (f *Machine) Allowed(principal string, perm Permission, name string) bool {
	return f.policy.allows(principal, perm, name)
}

// Authorize is Allowed as an error wrapping ErrPermissionDenied.
func (f *Machine) Authorize(principal string, perm Permission, name string) error {
	return f.authorize(principal, perm, name)
}

// Grants returns a copy of the policy, sorted by principal, permission
// and prefix.
func (f *Machine) Grants() []Grant { return append([]Grant(nil), f.policy.grants...) }
