package peer

import "github.com/lockd/lockd/rpc"

// RPCStats are the connection counts of the peer rpc server, for metrics.
func (t *Transport) RPCStats() rpc.Stats { return t.srv.Stats() }
