package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lockd/lockd/locks"
)

func (h *fsmHarness) grant(issuer string, g Grant) Result {
	h.t.Helper()
	res, _ := h.cmd(Command{Type: CmdGrant, Principal: issuer}, &g)
	return res
}

func (h *fsmHarness) revoke(issuer string, g Grant) Result {
	h.t.Helper()
	res, _ := h.cmd(Command{Type: CmdRevoke, Principal: issuer}, &g)
	return res
}

// sessionOf returns the session principal opened (opening it the first
// time, with the secret asOwner sends): a session acts only for its owner.
func (h *fsmHarness) sessionOf(principal string) uint64 {
	h.t.Helper()
	if s, ok := h.owners[principal]; ok {
		return s
	}
	if h.owners == nil {
		h.owners = map[string]uint64{}
	}
	s := h.openOwned("k-"+principal, principal, "s-"+principal)
	h.owners[principal] = s
	return s
}

// asOwner is cmd as sent by principal with the secret of sessionOf.
func asOwner(cmd Command, principal string) Command { return owned(cmd, principal, "s-"+principal) }

func (h *fsmHarness) acquireAs(principal string, name string) Result {
	h.t.Helper()
	cmd := asOwner(h.writeCmd(h.sessionOf(principal), CmdAcquire), principal)
	res, _ := h.cmd(cmd, &AcquireBody{Name: name, Mode: locks.Exclusive})
	return res
}

func TestPolicyDefaultDeniesAllButRootAndAnonymous(t *testing.T) {
	h := newFSMHarness(t)
	if res := h.acquireAs("alice", "jobs/a"); !errors.Is(res.Err, ErrPermissionDenied) {
		t.Fatalf("alice without a grant: %+v, want ErrPermissionDenied", res)
	}
	if _, n := h.f.SessionLockCount(h.sessionOf("alice"), "jobs/a"); n {
		t.Fatal("a denied acquire changed the lock table")
	}
	if res := h.acquireAs(RootPrincipal, "jobs/a"); res.Err != nil || !res.Granted {
		t.Fatalf("root: %+v", res)
	}
	if res := h.acquireAs("", "jobs/b"); res.Err != nil || !res.Granted {
		t.Fatalf("no principal (authorization off): %+v", res)
	}
	for _, p := range []Permission{PermLock, PermRead, PermObserve, PermAdmin} {
		if h.f.Allowed("alice", p, "x") || !h.f.Allowed(RootPrincipal, p, "x") || !h.f.Allowed("", p, "x") {
			t.Fatalf("%v: default decisions wrong", p)
		}
	}
}

func TestPolicyPrefixGrantAllowsExactlyItsPrefix(t *testing.T) {
	h := newFSMHarness(t)
	if res := h.grant(RootPrincipal, Grant{Principal: "alice", Permission: PermLock, Prefix: "jobs/"}); res.Err != nil || res.Duplicate {
		t.Fatalf("grant: %+v", res)
	}
	if res := h.acquireAs("alice", "jobs/a"); res.Err != nil || !res.Granted {
		t.Fatalf("inside the prefix: %+v", res)
	}
	for _, name := range []string{"job", "jobs", "other/jobs/a", "Jobs/a"} {
		if res := h.acquireAs("alice", name); !errors.Is(res.Err, ErrPermissionDenied) {
			t.Fatalf("%q outside the prefix: %+v", name, res)
		}
	}
	if h.f.Allowed("alice", PermObserve, "jobs/a") || h.f.Allowed("alice", PermAdmin, "") || h.f.Allowed("bob", PermLock, "jobs/a") {
		t.Fatal("a lock grant allowed another permission or principal")
	}
	if !h.f.Allowed("alice", PermRead, "jobs/a") || h.f.Allowed("alice", PermRead, "other/a") {
		t.Fatal("a lock grant implies read on its prefix, and only there")
	}
}

