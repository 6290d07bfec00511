package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/client"
)

// Fault is one kind of fault episode.
type Fault string

// Fault kinds (see the table in doc.go).
const (
	FaultKill        Fault = "kill"
	FaultPauseShort  Fault = "pause-short"
	FaultPauseLong   Fault = "pause-long"
	FaultPartition   Fault = "partition"
	FaultOneWay      Fault = "one-way"
	FaultMember      Fault = "member"
	FaultClientPause Fault = "client-pause"
)

// AllFaults is every fault kind, in the order schedules draw from.
var AllFaults = []Fault{FaultKill, FaultPauseShort, FaultPauseLong, FaultPartition, FaultOneWay, FaultMember, FaultClientPause}

// Nemesis injects faults into a Cluster on a schedule drawn from one seed.
type Nemesis struct {
	C      *Cluster
	Admin  *client.Client
	R      *Recorder
	Rand   *rand.Rand
	Faults []Fault
	// TTL is the workload's session TTL; long pauses exceed it.
	TTL time.Duration
	// PausedFenced: client-pause episodes write with their token (true) or
	// ignore fencing (the negative control).
	PausedFenced bool
	// ClientPauseLock is the protected lock client-pause episodes take.
	ClientPauseLock string
	Log             hclog.Logger

	bag []Fault // faults left in this round

	mu     sync.Mutex
	counts map[Fault]int
	notes  []string
}

// draw returns the next fault: rounds of every fault in Faults, each round
// shuffled by the seed, so a run of N rounds injects each kind N times.
func (n *Nemesis) draw() Fault {
	if len(n.bag) == 0 {
		n.bag = append([]Fault(nil), n.Faults...)
		n.Rand.Shuffle(len(n.bag), func(i, j int) { n.bag[i], n.bag[j] = n.bag[j], n.bag[i] })
	}
	f := n.bag[0]
	n.bag = n.bag[1:]
	return f
}

// Counts returns how many episodes of each fault ran.
func (n *Nemesis) Counts() map[Fault]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[Fault]int{}
	for k, v := range n.counts {
		out[k] = v
	}
	return out
}

// Notes returns one line per episode.
func (n *Nemesis) Notes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.notes...)
}

func (n *Nemesis) note(f Fault, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.counts == nil {
		n.counts = map[Fault]int{}
	}
	n.counts[f]++
	n.notes = append(n.notes, fmt.Sprintf("%s: ", f)+fmt.Sprintf(format, args...))
}

// Run injects episodes until ctx ends, then heals everything and waits
// (bounded) for the cluster to be ready again.
func (n *Nemesis) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		f := n.draw()
		if err := n.episode(ctx, f); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				break // the fault phase ended during the episode; heal below
			}
			return fmt.Errorf("nemesis: %s: %w", f, err)
		}
		sleepCtx(ctx, time.Duration(300+n.Rand.IntN(700))*time.Millisecond)
	}
	return n.HealAll(context.Background())
}

// HealAll heals every link, resumes paused nodes, restarts stopped ones
// and waits until they are ready.
func (n *Nemesis) HealAll(ctx context.Context) error {
	n.C.Net.HealAll()
	for _, node := range n.C.Nodes() {
		if node.Running() && n.C.Paused(node) {
			if err := n.C.Resume(node.ID); err != nil {
				return err
			}
		}
		if !node.Running() {
			if err := n.C.Restart(node.ID); err != nil {
				return err
			}
		}
	}
	return n.C.WaitReady(ctx)
}

func (n *Nemesis) pick(ctx context.Context, preferLeader bool) (string, error) {
	if preferLeader && n.Rand.IntN(4) != 0 {
		return n.C.Leader(ctx, n.Admin)
	}
	nodes := n.C.Nodes()
	return nodes[n.Rand.IntN(len(nodes))].ID, nil
}

func (n *Nemesis) hold(ctx context.Context, lo, hi time.Duration) time.Duration {
	d := lo + time.Duration(n.Rand.Int64N(int64(hi-lo)+1))
	sleepCtx(ctx, d)
	return d
}

