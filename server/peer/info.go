package peer

import (
	"context"
	"errors"
	"fmt"

	"github.com/lockd/lockd/rpc"
)

// msgNodeInfo is a request on a KindPeer connection: "who are you, and
// where do you serve clients?" The asker tells its own addresses and the
// membership's peer addresses in the same request, so a node that joins
// with an empty log learns where to answer the leader before its first
// snapshot arrives. Every peer connection a node dials starts with one
// (intro.go): the receiver may refuse the asker there.
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

	// The introduction: older nodes send none of these fields (and
	// ignore them), and are taken at their word.

	// Advertise is the peer address the asker says it is reached at (its
	// own address in its membership), or "" if it claims none.
	Advertise string
	// Incarnation is random for each run of the asking process; never 0
	// in an introduction.
	Incarnation uint64
	// ClusterID is the cluster the asker's data directory belongs to, or
	// "" if it does not know.
	ClusterID string
}

// introduces reports whether the request carries an introduction.
func (r *NodeInfoRequest) introduces() bool {
	return r.Incarnation != 0 || r.Advertise != "" || r.ClusterID != ""
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
	// ClusterID and Incarnation are the responder's, as in the request
	// (empty and 0 from older nodes).
	ClusterID   string
	Incarnation uint64
}

// ErrRefused: a node refused a peer's introduction, or the answer to its
// own: the two are not members of one cluster as each knows it (two nodes
// with the same ID, a node of another cluster). The error says why.
var ErrRefused = errors.New("peer: refused")

// ErrDropped: a snapshot chunk was dropped, its sender not being the
// node the connection authenticated, or not a member.
var ErrDropped = errors.New("peer: message dropped")

// codeRefused is the wire code of a refusal on a peer connection.
const codeRefused = rpc.FirstUserCode

// Refusal is the error a node-info handler or an Introducer returns to
// refuse a peer: Reason is said to both sides, Kind labels the metric
// ("self", "address", "cluster", "id").
type Refusal struct {
	Kind   string
	Reason string
}

func (r *Refusal) Error() string   { return "peer: refused: " + r.Reason }
func (r *Refusal) Unwrap() error   { return ErrRefused }
func (r *Refusal) RPCCode() uint32 { return codeRefused }

// refusedBy turns a refusal that came over the wire back into ErrRefused;
// nil if err is none.
func refusedBy(err error) *Refusal {
	var re *rpc.RemoteError
	if errors.As(err, &re) && re.Code == codeRefused {
		return &Refusal{Reason: re.Message}
	}
	return nil
}

// InfoHandler answers a node-info request from the peer at remote; a
// *Refusal refuses it, and the connection it came on is dropped.
type InfoHandler func(ctx context.Context, remote string, req *NodeInfoRequest) (*NodeInfoResponse, error)

// HandleNodeInfo installs fn as the handler of node-info requests from
// peers. The service layer calls it once, before Listen.
func (t *Transport) HandleNodeInfo(fn InfoHandler) error {
	return rpc.Register(t.srv, msgNodeInfo, func(ctx context.Context, c *rpc.Conn, req *NodeInfoRequest) (any, error) {
		remote := c.RemoteAddr().String()
		if req.From != c.RemoteID() {
			// Only the node the connection authenticated may tell where
			// it serves clients, and only about itself.
			r := &Refusal{Kind: DropSender, Reason: fmt.Sprintf("node info from %q on the connection of %q", req.From, c.RemoteID())}
			if g := t.currentGate(); g.Dropped != nil {
				g.Dropped(DropSender)
			}
			t.refuse(c, req.From, remote, r)
			return nil, rpc.Errorf(codeRefused, "%s", r.Reason)
		}
		resp, err := fn(ctx, remote, req)
		var r *Refusal
		if errors.As(err, &r) {
			t.refuse(c, req.From, remote, r)
			return nil, rpc.Errorf(codeRefused, "%s", r.Reason)
		}
		return resp, err
	})
}

// AskNodeInfo dials the peer address addr on a short-lived connection and
// asks for its node info. It respects the transport's fault hook. A peer
// that refuses the request is an error wrapping ErrRefused.
func (t *Transport) AskNodeInfo(ctx context.Context, addr string, req *NodeInfoRequest) (*NodeInfoResponse, error) {
	conn, err := rpc.Dial(ctx, addr, rpc.KindPeer, t.cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var resp NodeInfoResponse
	if err := conn.Call(ctx, msgNodeInfo, req, &resp); err != nil {
		if r := refusedBy(err); r != nil {
			return nil, fmt.Errorf("peer: node info from %s: %w", addr, r)
		}
		return nil, fmt.Errorf("peer: node info from %s: %w", addr, err)
	}
	if err := answeredAsSelf(conn, addr, &resp); err != nil {
		return nil, fmt.Errorf("peer: node info from %s: %w", addr, err)
	}
	return &resp, nil
}

// answeredAsSelf refuses a node-info answer whose ID is not the node the
// connection authenticated: a node tells only its own client address.
func answeredAsSelf(conn *rpc.ClientConn, addr string, resp *NodeInfoResponse) error {
	if resp.ID != conn.RemoteID() {
		return &Refusal{Kind: "id", Reason: fmt.Sprintf("peer address %s, connected as %q, answers as %q", addr, conn.RemoteID(), resp.ID)}
	}
	return nil
}
