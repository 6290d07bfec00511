package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// statusDoc is the JSON of `status`.
type statusDoc struct {
	// Leader is the ID of the leader of the highest term any node
	// reports; "" if no node knows one.
	Leader string `json:"leader"`
	// ClusterID is the cluster ID the leader reports (without a leader,
	// the node of the highest term); "" if none knows one.
	ClusterID string    `json:"cluster_id"`
	Nodes     []nodeDoc `json:"nodes"`
	// named is the leader that the answering node of the highest term
	// names, when no leader answered (for the error only: it may be gone).
	named string
}

// nodeDoc is one node in statusDoc.
type nodeDoc struct {
	ID         string `json:"id"`
	ClientAddr string `json:"client_addr"`
	Role       string `json:"role"`
	Learner    bool   `json:"learner"`
	Term       uint64 `json:"term"`
	Commit     uint64 `json:"commit"`
	Applied    uint64 `json:"applied"`
	// Lag is how many entries the node has applied fewer than the
	// leader has committed; null when no leader answered.
	Lag    *uint64 `json:"lag"`
	Leader string  `json:"leader"`
	// ClusterID is the cluster the node's data directory belongs to.
	ClusterID string `json:"cluster_id"`
	// Error is why the node did not answer ("" if it did).
	Error string `json:"error"`
}

func (l *lockctl) statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show every node: role, term, commit and applied index, lag behind the leader",
		Description: "Asks the leader for every member's status. Without a leader, asks each\n" +
			"endpoint itself. Exits 5 if no node answers or none knows a leader.",
		Action: func(c *cli.Context) error {
			if err := exactArgs(c); err != nil {
				return err
			}
			return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
				nodes, err := l.clusterStatus(ctx, cl)
				if err != nil {
					return err
				}
				doc := statusFrom(nodes)
				if err := l.g.out.print(doc, doc.table); err != nil {
					return err
				}
				return doc.health()
			})
		},
	}
}

// clusterStatus asks the leader for every member's status within half of
// ctx's time; failing that, it asks each endpoint directly. A member whose
// status the cluster could not give (unreachable, or its advertised
// address answered as another node) is asked for at the endpoints: an
// endpoint's status counts for the member whose ID it answers with.
func (l *lockctl) clusterStatus(ctx context.Context, cl *client.Client) ([]client.ClusterNode, error) {
	half := l.g.timeout / 2
	cctx, cancel := context.WithTimeout(ctx, half)
	nodes, err := cl.ClusterStatus(cctx)
	cancel()
	if err == nil {
		if complete(nodes) {
			return nodes, nil
		}
		return fillFromEndpoints(nodes, l.endpointStatus(ctx, cl)), nil
	}
	out := l.endpointStatus(ctx, cl)
	for _, n := range out {
		if n.Status != nil {
			return out, nil
		}
	}
	return nil, err
}

// endpointStatus asks every endpoint for its own status, in parallel.
func (l *lockctl) endpointStatus(ctx context.Context, cl *client.Client) []client.ClusterNode {
	out := make([]client.ClusterNode, len(l.g.endpoints))
	var wg sync.WaitGroup
	for i, ep := range l.g.endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, serr := cl.EndpointStatus(ctx, ep)
			out[i] = client.ClusterNode{ID: st.ID, ClientAddr: ep}
			if serr != nil {
				out[i].Error = serr.Error()
				return
			}
			out[i].Status = &st
		}()
	}
	wg.Wait()
	return out
}

// complete reports whether every node has a status.
func complete(nodes []client.ClusterNode) bool {
	for _, n := range nodes {
		if n.Status == nil {
			return false
		}
	}
	return true
}

