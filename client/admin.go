package client

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
)

// Cluster status and membership types, as the server reports them.
type (
	// NodeStatus is one node's view of the cluster (role, term, commit and
	// applied index; on the leader, each member's progress).
	NodeStatus = api.NodeStatus
	// MemberProgress is the leader's replication view of one member.
	MemberProgress = api.MemberProgress
	// ClusterNode is one member's status (or the error reaching it).
	ClusterNode = api.ClusterNode
	// Member is one member of the cluster.
	Member = api.Member
)

// Status returns the status of the node this Client is connected to (the
// leader, normally).
func (c *Client) Status(ctx context.Context) (NodeStatus, error) {
	var resp api.NodeStatus
	err := c.read(ctx, api.MsgStatus, &api.StatusRequest{}, &resp)
	return resp, err
}

// ClusterStatus returns every member's status as the connected node sees
// it; a member it cannot reach carries Error. The connected node asks each
// member at the client address the member advertises; a status that
// another node gave (several members advertising one address, such as
// 0.0.0.0:7000 in containers, which reaches whoever dials it) is not the
// member's: it is dropped, and Error says which node answered.
func (c *Client) ClusterStatus(ctx context.Context) ([]ClusterNode, error) {
	var resp api.ClusterStatusResponse
	err := c.read(ctx, api.MsgClusterStatus, &api.ClusterStatusRequest{}, &resp)
	for i := range resp.Nodes {
		resp.Nodes[i] = attributed(resp.Nodes[i])
	}
	return resp.Nodes, err
}

// attributed is n, without a status that a node other than n answered.
func attributed(n ClusterNode) ClusterNode {
	if n.Status == nil || n.Status.ID == "" || n.Status.ID == n.ID {
		return n
	}
	n.Error = fmt.Sprintf("status unknown: address %s answered as %s", n.ClientAddr, n.Status.ID)
	if unspecified(n.ClientAddr) {
		n.Error += fmt.Sprintf(" (%s is an unspecified address, which reaches whichever node dials it: give each node a client address the others can dial)", n.ClientAddr)
	}
	n.Status = nil
	return n
}

// Members lists the cluster's members, by ID.
func (c *Client) Members(ctx context.Context, opts ...ReadOption) ([]Member, error) {
	var resp api.MembersResponse
	err := c.read(ctx, api.MsgMembers, &api.MembersRequest{ReadOptions: readOptions(opts)}, &resp)
	return resp.Members, err
}

// admin runs a membership request. It is retried only where the request
// surely was not applied (a NotLeader answer, no connection), so a change
// is never made twice.
func (c *Client) admin(ctx context.Context, typ api.MsgType, req any) error {
	return c.adminCall(ctx, typ, req, nil)
}

// adminCall is admin with a response (nil: none).
func (c *Client) adminCall(ctx context.Context, typ api.MsgType, req, resp any) error {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	var ff failFast
	for n := 0; ; n++ {
		err := c.attempt(ctx, typ, req, resp)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil || c.ctx.Err() != nil, c.failingFast(&ff, err):
			return err
		case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoEndpoint):
		default:
			return err
		}
		if hint, ok := notLeaderHint(err); ok && hint != "" && n < 3 {
			continue
		}
		if err := c.bo.sleep(ctx, n, c.ctx.Done()); err != nil {
			return err
		}
	}
}

// AddLearner adds a non-voting member that catches up before promotion.
func (c *Client) AddLearner(ctx context.Context, id, peerAddr, clientAddr string) error {
	return c.admin(ctx, api.MsgAddLearner, &api.AddLearnerRequest{ID: id, PeerAddr: peerAddr, ClientAddr: clientAddr})
}

// Promote makes a caught-up learner a voter; force skips the catch-up
// check.
func (c *Client) Promote(ctx context.Context, id string, force bool) error {
	return c.admin(ctx, api.MsgPromote, &api.PromoteRequest{ID: id, Force: force})
}

// RemoveMember removes a member; force allows a removal that leaves the
// members now up without a quorum.
func (c *Client) RemoveMember(ctx context.Context, id string, force bool) error {
	return c.admin(ctx, api.MsgRemoveMember, &api.RemoveMemberRequest{ID: id, Force: force})
}

// TransferLeader hands leadership to member id ("" = the most caught-up
// voter).
func (c *Client) TransferLeader(ctx context.Context, id string) error {
	return c.admin(ctx, api.MsgTransferLeader, &api.TransferLeaderRequest{ID: id})
}

// SnapshotInfo describes a saved backup.
type SnapshotInfo struct {
	Index  uint64 // last log index it contains
	Term   uint64
	Size   uint64
	CRC32C uint32
	// ClusterID is the cluster the backup was taken from ("" if the
	// leader knows none).
	ClusterID string
}

// SnapshotSave writes a consistent backup of the cluster's state to w,
// fetched in chunks from the leader, and checks its length and checksum.
// If the leader replaces the snapshot mid-way (ErrSnapshotGone) the bytes
// already written to w are incomplete: start over with a fresh writer.
func (c *Client) SnapshotSave(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	var info SnapshotInfo
	sum := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var off uint64
	for {
		var resp api.SnapshotSaveResponse
		if err := c.read(ctx, api.MsgSnapshotSave, &api.SnapshotSaveRequest{Index: info.Index, Offset: off}, &resp); err != nil {
			return info, err
		}
		if off == 0 {
			info = SnapshotInfo{Index: resp.Index, Term: resp.Term, Size: resp.Total, CRC32C: resp.CRC32C, ClusterID: resp.ClusterID}
		} else if resp.Index != info.Index {
			return info, fmt.Errorf("%w: index changed from %d to %d", ErrSnapshotGone, info.Index, resp.Index)
		}
		if len(resp.Data) == 0 && off < info.Size {
			return info, fmt.Errorf("%w: empty chunk at offset %d of %d", ErrSnapshotCorrupt, off, info.Size)
		}
		if _, err := w.Write(resp.Data); err != nil {
			return info, fmt.Errorf("client: snapshot save: %w", err)
		}
		_, _ = sum.Write(resp.Data)
		off += uint64(len(resp.Data))
		if off > info.Size {
			return info, fmt.Errorf("%w: %d bytes, expected %d", ErrSnapshotCorrupt, off, info.Size)
		}
		if off == info.Size {
			break
		}
	}
	if got := sum.Sum32(); got != info.CRC32C {
		return info, fmt.Errorf("%w: crc32c %08x, expected %08x", ErrSnapshotCorrupt, got, info.CRC32C)
	}
	return info, nil
}

// EndpointStatus asks the node at addr (any client address, member or
// not) about itself, over a connection of its own: it answers even while
// the cluster has no leader.
func (c *Client) EndpointStatus(ctx context.Context, addr string) (NodeStatus, error) {
	ctx, cancel := c.withDeadline(ctx)
	defer cancel()
	conn, err := c.conns.dialPlain(ctx, addr)
	if err != nil {
		return NodeStatus{}, err
	}
	defer conn.Close()
	var resp api.NodeStatus
	err = conn.Call(ctx, rpc.MsgType(api.MsgStatus), &api.StatusRequest{}, &resp)
	return resp, remoteErr(err)
}
