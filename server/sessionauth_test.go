package server

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lockd/lockd/api"
)

// victimState is what a stranger must not change: the session's view and
// its lock's.
func victimState(t *testing.T, owner *svcClient, sess uint64, name string) string {
	t.Helper()
	var si api.SessionInfo
	owner.must(api.MsgGetSession, &api.GetSessionRequest{Session: sess}, &si)
	var li api.LockInfo
	owner.must(api.MsgGetLock, &api.GetLockRequest{Name: name}, &li)
	return fmt.Sprintf("%+v %+v", si, li)
}

// strangerAttacks tries everything one can do on a session: every attempt
// must get code want, and the victim's session and lock must not change.
// The stranger knows the session ID and the lock's token (both are
// listed) and the owner's sequence numbers.
func strangerAttacks(t *testing.T, owner, stranger *svcClient, sess uint64, name string, token uint64, want api.Code) {
	t.Helper()
	before := victimState(t, owner, sess, name)
	// The owner's next sequence number: what the stranger would use so
	// that the owner's own request gets the stranger's stored answer.
	owner.mu.Lock()
	next := owner.seq[sess] + 1
	owner.mu.Unlock()
	w := api.Write{Session: sess, Seq: next, LowestUnanswered: next}
	attempts := []struct {
		what string
		typ  api.MsgType
		req  any
	}{
		{"close", api.MsgCloseSession, &api.CloseSessionRequest{Session: sess}},
		{"keep-alive", api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{sess}}},
		{"acquire within", api.MsgAcquire, &api.AcquireRequest{Write: w, Name: "stranger/lock", Mode: api.ModeExclusive}},
		{"release", api.MsgRelease, &api.ReleaseRequest{Write: w, Name: name, Token: token}},
		{"cancel", api.MsgCancelWait, &api.CancelWaitRequest{Write: w, Name: name}},
		{"proclaim", api.MsgProclaim, &api.ProclaimRequest{Write: w, Name: name, Token: token, Value: []byte("mine")}},
		{"attach", api.MsgAttach, &api.AttachRequest{Sessions: []uint64{sess}}},
	}
	for _, at := range attempts {
		if got := codeOf(t, stranger.call(at.typ, at.req, nil)); got != want {
			t.Errorf("%s by a stranger: code %d, want %d", at.what, got, want)
		}
	}
	if after := victimState(t, owner, sess, name); after != before {
		t.Fatalf("strangers changed the victim's state:\n%s\nto\n%s", before, after)
	}
	// The owner's own request with that sequence number is applied afresh,
	// not answered with anything the stranger sent.
	var r api.AcquireResponse
	owner.must(api.MsgAcquire, &api.AcquireRequest{Write: owner.write(sess), Name: fmt.Sprintf("owner/%d", next), Mode: api.ModeExclusive}, &r)
	if !r.Granted {
		t.Fatalf("the owner's next acquire = %+v, want granted", r)
	}
	owner.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{sess}}, nil)
}

func sessionRefusals(t *testing.T, s *Server, reason string) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.metrics.sessionRefusals.WithLabelValues(reason).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// Principal B cannot close, keep alive or act within A's session, even
// knowing A's secret; nor can root. The session lists A as its owner.
func TestSessionActsOnlyForThePrincipalThatOpenedIt(t *testing.T) {
	ca := newTestCA(t)
	c := newSvcCluster(t, 1, ca.withTLS)
	lead := c.leader()
	// Every principal may lock every name: the refusals below are the
	// session's alone.
	grantAs(t, dialClientWith(t, lead.ClientAddr(), ca.clientRPC("root")), api.Grant{Principal: "*", Permission: api.PermissionLock})
	alice := dialClientWith(t, lead.ClientAddr(), ca.clientRPC("alice"))
	sess := alice.open(time.Minute)
	r, err := alice.acquire(sess, "owned/a", false)
	if err != nil || !r.Granted {
		t.Fatalf("acquire: %+v %v", r, err)
	}
	var si api.SessionInfo
	alice.must(api.MsgGetSession, &api.GetSessionRequest{Session: sess}, &si)
	if si.Owner != "alice" {
		t.Fatalf("session owner = %q, want alice", si.Owner)
	}
	for _, name := range []string{"bob", "root"} {
		stranger := dialClientWith(t, lead.ClientAddr(), ca.clientRPC(name)) // same secret as alice's
		strangerAttacks(t, alice, stranger, sess, "owned/a", r.Token, api.CodeSessionNotOwned)
	}
	if n := sessionRefusals(t, lead, "not_owned"); n < 14 {
		t.Errorf("lockd_session_refusals_total{reason=not_owned} = %v, want at least 14", n)
	}
}

