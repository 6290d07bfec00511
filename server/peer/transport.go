package peer

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/rpc"
)

// Stepper is what the transport delivers to: the Raft node (raftnode.Node).
type Stepper interface {
	Step(m consensus.Message)
	ReportUnreachable(id consensus.NodeID)
	ReportSnapshot(id consensus.NodeID, failed bool)
}

// Transport carries Raft messages between nodes over rpc KindPeer
// connections: one sender goroutine per peer that only moves bytes, and an
// rpc.Server that hands inbound messages to the Stepper.
type Transport struct {
	id  consensus.NodeID
	cfg rpc.Config
	log hclog.Logger
	srv *rpc.Server

	mu    sync.Mutex
	node  Stepper
	peers map[consensus.NodeID]*peerSender
	// stopping are senders of removed peers told to stop, until they have
	// exited (Close waits for them).
	stopping []*peerSender
	snaps    *snapReceiver // inbound snapshot reassembly
	guard    snapGuard     // inbound snapshot checks (snapcheck.go)
	closed   bool
	intro    Introducer
	gate     atomic.Pointer[Gate] // read for every inbound message

	// refused holds the inbound connections whose introduction was
	// refused (*rpc.Conn -> struct{}), until they close.
	refused sync.Map
	warns   warnLog
}

// peerQueueLen bounds the messages waiting for one peer; beyond it messages
// are dropped (Raft retransmits), so a slow or dead peer never blocks the
// driver or the other peers.
const peerQueueLen = 4096

// New creates a transport for node id. cfg.NodeID is set to id.
func New(id consensus.NodeID, cfg rpc.Config) (*Transport, error) {
	cfg.NodeID = string(id)
	srv, err := rpc.NewServer(cfg, rpc.KindPeer)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	t := &Transport{id: id, cfg: cfg, log: log.Named("transport"), srv: srv,
		peers: make(map[consensus.NodeID]*peerSender), snaps: newSnapReceiver()}
	if err := rpc.Register(srv, msgRaft, t.handleRaft); err != nil {
		return nil, err
	}
	if err := rpc.Register(srv, msgSnapChunk, t.handleChunk); err != nil {
		return nil, err
	}
	return t, nil
}

// SetStepper connects the transport to the node it delivers to.
func (t *Transport) SetStepper(s Stepper) {
	t.mu.Lock()
	t.node = s
	t.mu.Unlock()
}

// Listen serves peers on addr and returns the bound address.
func (t *Transport) Listen(addr string) (string, error) {
	a, err := t.srv.Listen(addr)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

// Serve serves peers on ln, already bound, until Close.
func (t *Transport) Serve(ln net.Listener) error { return t.srv.Serve(ln) }

func (t *Transport) stepper() Stepper {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.node
}

func (t *Transport) handleRaft(_ context.Context, c *rpc.Conn, w *wireMessage) (any, error) {
	if t.isRefused(c) {
		_ = c.Close()
		return nil, nil
	}
	if !t.admitFrom(c, w.From) {
		return nil, nil
	}
	if s := t.stepper(); s != nil {
		s.Step(fromWire(*w, nil))
	}
	return nil, nil
}

func (t *Transport) handleChunk(_ context.Context, c *rpc.Conn, sc *snapChunk) (any, error) {
	if t.isRefused(c) {
		_ = c.Close()
		return nil, ErrRefused
	}
	if sc.Msg.Snap == nil || consensus.MessageType(sc.Msg.Type) != consensus.MsgSnap {
		return nil, fmt.Errorf("%w: snapshot chunk without snapshot metadata", rpc.ErrDecode)
	}
	if !t.admitFrom(c, sc.Msg.From) {
		return nil, fmt.Errorf("%w: snapshot from %q on the connection of %q", ErrDropped, sc.Msg.From, c.RemoteID())
	}
	if err := verifyChunk(sc); err != nil {
		t.refuseSnapshot(c.RemoteID(), sc, DropSnapshotChecksum, err)
		return nil, err
	}
	data, done, err := t.snaps.add(c, c.RemoteID(), sc.Chunk)
	if err != nil {
		t.log.Warn("refusing snapshot chunk", "from", c.RemoteID(), "remote", c.RemoteAddr().String(), "error", err)
		return nil, err
	}
	if done {
		// Checked whole before the node sees it: nothing a peer sends is
		// written over this node's state unless it decodes.
		if reason, err := t.verifySnapshot(sc, data); err != nil {
			t.refuseSnapshot(c.RemoteID(), sc, reason, err)
			return nil, err
		}
		if s := t.stepper(); s != nil {
			s.Step(fromWire(sc.Msg, data))
		}
	}
	return true, nil
}

// Send queues msgs for their peers without blocking.
func (t *Transport) Send(msgs []consensus.Message) {
	if len(msgs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		p := t.peers[m.To]
		if p == nil {
			continue
		}
		// Fast path: with the connection up, hand the frame straight to
		// its writer, skipping a goroutine hop. Snapshots, and anything
		// the connection refuses, go through the sender goroutine.
		if m.Type != consensus.MsgSnap {
			if c := p.live.Load(); c != nil {
				w := toWire(m)
				if c.Send(msgRaft, &w) == nil {
					continue
				}
			}
		}
		select {
		case p.q <- m:
		default: // the peer is not keeping up; Raft will retransmit
		}
	}
}

// SetPeers starts senders for new members and stops those of removed ones.
func (t *Transport) SetPeers(addrs map[consensus.NodeID]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for id, p := range t.peers {
		if a, ok := addrs[id]; !ok || a != p.addr {
			// Stop it without waiting: SetPeers runs on the driver loop
			// under t.mu, and the sender may be inside the Stepper (which
			// needs the loop) or waiting for t.mu itself.
			p.signalStop()
			t.stopping = append(t.stopping, p)
			delete(t.peers, id)
		}
	}
	t.stopping = slices.DeleteFunc(t.stopping, (*peerSender).exited)
	for id, a := range addrs {
		if id == t.id || t.peers[id] != nil {
			continue
		}
		p := &peerSender{t: t, id: id, addr: a, q: make(chan consensus.Message, peerQueueLen), stop: make(chan struct{}), done: make(chan struct{})}
		t.peers[id] = p
		go p.run()
	}
}

// Close stops every sender and the peer rpc server.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	peers := t.stopping
	for _, p := range t.peers {
		peers = append(peers, p)
	}
	t.peers = map[consensus.NodeID]*peerSender{}
	t.stopping = nil
	t.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	err := t.srv.Close()
	t.snaps.close()
	return err
}
