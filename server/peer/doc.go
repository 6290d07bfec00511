// Package peer carries Raft messages between lockd nodes: the network end
// of the data path (peer → raftnode → fsm).
//
// It owns the peer wire: rpc KindPeer connections, the msgpack array
// layout of consensus messages (wire.go, with a hand-written encoder and
// decoder for the hot MsgApp path in fastwire.go), snapshots streamed in
// acknowledged chunks, and the node-info exchange (info.go) through which
// members learn each other's client addresses and a joining node learns
// where the members are.
//
// A snapshot travels with checksums (snapcheck.go): each chunk carries the
// CRC-32C of its bytes and of the whole snapshot. The receiver refuses a
// chunk whose checksum is missing or wrong, and, once the snapshot is
// whole, checks its checksum and that the state machine decodes it
// (CheckSnapshots) before the Stepper sees it; a refused snapshot ends its
// transfer, is logged and counted, and the sender reports it failed. So
// nothing a peer streams is written over this node's state unless it
// decodes.
//
// Every connection a sender dials starts with an introduction (intro.go):
// a node-info request that says who the dialer is (its advertised peer
// address, a random incarnation, its cluster ID). The receiver's handler
// may refuse it (a *Refusal; the connection's Raft frames are then dropped
// and it is closed), and the dialer may refuse the answer; the service
// layer (Introducer, the node-info handler) decides, the transport only
// carries and logs the refusal. A peer that does not introduce itself is
// served as before.
//
// Senders are authenticated (gate.go). A Raft message, a snapshot chunk
// or a node-info request whose From is not the node its connection
// authenticated (the node ID of its certificate with TLS; the ID given in
// the handshake without) is dropped and counted (DropSender); a node-info
// answer under another ID than the connection's is refused. The service
// layer's Gate drops Raft messages of nodes outside the applied
// membership (DropNotMember). A node tells only its own client address.
//
// Goroutines: one sender per peer, which dials, writes and backs off; the
// rpc server's connection goroutines, which hand inbound messages to the
// Stepper. None of them decides anything: a message that cannot be sent
// is dropped (Raft retransmits) and reported unreachable, a snapshot that
// fails is reported failed, and the Stepper (the Raft node) decides what
// follows.
//
// It must never block the caller of Send (the driver loop): each peer has a
// bounded queue and a full one drops. It must never interpret entries or
// look at application state, and it never imports raftnode, fsm or the
// server: it delivers to the small Stepper interface.
//
// Peer sender, per peer:
//
//	state       event                       next        effect
//	idle        message queued              dialing     dial with HandshakeTimeout
//	dialing     dial fails                  backoff     report unreachable (and a MsgSnap failed)
//	backoff     backoff elapses             idle        queued messages meanwhile are dropped
//	dialing     dial succeeds, introduction connected   backoff reset; Send's fast path uses the conn
//	            accepted
//	dialing     introduction refused        backoff     either side's refusal logged; as a failed dial
//	connected   send fails (not queue full) idle        close the conn; report unreachable
//	connected   MsgSnap                     connected   stream chunks, each acknowledged; report the outcome
//	any         SetPeers drops the peer     stopped     signalled without waiting; Close waits for it
package peer