func TestPolicyWildcardAndAdminImplyAsDocumented(t *testing.T) {
	h := newFSMHarness(t)
	h.grant(RootPrincipal, Grant{Principal: "w", Permission: PermObserve, Prefix: "o/"})
	h.grant(RootPrincipal, Grant{Principal: "r", Permission: PermRead})
	if !h.f.Allowed("w", PermRead, "o/1") || h.f.Allowed("w", PermLock, "o/1") {
		t.Fatal("observe implies read, and not lock")
	}
	if h.f.Allowed("r", PermLock, "x") || h.f.Allowed("r", PermObserve, "x") {
		t.Fatal("read implies nothing else")
	}
	h.grant(RootPrincipal, Grant{Principal: AnyPrincipal, Permission: PermRead, Prefix: "pub/"})
	h.grant(RootPrincipal, Grant{Principal: "ops", Permission: PermAdmin})
	if !h.f.Allowed("anyone", PermRead, "pub/x") || h.f.Allowed("anyone", PermRead, "priv/x") {
		t.Fatal("wildcard grant")
	}
	for _, p := range []Permission{PermLock, PermRead, PermObserve, PermAdmin} {
		if !h.f.Allowed("ops", p, "any/name") {
			t.Fatalf("admin does not imply %v", p)
		}
	}
}

func TestPolicyChangesNeedAnAdministrator(t *testing.T) {
	h := newFSMHarness(t)
	g := Grant{Principal: "mallory", Permission: PermAdmin}
	for _, issuer := range []string{"mallory", "bob"} {
		if res := h.grant(issuer, g); !errors.Is(res.Err, ErrPermissionDenied) {
			t.Fatalf("grant by %s: %+v", issuer, res)
		}
	}
	if len(h.f.Grants()) != 0 {
		t.Fatalf("grants = %v after refused grants", h.f.Grants())
	}
	h.grant(RootPrincipal, Grant{Principal: "ops", Permission: PermAdmin})
	if res := h.grant("ops", Grant{Principal: "bob", Permission: PermLock}); res.Err != nil {
		t.Fatalf("grant by an admin: %+v", res)
	}
	if res := h.revoke("bob", Grant{Principal: "bob", Permission: PermLock}); !errors.Is(res.Err, ErrPermissionDenied) {
		t.Fatalf("revoke by a non-admin: %+v", res)
	}
	if !h.f.Allowed("bob", PermLock, "x") {
		t.Fatal("a refused revoke took effect")
	}
}

func TestPolicyRevokeTakesEffectAndRepeatsAreDuplicates(t *testing.T) {
	h := newFSMHarness(t)
	g := Grant{Principal: "alice", Permission: PermLock, Prefix: "a/"}
	h.grant(RootPrincipal, g)
	if res := h.grant(RootPrincipal, g); res.Err != nil || !res.Duplicate {
		t.Fatalf("repeated grant: %+v", res)
	}
	if res := h.acquireAs("alice", "a/1"); !res.Granted {
		t.Fatalf("before revoke: %+v", res)
	}
	if res := h.revoke(RootPrincipal, g); res.Err != nil || res.Duplicate {
		t.Fatalf("revoke: %+v", res)
	}
	if res := h.revoke(RootPrincipal, g); res.Err != nil || !res.Duplicate {
		t.Fatalf("repeated revoke: %+v", res)
	}
	if res := h.acquireAs("alice", "a/2"); !errors.Is(res.Err, ErrPermissionDenied) {
		t.Fatalf("after revoke: %+v", res)
	}
}