func (n *Nemesis) episode(ctx context.Context, f Fault) error {
	// Every episode starts from a ready cluster.
	if err := n.C.WaitReady(context.Background()); err != nil {
		return err
	}
	switch f {
	case FaultKill:
		id, err := n.pick(ctx, true)
		if err != nil {
			return err
		}
		if err := n.C.Kill(id); err != nil {
			return err
		}
		d := n.hold(ctx, 200*time.Millisecond, 1500*time.Millisecond)
		n.note(f, "SIGKILL %s, down %v", id, d.Round(time.Millisecond))
		return n.C.Restart(id)
	case FaultPauseShort, FaultPauseLong:
		id, err := n.pick(ctx, true)
		if err != nil {
			return err
		}
		lo, hi := 400*time.Millisecond, 900*time.Millisecond // > the 150–300 ms election timeout
		if f == FaultPauseLong {
			lo, hi = n.TTL+500*time.Millisecond, n.TTL+1500*time.Millisecond
		}
		if err := n.C.Pause(id); err != nil {
			return err
		}
		d := n.hold(context.Background(), lo, hi)
		n.note(f, "SIGSTOP %s for %v", id, d.Round(time.Millisecond))
		return n.C.Resume(id)
	case FaultPartition:
		leader, err := n.C.Leader(ctx, n.Admin)
		if err != nil {
			return err
		}
		minority := []string{leader}
		if n.Rand.IntN(3) == 0 {
			nodes := n.C.Nodes()
			minority = []string{nodes[n.Rand.IntN(len(nodes))].ID}
		}
		for _, a := range minority {
			for _, b := range n.C.Nodes() {
				if b.ID != a {
					n.C.Net.Cut(a, b.ID)
					n.C.Net.Cut(b.ID, a)
				}
			}
		}
		d := n.hold(ctx, 500*time.Millisecond, 2*time.Second)
		n.note(f, "isolated %v (leader %s) for %v", minority, leader, d.Round(time.Millisecond))
		n.C.Net.HealAll()
		return nil
	case FaultOneWay:
		leader, err := n.C.Leader(ctx, n.Admin)
		if err != nil {
			return err
		}
		var others []string
		for _, b := range n.C.Nodes() {
			if b.ID != leader {
				others = append(others, b.ID)
			}
		}
		sort.Strings(others)
		to := others[n.Rand.IntN(len(others))]
		from := leader
		if n.Rand.IntN(2) == 0 {
			from, to = to, from
		}
		n.C.Net.Cut(from, to)
		d := n.hold(ctx, 500*time.Millisecond, 2*time.Second)
		n.note(f, "cut %s->%s for %v", from, to, d.Round(time.Millisecond))
		n.C.Net.HealAll()
		return nil
	case FaultMember:
		leader, err := n.C.Leader(ctx, n.Admin)
		if err != nil {
			return err
		}
		var followers []string
		for _, b := range n.C.Nodes() {
			if b.ID != leader {
				followers = append(followers, b.ID)
			}
		}
		sort.Strings(followers)
		old := followers[n.Rand.IntN(len(followers))]
		id, err := n.C.ReplaceMember(context.Background(), n.Admin, old)
		if err != nil {
			return err
		}
		n.note(f, "removed %s, joined %s (learner, promoted)", old, id)
		return nil
	case FaultClientPause:
		pc := &PausedClient{R: n.R, Endpoints: n.C.ClientAddrs(), TLS: n.C.ClientTLS(), Name: n.ClientPauseLock,
			Fenced: n.PausedFenced, MaxPause: 3*n.TTL + 2*time.Second}
		res, err := pc.Run(context.Background())
		if err != nil {
			// The cluster may be too busy to grant in time: not a fault
			// of the system under test, and nothing was injected.
			n.Log.Warn("client pause skipped", "error", err)
			return nil
		}
		n.note(f, "token %d frozen past its TTL, overtaken=%v, stale write %s", res.Token, res.Overtaken, res.StaleWrite)
		return nil
	}
	return fmt.Errorf("unknown fault %q", f)
}

// ParseFaults reads a comma-separated list of fault names ("all" for every
// kind).
func ParseFaults(s string) ([]Fault, error) {
	if s == "" || s == "all" {
		return AllFaults, nil
	}
	var out []Fault
	for _, p := range strings.Split(s, ",") {
		f := Fault(strings.TrimSpace(p))
		known := false
		for _, k := range AllFaults {
			known = known || k == f
		}
		if !known {
			return nil, fmt.Errorf("nemesis: unknown fault %q", f)
		}
		out = append(out, f)
	}
	return out, nil
}
