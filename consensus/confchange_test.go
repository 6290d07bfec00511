package consensus

import (
	"errors"
	"slices"
	"testing"
)

// Reference: Raft thesis §4.1 (configurations travel as log entries, so
// every replica must decode the same bytes to the same change).
func TestConfChangeEncodingRoundTrips(t *testing.T) {
	for _, cc := range []ConfChange{
		{Type: ConfAddLearner, Node: "n4", Addr: "10.0.0.4:7000"},
		{Type: ConfPromote, Node: "n4"},
		{Type: ConfRemove, Node: "a-much-longer-node-name"},
	} {
		b := EncodeConfChange(cc)
		if !slices.Equal(b, EncodeConfChange(cc)) {
			t.Fatal("encoding is not deterministic")
		}
		got, err := DecodeConfChange(b)
		if err != nil || got != cc {
			t.Fatalf("round trip of %+v: %+v, %v", cc, got, err)
		}
	}
}

// Reference: Raft thesis §4.1; a corrupt configuration entry must never be
// half-applied.
func TestConfChangeDecodingRejectsCorruptInput(t *testing.T) {
	good := EncodeConfChange(ConfChange{Type: ConfAddLearner, Node: "n4", Addr: "x"})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"bad version":    append([]byte{9}, good[1:]...),
		"unknown type":   append([]byte{good[0], 42}, good[2:]...),
		"zero type":      append([]byte{good[0], 0}, good[2:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(slices.Clone(good), 0),
		"huge length":    {1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := DecodeConfChange(b); !errors.Is(err, ErrCorruptConfChange) {
			t.Errorf("%s: err %v, want ErrCorruptConfChange", name, err)
		}
	}
}

// Reference: Raft thesis §4.1 (only canonical encodings decode).
func FuzzDecodeConfChange(f *testing.F) {
	f.Add(EncodeConfChange(ConfChange{Type: ConfPromote, Node: "n2"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		cc, err := DecodeConfChange(b)
		if err != nil {
			return
		}
		if !slices.Equal(EncodeConfChange(cc), b) {
			t.Fatalf("decoded %+v does not re-encode to the input", cc)
		}
	})
}

// Reference: Raft thesis §4.1 (single-server changes).
func TestApplyConfChange(t *testing.T) {
	cs := ConfState{Voters: []NodeID{"n2", "n1"}}
	cs = applyConfChange(cs, ConfChange{Type: ConfAddLearner, Node: "n3", Addr: "a3"})
	if !slices.Equal(cs.Voters, []NodeID{"n1", "n2"}) || !slices.Equal(cs.Learners, []NodeID{"n3"}) || cs.Addrs["n3"] != "a3" {
		t.Fatalf("after add learner: %+v", cs)
	}
	cs = applyConfChange(cs, ConfChange{Type: ConfPromote, Node: "n3"})
	if !slices.Equal(cs.Voters, []NodeID{"n1", "n2", "n3"}) || len(cs.Learners) != 0 {
		t.Fatalf("after promote: %+v", cs)
	}
	cs = applyConfChange(cs, ConfChange{Type: ConfRemove, Node: "n3"})
	if !slices.Equal(cs.Voters, []NodeID{"n1", "n2"}) || cs.Addrs["n3"] != "" {
		t.Fatalf("after remove: %+v", cs)
	}
	orig := ConfState{Voters: []NodeID{"n1"}, Addrs: map[NodeID]string{"n1": "a"}}
	_ = applyConfChange(orig, ConfChange{Type: ConfAddLearner, Node: "n2", Addr: "b"})
	if len(orig.Addrs) != 1 || len(orig.Learners) != 0 {
		t.Fatal("applyConfChange mutated its input")
	}
}

// Reference: Raft thesis §4.4 (bootstrapping a cluster from an initial
// configuration) and §5 (a log that starts after a snapshot).
func TestBootstrapSnapshot(t *testing.T) {
	s := BootstrapSnapshot(ConfState{Voters: []NodeID{"n1", "n2"}})
	if s.Meta.Index != 1 || s.Meta.Term != 1 || !slices.Equal(s.Meta.Conf.Voters, []NodeID{"n1", "n2"}) {
		t.Fatalf("bootstrap snapshot %+v", s)
	}
	st := NewMemoryStorage()
	if err := st.ApplySnapshot(s); err != nil {
		t.Fatal(err)
	}
	if fi, _ := st.FirstIndex(); fi != 2 {
		t.Fatalf("log after bootstrap begins at %d, want 2", fi)
	}
}
