package rpc

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Kind is the connection kind named in the handshake.
type Kind uint8

const (
	// KindPeer is a Raft peer connection (one-way sends).
	KindPeer Kind = 1
	// KindClient is a client connection (calls and pushes).
	KindClient Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindPeer:
		return "peer"
	case KindClient:
		return "client"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ProtocolVersion is the version this package speaks; the server accepts
// only an exact match.
const ProtocolVersion uint16 = 1

// magic opens every handshake, in both directions.
var magic = [5]byte{'L', 'O', 'C', 'K', 'D'}

// Handshake layout, both directions:
//
//	magic [5] | version uint16 | kind-or-status uint8 | idLen uint8 | id [idLen]
//
// The dial side sends its kind and node id; the server answers with a
// status and its own node id.
const helloFixed = 5 + 2 + 1 + 1

// Handshake status codes sent by the server.
const (
	statusOK              uint8 = 0
	statusBadMagic        uint8 = 1
	statusVersionMismatch uint8 = 2
	statusBadKind         uint8 = 3
	statusBadNodeID       uint8 = 4
	statusRefused         uint8 = 5
	statusUnauthenticated uint8 = 6
	statusTLSRequired     uint8 = 7
)

// anonymousClientID is the id a client connection without a node id
// sends. It is ten bytes long so that its length byte is '\n' (10): to an
// HTTP server the hello is then a complete, malformed request line, which
// it answers at once with "HTTP/1.1 400 ..." (readHello reports
// ErrHTTPPort) instead of waiting for the rest of a request until a
// timeout. A lockd server reads it as any other id.
const anonymousClientID = "anonymous!"

// hello is one side's handshake message. For the dial side b is the kind,
// for the server side it is the status.
type hello struct {
	version uint16
	b       uint8
	id      string
}

func writeHello(w io.Writer, h hello) error {
	if len(h.id) > 255 {
		return fmt.Errorf("%w: %d bytes", ErrBadNodeID, len(h.id))
	}
	buf := make([]byte, 0, helloFixed+len(h.id))
	buf = append(buf, magic[:]...)
	buf = binary.BigEndian.AppendUint16(buf, h.version)
	buf = append(buf, h.b, uint8(len(h.id)))
	buf = append(buf, h.id...)
	_, err := w.Write(buf)
	return err
}

// readHello reads one handshake message: at most helloFixed+255 bytes. It
// checks only the magic; version, kind and status are the caller's to judge.
func readHello(r io.Reader) (hello, error) {
	var fixed [helloFixed]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return hello{}, fmt.Errorf("rpc: handshake: %w", err)
	}
	if [5]byte(fixed[:5]) != magic {
		if string(fixed[:5]) == "HTTP/" {
			return hello{}, fmt.Errorf("%w (%w)", ErrHTTPPort, ErrBadMagic)
		}
		return hello{}, fmt.Errorf("%w: % x", ErrBadMagic, fixed[:5])
	}
	h := hello{version: binary.BigEndian.Uint16(fixed[5:]), b: fixed[7]}
	if n := fixed[8]; n > 0 {
		id := make([]byte, n)
		if _, err := io.ReadFull(r, id); err != nil {
			return hello{}, fmt.Errorf("rpc: handshake: %w", err)
		}
		h.id = string(id)
	}
	return h, nil
}

// judgeHello is the server's verdict on a dial side's hello.
func judgeHello(h hello, want Kind) (uint8, error) {
	switch {
	case h.version != ProtocolVersion:
		return statusVersionMismatch, fmt.Errorf("%w: peer speaks %d, we speak %d", ErrVersionMismatch, h.version, ProtocolVersion)
	case Kind(h.b) != KindPeer && Kind(h.b) != KindClient:
		return statusBadKind, fmt.Errorf("%w: %d", ErrBadKind, h.b)
	case Kind(h.b) != want:
		return statusBadKind, fmt.Errorf("%w: %s connection to a %s listener", ErrBadKind, Kind(h.b), want)
	case Kind(h.b) == KindPeer && h.id == "":
		return statusBadNodeID, fmt.Errorf("%w: peer without node id", ErrBadNodeID)
	}
	return statusOK, nil
}

// replyError turns the server's answer into the dial side's error.
func replyError(h hello) error {
	switch h.b {
	case statusOK:
		if h.version != ProtocolVersion {
			return fmt.Errorf("%w: server speaks %d, we speak %d", ErrVersionMismatch, h.version, ProtocolVersion)
		}
		return nil
	case statusBadMagic:
		return fmt.Errorf("%w: server did not recognise our magic", ErrBadMagic)
	case statusVersionMismatch:
		return fmt.Errorf("%w: server speaks %d, we speak %d", ErrVersionMismatch, h.version, ProtocolVersion)
	case statusBadKind:
		return fmt.Errorf("%w: refused by server", ErrBadKind)
	case statusBadNodeID:
		return fmt.Errorf("%w: refused by server", ErrBadNodeID)
	case statusRefused:
		return ErrRefused
	case statusUnauthenticated:
		return fmt.Errorf("%w: the server refused the identity of our certificate", ErrUnauthenticated)
	case statusTLSRequired:
		return ErrTLSRequired
	}
	return fmt.Errorf("%w: unknown handshake status %d", ErrProtocol, h.b)
}