// fillFromEndpoints gives each node of nodes without a status the status
// of the endpoint that answered with its ID, and that endpoint's address.
func fillFromEndpoints(nodes, fromEndpoints []client.ClusterNode) []client.ClusterNode {
	byID := map[string]client.ClusterNode{}
	for _, e := range fromEndpoints {
		if e.Status != nil && e.Status.ID != "" {
			byID[e.Status.ID] = e
		}
	}
	out := make([]client.ClusterNode, len(nodes))
	for i, n := range nodes {
		out[i] = n
		if e, ok := byID[n.ID]; ok && n.Status == nil {
			out[i] = client.ClusterNode{ID: n.ID, ClientAddr: e.ClientAddr, Status: e.Status}
		}
	}
	return out
}

// statusFrom builds the document: the leader is the one of the highest
// term that calls itself leader; lag is measured against its commit index.
func statusFrom(nodes []client.ClusterNode) statusDoc {
	doc := statusDoc{Nodes: []nodeDoc{}}
	var lead, newest *client.NodeStatus
	learners := map[string]bool{}
	for _, n := range nodes {
		s := n.Status
		if s != nil && s.Role == "leader" && (lead == nil || s.Term > lead.Term) {
			lead = s
		}
		if s != nil && s.Leader != "" && (newest == nil || s.Term > newest.Term) {
			newest = s
		}
	}
	if lead == nil && newest != nil {
		doc.named = newest.Leader
	}
	switch {
	case lead != nil:
		doc.ClusterID = lead.ClusterID
	case newest != nil:
		doc.ClusterID = newest.ClusterID
	}
	if lead != nil {
		doc.Leader = lead.ID
		for _, p := range lead.Progress {
			learners[p.ID] = p.Learner
		}
	}
	for _, n := range nodes {
		d := nodeDoc{ID: n.ID, ClientAddr: n.ClientAddr, Error: n.Error, Learner: learners[n.ID]}
		if s := n.Status; s != nil {
			if d.ID == "" {
				d.ID = s.ID
			}
			d.Role, d.Term, d.Commit, d.Applied, d.Leader = s.Role, s.Term, s.Commit, s.Applied, s.Leader
			d.ClusterID = s.ClusterID
			if lead != nil {
				lag := uint64(0)
				if lead.Commit > s.Applied {
					lag = lead.Commit - s.Applied
				}
				d.Lag = &lag
			}
		} else if d.Error == "" {
			d.Error = "no status"
		}
		doc.Nodes = append(doc.Nodes, d)
	}
	sort.SliceStable(doc.Nodes, func(i, j int) bool { return doc.Nodes[i].ID < doc.Nodes[j].ID })
	return doc
}

// health is nil when a leader answered.
func (d statusDoc) health() error {
	switch {
	case d.Leader != "":
		return nil
	case d.named != "":
		return fmt.Errorf("%w among the nodes that answered (%s names %s, whose status is unknown)", errNoLeader, d.namedBy(), d.named)
	}
	return errNoLeader
}

// namedBy is the ID of the answering node of the highest term that names
// d.named.
func (d statusDoc) namedBy() string {
	by, term := "", uint64(0)
	for _, n := range d.Nodes {
		if n.Error == "" && n.Leader == d.named && (by == "" || n.Term > term) {
			by, term = n.ID, n.Term
		}
	}
	return by
}

func (d statusDoc) table(t *tableWriter) {
	t.text("cluster %s", orDash(d.ClusterID))
	t.row("ID", "ADDRESS", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "LEADER", "ERROR")
	for _, n := range d.Nodes {
		role, lag := orDash(n.Role), "-"
		if n.Learner {
			role += " (learner)"
		}
		if n.Lag != nil {
			lag = formatUint(*n.Lag)
		}
		if n.Error != "" {
			t.row(orDash(n.ID), orDash(n.ClientAddr), "-", "-", "-", "-", "-", "-", n.Error)
			continue
		}
		note := "-"
		if n.ClusterID != d.ClusterID && d.ClusterID != "" {
			note = "in cluster " + orDash(n.ClusterID)
		}
		t.row(n.ID, orDash(n.ClientAddr), role, n.Term, n.Commit, n.Applied, lag, orDash(n.Leader), note)
	}
}

// since returns how long ago t was, from now; zero for a zero t.
func since(now, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return now.Sub(t)
}