// Without TLS every client is anonymous: the secret alone tells the owner
// from a stranger.
func TestSessionRefusesRequestsWithoutItsSecret(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	lead := c.leader()
	owner := dialClient(t, lead.ClientAddr())
	sess := owner.open(time.Minute)
	r, err := owner.acquire(sess, "secret/a", false)
	if err != nil || !r.Granted {
		t.Fatalf("acquire: %+v %v", r, err)
	}
	for _, secret := range [][]byte{{}, bytes.Repeat([]byte{1}, api.SessionSecretSize), harnessSecret[:16]} {
		stranger := dialClient(t, lead.ClientAddr())
		stranger.secret = secret
		strangerAttacks(t, owner, stranger, sess, "secret/a", r.Token, api.CodeBadSessionSecret)
	}
	if n := sessionRefusals(t, lead, "bad_secret"); n < 21 {
		t.Errorf("lockd_session_refusals_total{reason=bad_secret} = %v, want at least 21", n)
	}
	// An open without a secret of the right size is refused.
	stranger := dialClient(t, lead.ClientAddr())
	stranger.secret = []byte("short")
	wantCode(t, stranger.call(api.MsgOpenSession, &api.OpenSessionRequest{Key: "k", TTL: int64(time.Minute)}, nil), api.CodeBadSessionSecret)
}

// A retried open with the owner's idempotency key but another secret does
// not hand out the owner's session.
func TestRetriedOpenWithAnotherSecretIsRefused(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	cl := dialClient(t, c.leader().ClientAddr())
	var first api.OpenSessionResponse
	cl.must(api.MsgOpenSession, &api.OpenSessionRequest{Key: "shared-key", TTL: int64(time.Minute)}, &first)
	wantCode(t, cl.call(api.MsgOpenSession, &api.OpenSessionRequest{Key: "shared-key", TTL: int64(time.Minute),
		Secret: bytes.Repeat([]byte{7}, api.SessionSecretSize)}, nil), api.CodeBadSessionSecret)
	var again api.OpenSessionResponse
	cl.must(api.MsgOpenSession, &api.OpenSessionRequest{Key: "shared-key", TTL: int64(time.Minute)}, &again)
	if again.Session != first.Session {
		t.Fatalf("retried open = session %d, want %d", again.Session, first.Session)
	}
}

// secretLeaks reports where text shows secret in any common form.
func secretLeaks(text string, secret []byte) []string {
	var found []string
	for form, s := range map[string]string{
		"raw": string(secret), "hex": hex.EncodeToString(secret), "base64": base64.StdEncoding.EncodeToString(secret),
		"base64url": base64.RawURLEncoding.EncodeToString(secret), "%v": fmt.Sprint(secret),
	} {
		if strings.Contains(text, s) {
			found = append(found, form)
		}
	}
	return found
}

// The secret is never listed, logged or put in metrics: not by GetSession,
// ListSessions, the debug log of every node, nor the metrics.
func TestSessionSecretIsNeverListedOrLogged(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789ABCDEF") // printable: any rendering would show
	// Negative control: the checker finds the secret where it is.
	if got := secretLeaks(fmt.Sprintf("x %s %x %v", secret, secret, secret), secret); len(got) < 3 {
		t.Fatalf("checker misses a planted secret: found %v", got)
	}
	c, logs := loggedCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	cl.secret = secret
	sess := cl.open(time.Minute)
	if _, err := cl.acquire(sess, "leak/a", false); err != nil {
		t.Fatal(err)
	}
	cl.must(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{sess}}, nil)
	stranger := dialClient(t, lead.ClientAddr())
	wantCode(t, stranger.call(api.MsgCloseSession, &api.CloseSessionRequest{Session: sess}, nil), api.CodeBadSessionSecret)
	var si api.SessionInfo
	cl.must(api.MsgGetSession, &api.GetSessionRequest{Session: sess}, &si)
	var ls api.ListSessionsResponse
	cl.must(api.MsgListSessions, &api.ListSessionsRequest{}, &ls)
	text := fmt.Sprintf("%+v %+v %#v %#v", si, ls, si, ls)
	for id, s := range c.servers {
		mfs, err := s.metrics.reg.(interface {
			Gather() ([]*dto.MetricFamily, error)
		}).Gather()
		if err != nil {
			t.Fatal(err)
		}
		text += fmt.Sprint(mfs) + logs[id].String()
	}
	if leaks := secretLeaks(text, secret); len(leaks) > 0 {
		t.Fatalf("the session secret shows (%v) in listings, logs or metrics", leaks)
	}
	if !strings.Contains(text, "leak/a") {
		t.Fatal("the listings checked do not show the session's lock: the check saw nothing")
	}
}

