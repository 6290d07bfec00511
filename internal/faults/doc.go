// Package faults cuts lockd connections on demand, for this module's tests
// and fault harnesses (nemesis, the server's cluster tests): an Injector
// blocks a key (a node id or an address), which closes the open
// connections known by that key and refuses new ones until it is
// unblocked.
//
// It is internal so that fault injection is no part of the SDK or of any
// other public API. The configurations that carry an Injector (rpc.Config,
// client.Config) keep it in an unexported field; this module attaches one
// through the hooks in hooks.go, which the owning packages set in their
// init functions.
//
// A connection cut by an Injector fails as any broken connection does: rpc
// reports it as rpc.ErrConnLost, wrapping ErrBlocked. A dial to a blocked
// address fails as a dial to an unreachable one does, and a server refuses
// the handshake of a blocked peer (rpc.ErrRefused on the dial side).
// Production code never tests for ErrBlocked; tests may, to tell a cut
// they made from another failure.
//
// It must never: import another lockd package (rpc imports it); act on a
// connection that did not register with it; hold its lock while cutting a
// connection.
package faults
