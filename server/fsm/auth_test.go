package fsm

import (
	"testing"

	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/sessions"
)

// owned returns cmd as proposed by principal with secret.
func owned(cmd Command, principal, secret string) Command {
	cmd.Principal = principal
	cmd.SecretHash = sessions.HashSecret([]byte(secret))
	return cmd
}

// allowLocks grants every principal the lock permission on every name, so
// that these tests see the session checks alone (policy_test.go covers
// the policy).
func (h *fsmHarness) allowLocks() {
	h.t.Helper()
	h.mustOK(h.grant(RootPrincipal, Grant{Principal: AnyPrincipal, Permission: PermLock}))
}

func (h *fsmHarness) openOwned(key, principal, secret string) uint64 {
	h.t.Helper()
	res, _ := h.cmd(owned(Command{Type: CmdOpenSession}, principal, secret), OpenSessionBody{Key: key})
	h.mustOK(res)
	return res.Session
}

// Every client command on a session is refused, and changes nothing, unless
// it comes from the session's principal with the session's secret.
func TestOnlyTheOwnerActsOnASession(t *testing.T) {
	strangers := []struct {
		name              string
		principal, secret string
		want              error
	}{
		{"another principal with the secret", "bob", "alice-secret", sessions.ErrSessionNotOwned},
		{"root", "root", "alice-secret", sessions.ErrSessionNotOwned},
		{"the owner's name with a guessed secret", "alice", "guess", sessions.ErrBadSessionSecret},
		{"no credentials at all", "", "", sessions.ErrSessionNotOwned},
	}
	for _, st := range strangers {
		t.Run(st.name, func(t *testing.T) {
			h := newFSMHarness(t)
			h.allowLocks()
			a := h.openOwned("ka", "alice", "alice-secret")
			res, _ := h.cmd(owned(h.writeCmd(a, CmdAcquire), "alice", "alice-secret"), AcquireBody{Name: "l", Mode: locks.Exclusive})
			h.mustOK(res)
			token := res.Token
			before := h.state()
			attempts := []struct {
				cmd  Command
				body any
			}{
				{Command{Type: CmdCloseSession, Session: a}, nil},
				{Command{Type: CmdAcquire, Session: a, Seq: 2, LowestUnanswered: 2}, AcquireBody{Name: "m", Mode: locks.Exclusive}},
				{Command{Type: CmdRelease, Session: a, Seq: 2, LowestUnanswered: 2}, ReleaseBody{Name: "l", Token: token}},
				{Command{Type: CmdProclaim, Session: a, Seq: 2, LowestUnanswered: 2}, ProclaimBody{Name: "l", Token: token, Value: []byte("x")}},
				{Command{Type: CmdCancelWait, Session: a, Seq: 2, LowestUnanswered: 2}, CancelWaitBody{Name: "l"}},
				// The victim's seq 1 is kept: a stranger must not read its answer.
				{Command{Type: CmdAcquire, Session: a, Seq: 1, LowestUnanswered: 1}, AcquireBody{Name: "l", Mode: locks.Exclusive}},
			}
			for _, at := range attempts {
				cmd := at.cmd
				if st.principal != "" || st.secret != "" {
					cmd = owned(cmd, st.principal, st.secret)
				}
				res, _ := h.cmd(cmd, at.body)
				wantErr(t, res, st.want)
				h.unchanged(before, cmd.Type.String()+" by a stranger")
			}
			// The owner still can.
			res, _ = h.cmd(owned(Command{Type: CmdCloseSession, Session: a}, "alice", "alice-secret"), nil)
			h.mustOK(res)
		})
	}
}

func TestRetriedOpenByAnotherPrincipalIsRefused(t *testing.T) {
	h := newFSMHarness(t)
	h.allowLocks()
	a := h.openOwned("k", "alice", "s")
	before := h.state()
	res, _ := h.cmd(owned(Command{Type: CmdOpenSession}, "bob", "s"), OpenSessionBody{Key: "k"})
	wantErr(t, res, sessions.ErrSessionNotOwned)
	res, _ = h.cmd(owned(Command{Type: CmdOpenSession}, "alice", "other"), OpenSessionBody{Key: "k"})
	wantErr(t, res, sessions.ErrBadSessionSecret)
	h.unchanged(before, "a foreign open with the owner's key")
	res, _ = h.cmd(owned(Command{Type: CmdOpenSession}, "alice", "s"), OpenSessionBody{Key: "k"})
	if res.Err != nil || !res.Duplicate || res.Session != a {
		t.Fatalf("retried open by the owner = %+v, want session %d", res, a)
	}
	if info, _ := h.f.Session(a); info.Owner != "alice" {
		t.Fatalf("owner = %q, want alice", info.Owner)
	}
}

