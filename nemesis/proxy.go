package nemesis

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ErrBadHello: a connection to a peer proxy did not open with lockd's peer
// handshake.
var ErrBadHello = errors.New("nemesis: bad peer handshake")

// helloMagic opens lockd's handshake (docs/PROTOCOL.md): magic [5] |
// version uint16 | kind uint8 | idLen uint8 | id [idLen].
var helloMagic = [5]byte{'L', 'O', 'C', 'K', 'D'}

// readHello reads a dial side's handshake and returns its bytes and the
// node id it names.
func readHello(r io.Reader) ([]byte, string, error) {
	buf := make([]byte, 9, 9+255)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadHello, err)
	}
	if [5]byte(buf[:5]) != helloMagic {
		return nil, "", fmt.Errorf("%w: magic % x", ErrBadHello, buf[:5])
	}
	n := int(buf[8])
	buf = buf[:9+n]
	if _, err := io.ReadFull(r, buf[9:]); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadHello, err)
	}
	return buf, string(buf[9:]), nil
}

// Network is the set of peer proxies of a cluster: every node's peers
// reach it through its proxy, which learns the sending node from the
// handshake and forwards the connection only while the link from that
// sender to this node is up. Cutting a link closes its open connections
// and refuses new ones; since a lockd peer connection carries messages one
// way (each node sends over connections it dialed), a cut is per
// direction.
type Network struct {
	mu      sync.Mutex
	cut     map[[2]string]bool // {from, to}
	proxies map[string]*Proxy
	tls     *ProxyTLS // nil: plain peer connections
}

// NewNetwork returns a network with no proxies and no cuts.
func NewNetwork() *Network {
	return &Network{cut: map[[2]string]bool{}, proxies: map[string]*Proxy{}}
}

// Proxy forwards peer connections to one node.
type Proxy struct {
	net    *Network
	to     string
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  map[net.Conn]string // both ends → sender id
	closed bool
	wg     sync.WaitGroup
}

// Listen starts the proxy in front of node to (whose real peer address is
// target) on a free loopback port and returns it.
func (n *Network) Listen(to, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{net: n, to: to, ln: ln, target: target, conns: map[net.Conn]string{}}
	n.mu.Lock()
	n.proxies[to] = p
	n.mu.Unlock()
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address peers dial to reach the node.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget changes the node's real address (after a restart on a new port).
func (p *Proxy) SetTarget(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (n *Network) isCut(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[[2]string{from, to}]
}

// Cut stops traffic from node from to node to.
func (n *Network) Cut(from, to string) {
	n.mu.Lock()
	n.cut[[2]string{from, to}] = true
	p := n.proxies[to]
	n.mu.Unlock()
	if p != nil {
		p.drop(from)
	}
}

// Heal lets traffic from node from to node to flow again.
func (n *Network) Heal(from, to string) {
	n.mu.Lock()
	delete(n.cut, [2]string{from, to})
	n.mu.Unlock()
}

// HealAll removes every cut.
func (n *Network) HealAll() {
	n.mu.Lock()
	n.cut = map[[2]string]bool{}
	n.mu.Unlock()
}

// Remove stops node to's proxy and forgets it.
func (n *Network) Remove(to string) {
	n.mu.Lock()
	p := n.proxies[to]
	delete(n.proxies, to)
	n.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// Close stops every proxy and closes every connection through them.
func (n *Network) Close() {
	n.mu.Lock()
	ps := make([]*Proxy, 0, len(n.proxies))
	for _, p := range n.proxies {
		ps = append(ps, p)
	}
	n.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) track(c net.Conn, from string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = from
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *Proxy) serve(in net.Conn) {
	defer p.wg.Done()
	defer in.Close()
	_ = in.SetReadDeadline(time.Now().Add(5 * time.Second))
	ptls := p.net.proxyTLS()
	certified := ""
	if ptls != nil {
		tc, id, err := ptls.accept(in, p.to)
		if err != nil {
			return
		}
		in, certified = tc, id
	}
	hello, from, err := readHello(in)
	if err != nil || p.net.isCut(from, p.to) || (ptls != nil && from != certified) {
		return
	}
	_ = in.SetReadDeadline(time.Time{})
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	var out net.Conn
	if ptls != nil {
		out, err = ptls.dial(target, from)
	} else {
		out, err = net.DialTimeout("tcp", target, 2*time.Second)
	}
	if err != nil {
		return
	}
	defer out.Close()
	if !p.track(in, from) || !p.track(out, from) {
		return
	}
	defer p.untrack(in, out)
	// A cut between the check above and track is caught here.
	if p.net.isCut(from, p.to) {
		return
	}
	if _, err := out.Write(hello); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); _ = out.Close(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); _ = in.Close(); done <- struct{}{} }()
	<-done
	<-done
}

// drop closes every connection from node from.
func (p *Proxy) drop(from string) {
	p.mu.Lock()
	var victims []net.Conn
	for c, f := range p.conns {
		if f == from {
			victims = append(victims, c)
		}
	}
	p.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	victims := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		victims = append(victims, c)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range victims {
		_ = c.Close()
	}
	p.wg.Wait()
}