// A retry of a request answered before a revocation gets its stored
// answer: the dedup window is consulted before the permission.
func TestPolicyRetryOfAnsweredWriteGetsStoredAnswerAfterRevoke(t *testing.T) {
	h := newFSMHarness(t)
	g := Grant{Principal: "alice", Permission: PermLock}
	h.grant(RootPrincipal, g)
	cmd := asOwner(h.writeCmd(h.sessionOf("alice"), CmdAcquire), "alice")
	first, _ := h.cmd(cmd, &AcquireBody{Name: "n", Mode: locks.Exclusive})
	h.revoke(RootPrincipal, g)
	again, _ := h.cmd(cmd, &AcquireBody{Name: "n", Mode: locks.Exclusive})
	if again.Err != nil || !again.Duplicate || again.Token != first.Token {
		t.Fatalf("retry = %+v, want the stored %+v", again, first)
	}
}

func TestPolicyRefusesInvalidGrants(t *testing.T) {
	h := newFSMHarness(t)
	long := string(bytes.Repeat([]byte("p"), MaxPrefixLen+1))
	for name, g := range map[string]Grant{
		"no principal":     {Permission: PermLock},
		"root":             {Principal: RootPrincipal, Permission: PermLock},
		"no permission":    {Principal: "a"},
		"unknown perm":     {Principal: "a", Permission: permLimit},
		"admin prefix":     {Principal: "a", Permission: PermAdmin, Prefix: "x"},
		"long prefix":      {Principal: "a", Permission: PermLock, Prefix: long},
		"NUL in principal": {Principal: "a\x00", Permission: PermLock},
		"bad UTF-8":        {Principal: "a", Permission: PermLock, Prefix: "\xff"},
	} {
		if res := h.grant(RootPrincipal, g); !errors.Is(res.Err, ErrInvalidGrant) {
			t.Errorf("%s: %+v, want ErrInvalidGrant", name, res)
		}
	}
	if len(h.f.Grants()) != 0 {
		t.Fatalf("grants = %v", h.f.Grants())
	}
}

func TestPolicyIsBounded(t *testing.T) {
	h := newFSMHarness(t)
	for i := range MaxGrants {
		if res := h.grant(RootPrincipal, Grant{Principal: fmt.Sprintf("p%d", i), Permission: PermRead}); res.Err != nil {
			t.Fatalf("grant %d: %v", i, res.Err)
		}
	}
	if res := h.grant(RootPrincipal, Grant{Principal: "one-more", Permission: PermRead}); !errors.Is(res.Err, ErrTooManyGrants) {
		t.Fatalf("grant beyond MaxGrants: %+v", res)
	}
	if res := h.grant(RootPrincipal, Grant{Principal: "p0", Permission: PermRead}); res.Err != nil || !res.Duplicate {
		t.Fatalf("repeating an existing grant at the limit: %+v", res)
	}
}

func TestPolicySurvivesSnapshotAndEmptyPolicyKeepsOldLayout(t *testing.T) {
	h := newFSMHarness(t)
	h.acquireAs("", "x")
	before, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// The layout without a policy is exactly the version-1 layout.
	var st fsmSnapshot
	if err := h.c.decode(before, &st); err != nil {
		t.Fatal(err)
	}
	type v1 struct {
		Version  uint8
		Index    uint64
		Time     int64
		Sessions []byte
		Locks    []byte
	}
	old, _ := h.c.encode(&v1{st.Version, st.Index, st.Time, st.Sessions, st.Locks})
	if !bytes.Equal(old, before) {
		t.Fatal("a snapshot without grants differs from the version-1 layout")
	}

	grants := []Grant{{Principal: "b", Permission: PermRead, Prefix: "r/"}, {Principal: "a", Permission: PermLock, Prefix: "l/"}}
	for _, g := range grants {
		h.grant(RootPrincipal, g)
	}
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other := newFSMHarness(t)
	if err := other.f.Restore(old); err != nil || len(other.f.Grants()) != 0 {
		t.Fatalf("restore of a version-1 snapshot: %v, grants %v", err, other.f.Grants())
	}
	if err := other.f.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !other.f.Allowed("a", PermLock, "l/1") || !other.f.Allowed("b", PermRead, "r/1") || other.f.Allowed("a", PermRead, "r/1") {
		t.Fatalf("restored policy: %v", other.f.Grants())
	}
	if again, _ := other.f.Snapshot(); !bytes.Equal(again, snap) {
		t.Fatal("restored state snapshots differently")
	}
}

