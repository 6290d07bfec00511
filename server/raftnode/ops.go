package raftnode

import (
	"context"

	"github.com/lockd/lockd/consensus"
)

// Propose replicates data and waits until it is applied on this node,
// returning the state machine's result. It fails with consensus.ErrNotLeader
// on a follower and with ErrProposalLost if another leader's entry took its
// place. A ctx that ends first abandons the wait, not the proposal: the entry
// may still commit.
func (n *Node) Propose(ctx context.Context, data []byte) (Applied, error) {
	return n.propose(ctx, &proposal{data: data, done: make(chan Applied, 1)})
}

// ProposeConfChange replicates a membership change and waits until it is
// applied on this node.
func (n *Node) ProposeConfChange(ctx context.Context, cc consensus.ConfChange) error {
	_, err := n.propose(ctx, &proposal{cc: &cc, done: make(chan Applied, 1)})
	return err
}

func (n *Node) propose(ctx context.Context, p *proposal) (Applied, error) {
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return Applied{}, ctx.Err()
	case <-n.donec:
		return Applied{}, ErrStopped
	}
	select {
	case a := <-p.done:
		return a, a.Err
	case <-ctx.Done():
		return Applied{}, ctx.Err()
	case <-n.donec:
		return Applied{}, ErrStopped
	}
}

// ReadIndex waits until this node's state machine reflects every write
// committed before the call (Raft thesis §6.4): after it returns, a read of
// the local state machine is linearizable.
func (n *Node) ReadIndex(ctx context.Context) error {
	r := &readRequest{done: make(chan error, 1)}
	select {
	case n.readc <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
}

// do runs f on the loop goroutine with the core and waits for it.
func (n *Node) do(ctx context.Context, f func(r *consensus.Raft)) error {
	done := make(chan struct{})
	g := func(r *consensus.Raft) { f(r); close(done) }
	select {
	case n.ctrlc <- g:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return ErrStopped
	}
	select {
	case <-done:
		return nil
	case <-n.donec:
		return ErrStopped
	}
}

// Status returns the core's status.
func (n *Node) Status(ctx context.Context) (consensus.Status, error) {
	var st consensus.Status
	err := n.do(ctx, func(r *consensus.Raft) { st = r.Status() })
	return st, err
}

// TransferLeader asks the leader to hand leadership to id.
func (n *Node) TransferLeader(ctx context.Context, id consensus.NodeID) error {
	var terr error
	if err := n.do(ctx, func(r *consensus.Raft) { terr = r.TransferLeader(id) }); err != nil {
		return err
	}
	return terr
}

// ReportUnreachable tells the core that the transport could not reach id.
func (n *Node) ReportUnreachable(id consensus.NodeID) {
	n.async(func(r *consensus.Raft) { r.ReportUnreachable(id) })
}

// ReportSnapshot tells the core how sending a snapshot to id ended.
func (n *Node) ReportSnapshot(id consensus.NodeID, failed bool) {
	n.async(func(r *consensus.Raft) { r.ReportSnapshot(id, failed) })
}

func (n *Node) async(f func(r *consensus.Raft)) {
	select {
	case n.ctrlc <- f:
	case <-n.donec:
	}
}
