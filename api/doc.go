// Package api is lockd's client protocol: the rpc message types a client
// connection carries, their request and response bodies, the events a
// server pushes, and the numeric error codes with their sentinel errors.
//
// Both sides import it: server answers these messages, client sends them.
// It holds plain data and the code↔error table only; it must never do I/O,
// import another lockd package (internal/mp aside: the leaf that writes
// and reads the hot messages' msgpack by hand, see wire.go), or change a
// number that has shipped (the values are the wire protocol, see
// docs/PROTOCOL.md).
package api
