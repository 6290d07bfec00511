package server

import (
	"context"

	"github.com/lockd/lockd/rpc"
)

// maxListingsAtOnce bounds the listings (ListLocks, ListSessions) a node
// builds at once, over all connections. A listing's answer may be up to
// the largest frame (4 MiB by default) and costs about twice that while it
// is built and encoded; without the bound, one connection that pipelines
// MaxInFlight of them makes the node build them all at once (about 2 GiB)
// before the slow-reader budget sees any.
const maxListingsAtOnce = 4

// listing builds an answer with build and encodes it, at most
// maxListingsAtOnce at a time on this node; it waits for its turn until
// ctx ends. Only the encoded answer outlives the turn.
func (s *Server) listing(ctx context.Context, c *rpc.Conn, build func() any) (rpc.Encoded, error) {
	select {
	case s.listings <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.listings }()
	return c.Encode(build())
}