// The attack: a request with the victim's next sequence number, so that
// the victim's own request would receive its stored answer. Even from the
// owner itself (a buggy client), a kept seq answers only the same request.
func TestReusedSequenceNumberWithAnotherRequestChangesNothing(t *testing.T) {
	h := newFSMHarness(t)
	h.allowLocks()
	a := h.openOwned("", "alice", "s")
	first := owned(Command{Type: CmdAcquire, Session: a, Seq: 1, LowestUnanswered: 1}, "alice", "s")
	res, _ := h.cmd(first, AcquireBody{Name: "l", Mode: locks.Exclusive})
	h.mustOK(res)
	before := h.state()
	for _, body := range []any{
		AcquireBody{Name: "other", Mode: locks.Exclusive},
		AcquireBody{Name: "l", Mode: locks.Shared},
		AcquireBody{Name: "l", Mode: locks.Exclusive, Value: []byte("v")},
	} {
		res, _ := h.cmd(first, body)
		wantErr(t, res, sessions.ErrSequenceReused)
		h.unchanged(before, "a reused seq")
	}
	rel := first
	rel.Type = CmdRelease
	res2, _ := h.cmd(rel, ReleaseBody{Name: "l", Token: res.Token})
	wantErr(t, res2, sessions.ErrSequenceReused)
	h.unchanged(before, "a reused seq of another type")
	// The genuine retry still gets its answer.
	again, _ := h.cmd(first, AcquireBody{Name: "l", Mode: locks.Exclusive})
	if again.Err != nil || !again.Duplicate || again.Token != res.Token {
		t.Fatalf("retry = %+v, want the kept grant %d", again, res.Token)
	}
}

func TestSequenceNumberFarAboveTheMarkIsRefused(t *testing.T) {
	h := newFSMHarness(t)
	h.allowLocks()
	a := h.openOwned("", "alice", "s")
	before := h.state()
	for _, c := range []struct{ seq, low uint64 }{{1 << 32, 1}, {1<<64 - 1, 1<<64 - 1}} {
		res, _ := h.cmd(owned(Command{Type: CmdAcquire, Session: a, Seq: c.seq, LowestUnanswered: c.low}, "alice", "s"),
			AcquireBody{Name: "l", Mode: locks.Exclusive})
		wantErr(t, res, sessions.ErrSequenceOutOfRange)
		h.unchanged(before, "an out-of-range seq")
	}
}

// Entries written before sessions had owners carry no principal and no
// secret hash, and neither do the sessions they opened: replaying such a
// log gives the state it gave, while a current request on such a session
// (which always carries a secret hash) is refused.
func TestEntriesWithoutCredentialsReplayAsBefore(t *testing.T) {
	h := newFSMHarness(t)
	h.allowLocks()
	s := h.open("", 0)
	tok := h.hold(s, "l", locks.Exclusive)
	res, _ := h.release(s, "l", tok)
	h.mustOK(res)
	res, _ = h.cmd(owned(h.writeCmd(s, CmdAcquire), "", "any"), AcquireBody{Name: "l", Mode: locks.Exclusive})
	wantErr(t, res, sessions.ErrBadSessionSecret)
}

func TestSnapshotKeepsSessionOwners(t *testing.T) {
	h := newFSMHarness(t)
	h.allowLocks()
	a := h.openOwned("k", "alice", "s")
	f2, _ := New(DefaultConfig())
	if err := f2.Restore(h.snapshot()); err != nil {
		t.Fatal(err)
	}
	h.f = f2
	res, _ := h.cmd(owned(Command{Type: CmdCloseSession, Session: a}, "bob", "s"), nil)
	wantErr(t, res, sessions.ErrSessionNotOwned)
	res, _ = h.cmd(owned(Command{Type: CmdCloseSession, Session: a}, "alice", "s"), nil)
	h.mustOK(res)
}

// An envelope of the older layout (no Principal, no SecretHash) decodes,
// by the hand-written path, to a command without credentials.
func TestEnvelopeWithoutCredentialsDecodes(t *testing.T) {
	type oldCommand struct {
		Type             CommandType
		Session          uint64
		Seq              uint64
		LowestUnanswered uint64
		Time             int64
		Body             []byte
	}
	c := NewCodec()
	old, err := c.encode(&oldCommand{Type: CmdRelease, Session: 3, Seq: 4, LowestUnanswered: 4, Time: 5, Body: []byte{0x80}})
	if err != nil {
		t.Fatal(err)
	}
	cmd, ok := decodeCommandFast(old)
	if !ok || cmd.Type != CmdRelease || cmd.Session != 3 || cmd.Principal != "" || cmd.SecretHash != nil {
		t.Fatalf("decodeCommandFast(old) = %+v, %v", cmd, ok)
	}
}
