package rpc

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateRejectsOutOfRange(t *testing.T) {
	cases := map[string]func(*Config){
		"MaxFrameSize":       func(c *Config) { c.MaxFrameSize = 10 },
		"MaxDepth":           func(c *Config) { c.MaxDepth = 0 },
		"MaxInFlight":        func(c *Config) { c.MaxInFlight = 0 },
		"SendQueueLen":       func(c *Config) { c.SendQueueLen = 0 },
		"PushQueueLen":       func(c *Config) { c.PushQueueLen = -1 },
		"HandshakeTimeout":   func(c *Config) { c.HandshakeTimeout = 0 },
		"WriteTimeout":       func(c *Config) { c.WriteTimeout = 0 },
		"PingInterval":       func(c *Config) { c.PingInterval = c.ReadTimeout },
		"DefaultCallTimeout": func(c *Config) { c.DefaultCallTimeout = 0 },
		"NodeID":             func(c *Config) { c.NodeID = strings.Repeat("x", 256) },
		"WriteBufferSize":    func(c *Config) { c.WriteBufferSize = 10 },
		"ReadTimeout":        func(c *Config) { c.ReadTimeout = -time.Second },
		"MaxQueueBytes":      func(c *Config) { c.MaxQueueBytes = c.MaxFrameSize },
		"MaxConns":           func(c *Config) { c.MaxConns = -1 },
		"MaxConnsPerIP":      func(c *Config) { c.MaxConnsPerIP = -1 },
	}
	for field, mutate := range cases {
		cfg := DefaultConfig()
		mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

// MaxQueueBytes 0 is 8 MiB, or two largest frames with their headers when
// they need more (as with the default 4 MiB frames), so
// that raising MaxFrameSize alone never makes a Config invalid.
func TestDefaultQueueBudgetHoldsTwoLargestFrames(t *testing.T) {
	cfg := DefaultConfig()
	if got, want := cfg.queueBudget(), 2*(4<<20+headerLen); got != want {
		t.Fatalf("default budget %d, want two 4 MiB frames (%d)", got, want)
	}
	cfg.MaxFrameSize = 1 << 20
	if got := cfg.queueBudget(); got != 8<<20 {
		t.Fatalf("budget %d with 1 MiB frames, want 8 MiB", got)
	}
	cfg.MaxFrameSize = 16 << 20
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.queueBudget(); got != 2*(16<<20+headerLen) {
		t.Fatalf("budget %d with 16 MiB frames, want two frames", got)
	}
	cfg.MaxQueueBytes = 20 << 20
	if got := cfg.queueBudget(); got != 20<<20 {
		t.Fatalf("budget %d, want the 20 MiB set", got)
	}
}
