// Package rpc is lockd's one framing and connection layer: msgpack
// (hashicorp/go-msgpack/v2) over TCP, used between Raft peers (one-way
// Send) and between clients and servers (multiplexed Call, server Push).
//
// It owns: the handshake, the frame format and its limits, the wire codec
// configuration (Codec, Encode, Decode), connection goroutines, request
// ids, deadlines, remote error codes, and chunking of large payloads. A
// Config may carry a fault injector (internal/faults) that this module's
// tests attach to cut connections; it has no exported field or function,
// so nothing outside the module can.
//
// It must never: import another lockd package (internal/faults aside);
// interpret message bodies beyond their msgpack structure; allocate more
// than the bytes a peer has actually sent; panic on anything a peer sends;
// let one bad connection affect another; block a server on a slow reader.
//
// # Wire format
//
// Handshake, both directions (dial side first):
//
//	"LOCKD" | version uint16 | kind (dial side) or status (server) uint8 | idLen uint8 | node id
//
// A client dialing without a node id sends anonymousClientID, ten bytes:
// its idLen is '\n', so an HTTP server answers the hello at once, and an
// "HTTP/" reply is ErrHTTPPort.
//
// With Config.TLS, the connection is TLS first (the configuration decides
// versions and certificates) and the handshake above runs inside it;
// Config.VerifyIdentity then judges the other side's certificate against
// the node id it sent (status 6, ErrUnauthenticated). A plain hello that
// reaches a TLS listener is answered in plain with status 7
// (ErrTLSRequired); a TLS dial side that meets a plain lockd hello or an
// HTTP reply reports ErrServerNotTLS or ErrHTTPPort (see tls.go).
//
// Then frames, big-endian:
//
//	length uint32 (of body) | type uint8 | request id uint64 | msgpack body
//
// Types 1..MaxUserType belong to the caller; rpc reserves TypeResponse,
// TypeError, TypePing, TypePong and TypeCancel. A user-typed frame with
// id 0 is one-way (Send, Push); with id > 0 it is a request answered by
// exactly one TypeResponse or TypeError frame with the same id.
// Responses may come out of order.
//
// # Connection states
//
//	state       event                               next     effect
//	accepted    over MaxConns or MaxConnsPerIP      closed   no reply; counted; warned at most once a second
//	accepted    hello late (HandshakeTimeout)       closed   counted in Stats.HandshakesFailed
//	accepted    TLS handshake fails or is late      closed   counted in Stats.HandshakesFailed
//	accepted    certificate's identity refused      closed   status 6; ErrUnauthenticated on both sides
//	dialing     handshake accepted                  open     reader, writer, pinger start
//	dialing     bad magic/version/kind/id, refused  closed   typed error from Dial
//	open        frame over MaxFrameSize             closed   ErrFrameTooLarge, logged
//	open        type unknown on this side           closed   ErrUnknownType, logged
//	open        body malformed / too deep           closed   ErrDecode / ErrTooDeep, logged
//	open        handler returns ErrDecode           closed   logged
//	open        request beyond MaxInFlight          closed   ErrTooManyInFlight, logged
//	open        answer/push/pong past MaxQueueBytes closed   ErrSlowConsumer ("slow reader"), logged, counted
//	open        push queue full (either side)       closed   ErrSlowConsumer, logged (counted on the server)
//	open        Send with full queue or budget      open     ErrQueueFull to caller, frame dropped
//	open        no frame for ReadTimeout            closed   timeout, logged
//	open        write blocked for WriteTimeout      closed   timeout, logged
//	open        fault injector blocks the remote    closed   ErrConnLost (wrapping faults.ErrBlocked)
//	open        server Shutdown, new request        open     answered CodeShuttingDown
//	open        server Shutdown, handlers drained   closed   last answers flushed first
//	open        Close                               closed   pending calls get ErrClosed
//	open        remote closes / I/O error           closed   pending calls get ErrConnLost
//
// Every close of one connection leaves the server and its other
// connections untouched.
//
// # Memory
//
// A frame's declared length is checked before anything is allocated, and
// the body buffer grows only as bytes arrive (at most twice what has
// arrived, plus 64 KiB). Before decoding, a pre-scan checks every msgpack
// length against the bytes that remain and enforces MaxDepth, so element
// counts are bounded by the body size; the decoder provisions at most 64
// elements ahead of what it has decoded. What remains is the ordinary
// decode amplification: one input byte (a nil) can become one element of
// the target slice, so a slice of large structs can cost up to
// MaxFrameSize × element size. Keep wire types' repeated elements small.
//
// Outbound, every connection has a byte budget (MaxQueueBytes): a frame
// counts, header included, from the moment it is queued until the writer
// has written it (the frame the writer is blocked on counts). A request's in-flight slot on the server is held until the
// writer takes up its answer (not when the handler returns), so
// MaxInFlight bounds the answers waiting as well as the handlers running,
// and a remote that pipelines requests without reading the answers is cut
// at MaxInFlight or at the budget, whichever comes first. The writer
// frees an answer's slot just before writing it, so the remote can never
// see an answer whose slot is still taken, but uncounts its bytes only
// once written: what one connection holds for output is at most the
// budget and its write buffer.
//
// A Server holds at most MaxConns connections, and MaxConnsPerIP from one
// remote address, counting those in their handshake; one beyond is closed
// on accept. A connection's 16 KiB read buffer is allocated only after
// its handshake, which HandshakeTimeout bounds; its write buffer
// (WriteBufferSize) comes from a shared pool while it has frames to
// write, and goes back when its queue is empty.
//
// # Large payloads
//
// Nothing larger than MaxFrameSize travels in one frame. Snapshots go in
// Chunks (SplitChunks, MaxChunkData) sent as ordinary messages in order,
// and an Assembler rebuilds them with memory that follows the bytes
// received.
package rpc
