package peer

import (
	"context"
	"fmt"

	"github.com/lockd/lockd/rpc"
)

// msgNodeInfo is a request on a KindPeer connection: "who are you, and
// where do you serve clients?" The asker tells its own addresses and the
// membership's peer addresses in the same request, so a node that joins
// with an empty log learns where to answer the leader before its first
// snapshot arrives.
const msgNodeInfo rpc.MsgType = 3

// NodeInfoRequest is the body of a node-info request.
type NodeInfoRequest struct {
	// From is the asking node's ID.
	From string
	// ClientAddr is the asking node's client address.
	ClientAddr string
	// PeerAddrs are the peer addresses of the membership as the asker
	// knows it (ID -> address).
	PeerAddrs map[string]string
}

// NodeInfoResponse answers a node-info request.
type NodeInfoResponse struct {
	ID         string
	ClientAddr string
	// Applied is the responder's applied index, read before Members, so
	// Members is the membership as of Applied or later.
	Applied uint64
	// Members are the voters and learners of the responder's applied
	// membership.
	Members []string
}

// HandleNodeInfo installs fn as the handler of node-info requests from
// peers. The service layer calls it once, before Listen.
func (t *Transport) HandleNodeInfo(fn func(ctx context.Context, req *NodeInfoRequest) (*NodeInfoResponse, error)) error {
	return rpc.Register(t.srv, msgNodeInfo, func(ctx context.Context, _ *rpc.Conn, req *NodeInfoRequest) (any, error) {
		return fn(ctx, req)
	})
}

// AskNodeInfo dials the peer address addr on a short-lived connection and
// asks for its node info. It respects the transport's fault hook.
func (t *Transport) AskNodeInfo(ctx context.Context, addr string, req *NodeInfoRequest) (*NodeInfoResponse, error) {
	conn, err := rpc.Dial(ctx, addr, rpc.KindPeer, t.cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var resp NodeInfoResponse
	if err := conn.Call(ctx, msgNodeInfo, req, &resp); err != nil {
		return nil, fmt.Errorf("peer: node info from %s: %w", addr, err)
	}
	return &resp, nil
}
