package server

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// lockOp is one operation on the lock in a linearizability history.
type lockOp struct {
	kind    string // "acquire", "release", "check", "get"
	session uint64
	token   uint64
}

type lockOut struct {
	code    api.Code
	granted bool
	token   uint64 // acquire: granted token; get: holder's token
	current bool   // check
	holder  uint64 // get
}

// lockState is the model's state: who holds the lock with which token, and
// the highest token granted so far (fencing tokens only grow).
type lockState struct {
	holder, token, maxToken uint64
}

// lockModel is a sequential specification of one exclusive lock with
// try-acquire, release by token, CheckToken and GetLock.
func lockModel() porcupine.Model {
	return porcupine.Model{
		Init: func() any { return lockState{} },
		Step: func(st, in, out any) (bool, any) {
			s, op, o := st.(lockState), in.(lockOp), out.(lockOut)
			switch op.kind {
			case "acquire":
				switch {
				case o.code == api.CodeOK && o.granted:
					return s.holder == 0 && o.token > s.maxToken, lockState{holder: op.session, token: o.token, maxToken: o.token}
				case o.code == api.CodeLockHeld:
					return s.holder != 0 && s.holder != op.session, s
				case o.code == api.CodeAlreadyHolder:
					return s.holder == op.session, s
				}
			case "release":
				holds := s.holder == op.session && s.token == op.token
				switch o.code {
				case api.CodeOK:
					return holds, lockState{maxToken: s.maxToken}
				case api.CodeNotHolder:
					return !holds, s
				}
			case "check":
				return o.code == api.CodeOK && o.current == (s.holder != 0 && s.token == op.token), s
			case "get":
				return o.code == api.CodeOK && o.holder == s.holder && o.token == s.token, s
			}
			return false, s
		},
		DescribeOperation: func(in, out any) string {
			return fmt.Sprintf("%+v -> %+v", in, out)
		},
	}
}

// persistentCall sends req until it gets an answer, the way the SDK does:
// the same request (same Seq) again after a lost connection, a leader
// change or a timeout, following leader hints and otherwise trying the
// endpoints in turn. Deduplication makes the retries safe.
func persistentCall(t *testing.T, cl *svcClient, endpoints []string, typ api.MsgType, req, resp any) error {
	for attempt := 0; attempt < 500; attempt++ {
		err := cl.callRaw(typ, req, resp)
		var re *rpc.RemoteError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re) && re.Code >= 100 && re.Code < 200:
			return err // the state machine's answer
		case errors.As(err, &re) && api.Code(re.Code) == api.CodeNotLeader && re.Message != "":
			if cl.connect(re.Message) == nil {
				continue
			}
		}
		time.Sleep(10 * time.Millisecond) // bounded retry while the cluster recovers
		_ = cl.connect(endpoints[attempt%len(endpoints)])
	}
	t.Errorf("request %d got no answer after 500 attempts", typ)
	return errors.New("no answer")
}

