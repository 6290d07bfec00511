package freeport

import (
	"net"
	"strconv"
	"testing"
)

// Addr's ports are free and below the ephemeral range, where the kernel's
// own picks (bind to :0, outgoing connections) never land.
func TestAddrIsFreeAndBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 50 {
		a, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if low > lowest+100 && (port < lowest || port >= low) {
			t.Fatalf("port %d outside [%d, %d)", port, lowest, low)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("Addr gave %s, which cannot be bound: %v", a, err)
		}
		ln.Close()
	}
}

// A port the kernel hands out for :0 is in the ephemeral range, so it is
// never one Addr would pick (the premise of the package).
func TestKernelPicksAreInTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if port := ln.Addr().(*net.TCPAddr).Port; port < low {
		t.Fatalf("kernel picked %d below its own range start %d", port, low)
	}
}
