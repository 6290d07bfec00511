package nemesis

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/internal/faults"
)

// PausedClient is a client that takes a protected lock, reads the resource
// under it, then freezes while cut off from the cluster (as a SIGSTOPped
// process looks to the servers) for longer than its session TTL, so that
// the server expires its session and grants the lock to someone else. When
// it wakes it writes what it read plus one: with its token (Fenced, and the
// resource must refuse it) or, in the negative control, ignoring fencing.
type PausedClient struct {
	R         *Recorder
	Endpoints []string
	// TLS is the client's TLS configuration (Cluster.ClientTLS); nil for
	// an insecure cluster.
	TLS    *tls.Config
	Name   string
	Fenced bool
	// MaxPause bounds the freeze: it ends once a successor has written the
	// resource under a newer token, or after MaxPause.
	MaxPause time.Duration
}

// Result of one paused-client episode.
type PauseResult struct {
	Token      uint64
	Overtaken  bool // a newer token wrote while it was frozen
	StaleWrite string
}

// Run runs one episode, bounded by ctx and MaxPause.
func (p *PausedClient) Run(ctx context.Context) (PauseResult, error) {
	var res PauseResult
	inj := faults.New()
	cfg := client.DefaultConfig()
	cfg.Endpoints = p.Endpoints
	cfg.TLS = p.TLS
	faults.AttachClient(&cfg, inj)
	cfg.AttemptTimeout = 500 * time.Millisecond
	cfg.Grace = p.R.TTL
	c, err := client.New(cfg)
	if err != nil {
		return res, err
	}
	defer c.Close()
	id := p.R.NewClientID()
	s, err := p.R.Open(ctx, c, id)
	if err != nil {
		return res, err
	}
	defer p.R.Retire(s)
	// TryAcquire, like the other clients of this lock: a waiter would make
	// their tries fail while the lock is free.
	var l *client.Lock
	for try := 0; ; try++ {
		var out Outcome
		l, out = p.R.Acquire(ctx, s, p.Name, Exclusive, false)
		if out == OutcomeOK {
			break
		}
		if out != OutcomeHeld || try > 200 || ctx.Err() != nil {
			return res, fmt.Errorf("nemesis: paused client could not take %s: %s", p.Name, out)
		}
		sleepCtx(ctx, 10*time.Millisecond)
	}
	res.Token = l.Token()
	r := p.R.Resources[p.Name]
	v, err := r.Read(id, res.Token)
	if err != nil {
		return res, fmt.Errorf("nemesis: paused client read: %w", err)
	}
	// Freeze: no keep-alive reaches the cluster from now on.
	for _, e := range p.Endpoints {
		inj.Block(e)
	}
	deadline := time.Now().Add(p.MaxPause)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if overtaken(r.Log(), res.Token) {
			res.Overtaken = true
			break
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	for _, e := range p.Endpoints {
		inj.Unblock(e)
	}
	opID := fmt.Sprintf("c%d-stale", id)
	if p.Fenced {
		if err := r.Write(id, res.Token, v+1, opID); err != nil {
			p.R.Stats.StaleRefused.Add(1)
			res.StaleWrite = "refused"
		} else {
			res.StaleWrite = "accepted"
		}
	} else {
		r.WriteUnfenced(id, res.Token, v+1, opID)
		res.StaleWrite = "unfenced"
	}
	return res, nil
}

// overtaken: a write under a token newer than tok was accepted.
func overtaken(log []Access, tok uint64) bool {
	for _, a := range log {
		if a.Write && a.Token > tok {
			return true
		}
	}
	return false
}
