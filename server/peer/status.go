package peer

import (
	"context"
	"fmt"

	"github.com/lockd/lockd/rpc"
)

// msgStatus asks a peer for its node status (a body the service layer
// defines) over its peer address, which every member can dial: a
// member's client address may be one advertised for clients elsewhere
// (a port published on a container's host), not reachable from another
// node. Older nodes do not know it and close the connection.
const msgStatus rpc.MsgType = 4

// statusRequest is the (empty) body of a status request.
type statusRequest struct{}

// HandleStatus installs fn as the handler of status requests from peers.
// The service layer calls it once, before Listen.
func (t *Transport) HandleStatus(fn func(ctx context.Context) (any, error)) error {
	return rpc.Register(t.srv, msgStatus, func(ctx context.Context, _ *rpc.Conn, _ *statusRequest) (any, error) {
		return fn(ctx)
	})
}

// AskStatus dials the peer address addr on a short-lived connection and
// decodes its status into resp.
func (t *Transport) AskStatus(ctx context.Context, addr string, resp any) error {
	conn, err := rpc.Dial(ctx, addr, rpc.KindPeer, t.cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Call(ctx, msgStatus, &statusRequest{}, resp); err != nil {
		return fmt.Errorf("peer: status from %s: %w", addr, err)
	}
	return nil
}
