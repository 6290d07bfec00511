package wal

import (
	"reflect"
	"testing"

	"github.com/lockd/lockd/consensus"
)

func TestRecordsRoundTrip(t *testing.T) {
	e := consensus.Entry{Index: 42, Term: 7, Type: consensus.EntryConfChange, Data: []byte("x")}
	if got, bad := decodeEntry(42, encodeEntry(e)); bad != "" || !equalEntries([]consensus.Entry{got}, []consensus.Entry{e}) {
		t.Fatalf("entry round trip = %+v, %q", got, bad)
	}
	if _, bad := decodeEntry(43, encodeEntry(e)); bad == "" {
		t.Fatal("an entry read under another index passed its checksum")
	}
	hs := consensus.HardState{Term: 9, Vote: "n2", Commit: 40}
	if got, bad := decodeHardState(encodeHardState(hs)); bad != "" || got != hs {
		t.Fatalf("hard state round trip = %+v, %q", got, bad)
	}
	b := bounds{first: 5, last: 90, prevTerm: 3}
	if got, bad := decodeBounds(encodeBounds(b)); bad != "" || got != b {
		t.Fatalf("bounds round trip = %+v, %q", got, bad)
	}
	m := snapMeta{index: 80, term: 4, size: 1000, crc: 0xdeadbeef}
	if got, bad := decodeSnapMeta(encodeSnapMeta(m)); bad != "" || got != m {
		t.Fatalf("snapshot meta round trip = %+v, %q", got, bad)
	}
	for _, c := range []consensus.ConfState{{}, testConf(), {Voters: []consensus.NodeID{"a"}}} {
		got, bad := decodeConf(encodeConf(c))
		if bad != "" || !reflect.DeepEqual(cloneConf(got), cloneConf(c)) {
			t.Fatalf("conf round trip of %+v = %+v, %q", c, got, bad)
		}
	}
}

// FuzzDecodeRecords: no stored bytes make a decoder panic or accept a value
// whose checksum does not cover it. Seeds run in every go test; explore with
//
//	go test ./wal -run '^$' -fuzz FuzzDecodeRecords -fuzztime 60s
func FuzzDecodeRecords(f *testing.F) {
	f.Add(encodeEntry(ent(1, 1)))
	f.Add(encodeHardState(consensus.HardState{Term: 1, Vote: "n1"}))
	f.Add(encodeBounds(bounds{first: 1, last: 3}))
	f.Add(encodeSnapMeta(snapMeta{index: 1, term: 1}))
	f.Add(encodeConf(testConf()))
	f.Add([]byte{0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		decodeEntry(1, v)
		decodeHardState(v)
		decodeBounds(v)
		decodeSnapMeta(v)
		decodeConf(v)
		// Bytes made valid by resealing must decode the conf without panicking,
		// however absurd the counts they claim.
		if len(v) > 0 {
			decodeConf(seal(keyConf, append([]byte{recordVersion}, v...)))
		}
	})
}