// Reference: Herlihy & Wing — the lock's operations, issued concurrently
// by several sessions while the leader crashes and comes back, form a
// linearizable history (checked with porcupine), with fencing tokens that
// only grow. Writes are retried with the same Seq until answered.
func TestLockHistoryIsLinearizableAcrossLeaderCrash(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	var endpoints []string
	for _, id := range c.ids() {
		endpoints = append(endpoints, c.cfgs[id].ClientAddr)
	}
	const clients, opsPerClient = 4, 40
	start := time.Now()
	var mu sync.Mutex
	var history []porcupine.Operation
	record := func(id int, in lockOp, out lockOut, call time.Time) {
		mu.Lock()
		history = append(history, porcupine.Operation{ClientId: id, Input: in, Output: out,
			Call: int64(call.Sub(start)), Return: int64(time.Since(start))})
		mu.Unlock()
	}
	var done sync.WaitGroup
	var progress sync.WaitGroup
	progress.Add(clients)
	for id := 0; id < clients; id++ {
		cl := dialClient(t, c.leader().ClientAddr())
		s := cl.open(time.Hour)
		done.Add(1)
		go func() {
			defer done.Done()
			r := rand.New(rand.NewPCG(uint64(id)+1, 42))
			var held uint64
			seen := []uint64{0}
			for i := 0; i < opsPerClient; i++ {
				if i == opsPerClient/2 {
					progress.Done()
				}
				call := time.Now()
				switch k := r.IntN(10); {
				case k < 5 && held == 0:
					in := lockOp{kind: "acquire", session: s}
					var resp api.AcquireResponse
					err := persistentCall(t, cl, endpoints, api.MsgAcquire, &api.AcquireRequest{Write: cl.write(s), Name: "L", Mode: api.ModeExclusive}, &resp)
					out := lockOut{code: codeOf(t, err), granted: resp.Granted, token: resp.Token}
					if out.granted {
						held = resp.Token
						seen = append(seen, resp.Token)
					}
					record(id, in, out, call)
				case k < 5:
					in := lockOp{kind: "release", session: s, token: held}
					err := persistentCall(t, cl, endpoints, api.MsgRelease, &api.ReleaseRequest{Write: cl.write(s), Name: "L", Token: held}, nil)
					record(id, in, lockOut{code: codeOf(t, err)}, call)
					held = 0
				case k < 8:
					in := lockOp{kind: "check", token: seen[r.IntN(len(seen))]}
					var resp api.CheckTokenResponse
					err := persistentCall(t, cl, endpoints, api.MsgCheckToken, &api.CheckTokenRequest{Name: "L", Token: in.token}, &resp)
					record(id, in, lockOut{code: codeOf(t, err), current: resp.Current}, call)
				default:
					var resp api.LockInfo
					err := persistentCall(t, cl, endpoints, api.MsgGetLock, &api.GetLockRequest{Name: "L"}, &resp)
					out := lockOut{code: codeOf(t, err)}
					if len(resp.Holders) == 1 {
						out.holder, out.token = resp.Holders[0].Session, resp.Holders[0].Token
					}
					record(id, lockOp{kind: "get"}, out, call)
				}
			}
		}()
	}
	// Crash the leader while the clients are half-way, then bring it back.
	progress.Wait()
	lead := c.leader()
	c.stop(lead.ID())
	c.leader()
	c.start(lead.ID())
	done.Wait()
	if len(history) != clients*opsPerClient {
		t.Fatalf("history has %d operations, want %d", len(history), clients*opsPerClient)
	}
	res, info := porcupine.CheckOperationsVerbose(lockModel(), history, 30*time.Second)
	if res != porcupine.Ok {
		_ = info
		for _, op := range history {
			t.Logf("client %d [%d, %d] %+v -> %+v", op.ClientId, op.Call, op.Return, op.Input, op.Output)
		}
		t.Fatalf("history is not linearizable (%v)", res)
	}
}

// The model is not vacuous: it rejects two overlapping grants, a token
// that goes backwards, and a stale read.
func TestLockModelRejectsViolations(t *testing.T) {
	op := func(id int, call, ret int64, in lockOp, out lockOut) porcupine.Operation {
		return porcupine.Operation{ClientId: id, Call: call, Return: ret, Input: in, Output: out}
	}
	ok := []porcupine.Operation{
		op(0, 0, 1, lockOp{kind: "acquire", session: 1}, lockOut{granted: true, token: 5}),
		op(1, 2, 3, lockOp{kind: "acquire", session: 2}, lockOut{code: api.CodeLockHeld}),
		op(0, 4, 5, lockOp{kind: "release", session: 1, token: 5}, lockOut{}),
		op(1, 6, 7, lockOp{kind: "acquire", session: 2}, lockOut{granted: true, token: 9}),
	}
	if !porcupine.CheckOperations(lockModel(), ok) {
		t.Fatal("the model rejects a valid history")
	}
	bad := map[string][]porcupine.Operation{
		"double grant": {
			op(0, 0, 1, lockOp{kind: "acquire", session: 1}, lockOut{granted: true, token: 5}),
			op(1, 2, 3, lockOp{kind: "acquire", session: 2}, lockOut{granted: true, token: 6}),
		},
		"token going backwards": {
			op(0, 0, 1, lockOp{kind: "acquire", session: 1}, lockOut{granted: true, token: 5}),
			op(0, 2, 3, lockOp{kind: "release", session: 1, token: 5}, lockOut{}),
			op(1, 4, 5, lockOp{kind: "acquire", session: 2}, lockOut{granted: true, token: 4}),
		},
		"stale read": {
			op(0, 0, 1, lockOp{kind: "acquire", session: 1}, lockOut{granted: true, token: 5}),
			op(1, 2, 3, lockOp{kind: "get"}, lockOut{}),
		},
	}
	for name, h := range bad {
		if porcupine.CheckOperations(lockModel(), h) {
			t.Errorf("the model accepts a history with a %s", name)
		}
	}
}