// A reused sequence number with a different request is refused and
// changes nothing; the genuine retry still gets its answer.
func TestReusedSequenceNumberWithAnotherRequestIsRefused(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	sess := cl.open(time.Minute)
	w := cl.write(sess)
	var first api.AcquireResponse
	cl.must(api.MsgAcquire, &api.AcquireRequest{Write: w, Name: "seq/a", Mode: api.ModeExclusive}, &first)
	before := victimState(t, cl, sess, "seq/b")
	wantCode(t, cl.call(api.MsgAcquire, &api.AcquireRequest{Write: w, Name: "seq/b", Mode: api.ModeExclusive}, nil), api.CodeSequenceReused)
	wantCode(t, cl.call(api.MsgRelease, &api.ReleaseRequest{Write: w, Name: "seq/a", Token: first.Token}, nil), api.CodeSequenceReused)
	if after := victimState(t, cl, sess, "seq/b"); after != before {
		t.Fatalf("a reused seq changed the state:\n%s\nto\n%s", before, after)
	}
	var again api.AcquireResponse
	cl.must(api.MsgAcquire, &api.AcquireRequest{Write: w, Name: "seq/a", Mode: api.ModeExclusive}, &again)
	if again != first {
		t.Fatalf("retry = %+v, want the first answer %+v", again, first)
	}
	if n := sessionRefusals(t, lead, "sequence_reused"); n != 2 {
		t.Errorf("lockd_session_refusals_total{reason=sequence_reused} = %v, want 2", n)
	}
}

// Nobody can push a session's mark to the end of the sequence range.
func TestSequenceNumberOutOfWindowIsRefused(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	sess := cl.open(time.Minute)
	for _, w := range []api.Write{
		{Session: sess, Seq: 1 << 32, LowestUnanswered: 1},
		{Session: sess, Seq: 1<<64 - 1, LowestUnanswered: 1<<64 - 1},
	} {
		wantCode(t, cl.call(api.MsgAcquire, &api.AcquireRequest{Write: w, Name: "range/a", Mode: api.ModeExclusive}, nil),
			api.CodeSequenceOutOfRange)
	}
	var si api.SessionInfo
	cl.must(api.MsgGetSession, &api.GetSessionRequest{Session: sess}, &si)
	if len(si.Held) != 0 {
		t.Fatalf("an out-of-range request took a lock: %+v", si)
	}
	if r, err := cl.acquire(sess, "range/a", false); err != nil || !r.Granted {
		t.Fatalf("the next in-range acquire = %+v, %v", r, err)
	}
	if n := sessionRefusals(t, lead, "sequence_out_of_range"); n != 2 {
		t.Errorf("lockd_session_refusals_total{reason=sequence_out_of_range} = %v, want 2", n)
	}
}

// Nobody can attach to a session before it exists (to receive the events
// of whoever opens it later), nor to one that ended; the owner can.
func TestAttachNeedsAnOpenSessionOfTheCaller(t *testing.T) {
	c := newSvcCluster(t, 1, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	sess := cl.open(time.Minute)
	wantCode(t, cl.call(api.MsgAttach, &api.AttachRequest{Sessions: []uint64{sess + 1000}}, nil), api.CodeUnknownSession)
	wantCode(t, cl.call(api.MsgAttach, &api.AttachRequest{Sessions: []uint64{sess}, Secrets: [][]byte{}}, nil), api.CodeInvalidRequest)
	cl.must(api.MsgAttach, &api.AttachRequest{Sessions: []uint64{sess}}, nil)
	cl.must(api.MsgCloseSession, &api.CloseSessionRequest{Session: sess}, nil)
	wantCode(t, cl.call(api.MsgAttach, &api.AttachRequest{Sessions: []uint64{sess}}, nil), api.CodeSessionClosed)
}
