package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHelloRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := writeHello(&buf, hello{version: 7, b: 2, id: "node-1"}); err != nil {
		t.Fatal(err)
	}
	h, err := readHello(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if h != (hello{version: 7, b: 2, id: "node-1"}) {
		t.Fatalf("got %+v", h)
	}
}

func TestServerRefusesBadHandshakes(t *testing.T) {
	_, addr := startServer(t, testConfig(nil), KindPeer)
	cases := []struct {
		name  string
		hello []byte
		want  error
	}{
		{"bad magic", []byte("GET / HTTP/1.1\r\n\r\n"), ErrBadMagic},
		{"version mismatch", helloBytes(t, hello{version: ProtocolVersion + 1, b: uint8(KindPeer), id: "n2"}), ErrVersionMismatch},
		{"client on peer port", helloBytes(t, hello{version: ProtocolVersion, b: uint8(KindClient)}), ErrBadKind},
		{"unknown kind", helloBytes(t, hello{version: ProtocolVersion, b: 9, id: "n2"}), ErrBadKind},
		{"peer without id", helloBytes(t, hello{version: ProtocolVersion, b: uint8(KindPeer)}), ErrBadNodeID},
	}
	for _, c := range cases {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(c.hello); err != nil {
			t.Fatal(err)
		}
		reply, err := readHello(nc)
		if err != nil {
			t.Fatalf("%s: reading reply: %v", c.name, err)
		}
		if err := replyError(reply); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		waitClosedByServer(t, nc)
		_ = nc.Close()
	}
}

func helloBytes(t *testing.T, h hello) []byte {
	var buf bytes.Buffer
	if err := writeHello(&buf, h); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDialReportsTypedHandshakeErrors(t *testing.T) {
	_, peerAddr := startServer(t, testConfig(nil), KindPeer)
	cfg := testConfig(nil)
	if _, err := Dial(context.Background(), peerAddr, KindClient, cfg); !errors.Is(err, ErrBadKind) {
		t.Fatalf("client to peer port: got %v, want ErrBadKind", err)
	}
	if _, err := Dial(context.Background(), peerAddr, KindPeer, cfg); !errors.Is(err, ErrBadNodeID) {
		t.Fatalf("peer without NodeID: got %v, want ErrBadNodeID", err)
	}

	// A server that is not lockd.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
	}()
	if _, err := Dial(context.Background(), ln.Addr().String(), KindClient, cfg); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("non-lockd server: got %v, want ErrBadMagic", err)
	}
}

func TestDialLearnsServerNodeID(t *testing.T) {
	scfg := testConfig(nil)
	scfg.NodeID = "n3"
	_, addr := startServer(t, scfg, KindPeer)
	c := dial(t, addr, KindPeer, testConfig(nil))
	if c.RemoteID() != "n3" {
		t.Fatalf("remote id %q, want n3", c.RemoteID())
	}
}

func TestServerCloseDoesNotWaitForSlowHandshakes(t *testing.T) {
	cfg := testConfig(nil)
	cfg.HandshakeTimeout = time.Hour
	s, addr := startServer(t, cfg, KindClient)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("LOC")); err != nil { // a partial hello
		t.Fatal(err)
	}
	// Close must return although the handshake would wait an hour; if it
	// waited, the test binary's timeout would report it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosedByServer(t, nc)
}

// TestClientDialToHTTPPortSaysSo: an HTTP server answers a client's hello
// at once (its length byte ends the "request line"), and Dial names the
// mistake instead of waiting out the server's header timeout.
func TestClientDialToHTTPPortSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testConfig(nil)
	cfg.HandshakeTimeout = 30 * time.Second
	_, err = Dial(ctx, ln.Addr().String(), KindClient, cfg)
	if !errors.Is(err, ErrHTTPPort) || !errors.Is(err, ErrBadMagic) {
		t.Fatalf("Dial to an HTTP port: %v, want ErrHTTPPort and ErrBadMagic", err)
	}
}

// TestAnonymousClientIDIsTenBytes: its length byte must be '\n'.
func TestAnonymousClientIDIsTenBytes(t *testing.T) {
	if len(anonymousClientID) != '\n' {
		t.Fatalf("len(%q) = %d, want %d", anonymousClientID, len(anonymousClientID), '\n')
	}
}

// A handshake of another protocol version is refused on both sides with
// a message that names both versions.
func TestVersionMismatchNamesBothVersions(t *testing.T) {
	other := ProtocolVersion + 1
	_, err := judgeHello(hello{version: other, b: uint8(KindClient)}, KindClient)
	want := fmt.Sprintf("peer speaks %d, we speak %d", other, ProtocolVersion)
	if !errors.Is(err, ErrVersionMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("server side: %v, want %q", err, want)
	}
	err = replyError(hello{version: other, b: statusVersionMismatch})
	want = fmt.Sprintf("server speaks %d, we speak %d", other, ProtocolVersion)
	if !errors.Is(err, ErrVersionMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("dial side: %v, want %q", err, want)
	}
	if _, err := judgeHello(hello{version: ProtocolVersion, b: uint8(KindClient)}, KindClient); err != nil {
		t.Fatalf("the same version (negative control): %v", err)
	}
}
