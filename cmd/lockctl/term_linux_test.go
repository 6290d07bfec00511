package main

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPseudoTerminalIsATerminal: both ends of a pseudo-terminal pair are
// terminals, so `lock` leaves CMD in the foreground process group there.
func TestPseudoTerminalIsATerminal(t *testing.T) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the pty's slave end: %v", err)
	}
	defer slave.Close()
	if !isTerminal(master) {
		t.Error("the pty master reported as not a terminal")
	}
	if !isTerminal(slave) {
		t.Error("the pty slave reported as not a terminal")
	}
}
