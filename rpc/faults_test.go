package rpc

import (
	"context"
	"errors"
	"testing"
)

func TestFaultsCutAndRefuseDialSide(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindPeer)
	registerEcho(t, s)
	faults := NewFaults()
	cfg := testConfig(nil)
	cfg.Faults = faults
	cfg.NodeID = "n1"
	c := dial(t, addr, KindPeer, cfg)
	faults.Block(addr)
	<-c.Done()
	if !errors.Is(c.Err(), ErrPartitioned) {
		t.Fatalf("got %v, want ErrPartitioned", c.Err())
	}
	if _, err := Dial(context.Background(), addr, KindPeer, cfg); !errors.Is(err, ErrPartitioned) {
		t.Fatalf("dial while blocked: got %v", err)
	}
	faults.Unblock(addr)
	c2 := dial(t, addr, KindPeer, cfg)
	if err := c2.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatalf("after unblock: %v", err)
	}
}

func TestFaultsCutAndRefuseServerSideByNodeID(t *testing.T) {
	faults := NewFaults()
	scfg := testConfig(nil)
	scfg.Faults = faults
	scfg.NodeID = "n1"
	s, addr := startServer(t, scfg, KindPeer)
	registerEcho(t, s)
	ccfg := testConfig(nil)
	ccfg.NodeID = "n2"
	c2 := dial(t, addr, KindPeer, ccfg)
	ccfg3 := ccfg
	ccfg3.NodeID = "n3"
	c3 := dial(t, addr, KindPeer, ccfg3)

	faults.Block("n2")
	<-c2.Done()
	if !errors.Is(c2.Err(), ErrConnLost) {
		t.Fatalf("n2: got %v", c2.Err())
	}
	if _, err := Dial(context.Background(), addr, KindPeer, ccfg); !errors.Is(err, ErrRefused) {
		t.Fatalf("n2 redial: got %v, want ErrRefused", err)
	}
	if err := c3.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatalf("n3 must be unaffected: %v", err)
	}
	faults.Unblock("n2")
	c2 = dial(t, addr, KindPeer, ccfg)
	if err := c2.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatalf("n2 after unblock: %v", err)
	}
}