func TestRestoreRejectsInvalidPolicy(t *testing.T) {
	h := newFSMHarness(t)
	snap, _ := h.f.Snapshot()
	var st fsmSnapshot
	if err := h.c.decode(snap, &st); err != nil {
		t.Fatal(err)
	}
	for name, grants := range map[string][]Grant{
		"invalid":  {{Principal: RootPrincipal, Permission: PermLock}},
		"unsorted": {{Principal: "b", Permission: PermLock}, {Principal: "a", Permission: PermLock}},
		"repeated": {{Principal: "a", Permission: PermLock}, {Principal: "a", Permission: PermLock}},
	} {
		st.Policy = grants
		data, _ := h.c.encode(&st)
		if err := h.f.Restore(data); !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: err = %v, want ErrCorruptSnapshot", name, err)
		}
	}
	if len(h.f.Grants()) != 0 {
		t.Fatal("a refused restore changed the policy")
	}
}

// Replicas that apply the same entries decide every command alike, also
// one that restored a snapshot taken at a random point: random grants,
// revokes by random issuers and acquires by random principals, by seed.
func TestPolicyDecisionsAgreeAcrossSnapshotRestore(t *testing.T) {
	principals := []string{"", RootPrincipal, "a", "b", "c"}
	prefixes := []string{"", "x/", "x/y", "z"}
	perms := []Permission{PermLock, PermRead, PermObserve, PermAdmin}
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		h := newFSMHarness(t)
		var entries [][]byte
		session := map[string]uint64{}
		for i, p := range principals {
			// In a, the opens are entries 1 to len(principals).
			session[p] = uint64(i + 1)
			entries = append(entries, h.encode(asOwner(Command{Type: CmdOpenSession}, p), OpenSessionBody{Key: "k-" + p}))
		}
		for i := 0; i < 120; i++ {
			who := principals[rng.IntN(len(principals))]
			switch rng.IntN(3) {
			case 0, 1:
				g := Grant{Principal: principals[2+rng.IntN(3)], Permission: perms[rng.IntN(len(perms))], Prefix: prefixes[rng.IntN(len(prefixes))]}
				if g.Permission == PermAdmin {
					g.Prefix = ""
				}
				typ := CmdGrant
				if rng.IntN(2) == 0 {
					typ = CmdRevoke
				}
				entries = append(entries, h.encode(Command{Type: typ, Principal: who}, &g))
			default:
				cmd := asOwner(h.writeCmd(session[who], CmdAcquire), who)
				name := prefixes[rng.IntN(len(prefixes))] + fmt.Sprint(rng.IntN(3))
				entries = append(entries, h.encode(cmd, &AcquireBody{Name: name, Mode: locks.Shared}))
			}
		}
		cut := rng.IntN(len(entries))
		a := newFSMHarness(t)
		var b *fsmHarness
		for i, e := range entries {
			if i == cut {
				snap, err := a.f.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				b = newFSMHarness(t)
				if err := b.f.Restore(snap); err != nil {
					t.Fatalf("seed %d: restore: %v", seed, err)
				}
				b.index = a.index
			}
			ra, _ := a.raw(e)
			if b == nil {
				continue
			}
			rb, _ := b.raw(e)
			if errors.Is(ra.Err, ErrPermissionDenied) != errors.Is(rb.Err, ErrPermissionDenied) || ra.Granted != rb.Granted || ra.Duplicate != rb.Duplicate {
				t.Fatalf("seed %d: entry %d decided %+v on one replica and %+v on the restored one", seed, i, ra, rb)
			}
		}
		sa, _ := a.f.Snapshot()
		sb, _ := b.f.Snapshot()
		if !bytes.Equal(sa, sb) {
			t.Fatalf("seed %d: the replicas' states differ", seed)
		}
	}
}
