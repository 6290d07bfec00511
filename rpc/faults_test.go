package rpc

import (
	"context"
	"errors"
	"testing"

	"github.com/lockd/lockd/internal/faults"
)

func TestFaultsCutAndRefuseDialSide(t *testing.T) {
	s, addr := startServer(t, testConfig(nil), KindPeer)
	registerEcho(t, s)
	inj := faults.New()
	cfg := testConfig(nil)
	faults.AttachRPC(&cfg, inj)
	cfg.NodeID = "n1"
	c := dial(t, addr, KindPeer, cfg)
	inj.Block(addr)
	<-c.Done()
	// A cut is a lost connection like any other, caused by the injector.
	if err := c.Err(); !errors.Is(err, ErrConnLost) || !errors.Is(err, faults.ErrBlocked) {
		t.Fatalf("got %v, want ErrConnLost wrapping faults.ErrBlocked", err)
	}
	if _, err := Dial(context.Background(), addr, KindPeer, cfg); !errors.Is(err, faults.ErrBlocked) {
		t.Fatalf("dial while blocked: got %v", err)
	}
	inj.Unblock(addr)
	c2 := dial(t, addr, KindPeer, cfg)
	if err := c2.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatalf("after unblock: %v", err)
	}
}

func TestFaultsCutAndRefuseServerSideByNodeID(t *testing.T) {
	inj := faults.New()
	scfg := testConfig(nil)
	faults.AttachRPC(&scfg, inj)
	scfg.NodeID = "n1"
	s, addr := startServer(t, scfg, KindPeer)
	registerEcho(t, s)
	ccfg := testConfig(nil)
	ccfg.NodeID = "n2"
	c2 := dial(t, addr, KindPeer, ccfg)
	ccfg3 := ccfg
	ccfg3.NodeID = "n3"
	c3 := dial(t, addr, KindPeer, ccfg3)

	inj.Block("n2")
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
	inj.Unblock("n2")
	c2 = dial(t, addr, KindPeer, ccfg)
	if err := c2.Call(context.Background(), typEcho, echoReq{N: 1}, nil); err != nil {
		t.Fatalf("n2 after unblock: %v", err)
	}
}

// TestFaultsBlockByRemoteNodeIDOnTheDialSide: a dialer's injector also
// knows its connections by the node id the server sent in the handshake.
func TestFaultsBlockByRemoteNodeIDOnTheDialSide(t *testing.T) {
	scfg := testConfig(nil)
	scfg.NodeID = "srv"
	s, addr := startServer(t, scfg, KindPeer)
	registerEcho(t, s)
	inj := faults.New()
	cfg := testConfig(nil)
	faults.AttachRPC(&cfg, inj)
	cfg.NodeID = "n1"
	c := dial(t, addr, KindPeer, cfg)
	inj.Block("srv")
	<-c.Done()
	if !errors.Is(c.Err(), faults.ErrBlocked) {
		t.Fatalf("got %v, want a cut by the injector", c.Err())
	}
	if _, err := Dial(context.Background(), addr, KindPeer, cfg); !errors.Is(err, faults.ErrBlocked) {
		t.Fatalf("dial to a blocked node id: got %v", err)
	}
}

func TestAttachRPCTakesOnlyAConfigPointer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("AttachRPC accepted a Config value")
		}
	}()
	faults.AttachRPC(testConfig(nil), faults.New())
}
