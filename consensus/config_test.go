package consensus

import (
	"errors"
	"testing"
)

// Reference: Raft paper §5.6 (broadcastTime << electionTimeout): the
// heartbeat interval must be shorter than the election timeout.
func TestConfigValidate(t *testing.T) {
	st := NewMemoryStorage()
	if err := DefaultConfig("n1", st).Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"no id":                 func(c *Config) { c.ID = None },
		"no storage":            func(c *Config) { c.Storage = nil },
		"zero heartbeat":        func(c *Config) { c.HeartbeatTick = 0 },
		"election <= heartbeat": func(c *Config) { c.ElectionTick = c.HeartbeatTick },
		"no inflight window":    func(c *Config) { c.MaxInflightMsgs = 0 },
		"no rand":               func(c *Config) { c.Rand = nil },
	} {
		c := DefaultConfig("n1", st)
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// Reference: Raft paper Figure 2 (commitIndex <= last log index; lastApplied
// <= commitIndex).
func TestNewRejectsInconsistentStorage(t *testing.T) {
	st := bootstrapStorage(t, []NodeID{"n1"})
	if err := st.SetHardState(HardState{Term: 1, Commit: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(DefaultConfig("n1", st)); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("commit past last index: %v", err)
	}
	st = bootstrapStorage(t, []NodeID{"n1"})
	c := DefaultConfig("n1", st)
	c.Applied = 3
	if _, err := New(c); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("applied past commit: %v", err)
	}
}

// Reference: Raft thesis §4.2.1 (a new server starts with an empty log and
// no configuration, and must not start elections).
func TestNewOnEmptyStorageNeverCampaigns(t *testing.T) {
	r, err := New(testConfig("n9", NewMemoryStorage(), 1))
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		r.Tick()
	}
	if r.role != Follower || r.term != 0 || len(r.msgs) != 0 {
		t.Fatalf("joining node: role %s term %d msgs %d", r.role, r.term, len(r.msgs))
	}
}
