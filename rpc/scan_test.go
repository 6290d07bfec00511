package rpc

import (
	"errors"
	"strings"
	"testing"
)

func nest(depth int) []byte {
	b := []byte(strings.Repeat("\x91", depth)) // fixarray of one element
	return append(b, 0x01)
}

func TestScanMsgpackAcceptsWellFormedValues(t *testing.T) {
	valid := map[string][]byte{
		"fixint":        {0x05},
		"nil":           {0xc0},
		"negative":      {0xff},
		"fixstr":        {0xa3, 'a', 'b', 'c'},
		"str8":          {0xd9, 2, 'h', 'i'},
		"bin16":         {0xc5, 0, 1, 0xaa},
		"empty array32": {0xdd, 0, 0, 0, 0},
		"fixmap":        {0x81, 0xa1, 'k', 0x02},
		"map16":         {0xde, 0, 1, 0x01, 0x02},
		"float64":       {0xcb, 1, 2, 3, 4, 5, 6, 7, 8},
		"uint64":        {0xcf, 1, 2, 3, 4, 5, 6, 7, 8},
		"fixext4":       {0xd6, 0xff, 1, 2, 3, 4},
		"ext8":          {0xc7, 2, 0x05, 1, 2},
		"depth 32":      nest(32),
		"struct":        mustEncode(t, echoReq{N: 3, Text: "x", Data: []byte{1, 2}}),
	}
	for name, b := range valid {
		if err := scanMsgpack(b, 32); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestScanMsgpackRejectsLengthsBeyondTheInput(t *testing.T) {
	// Reference: issue 3, "a header that claims 4 GiB allocates nothing".
	bad := map[string][]byte{
		"array32 of 4G":   {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32 of 4G":     {0xdf, 0xff, 0xff, 0xff, 0xff},
		"bin32 of 4G":     {0xc6, 0xff, 0xff, 0xff, 0xff},
		"str32 of 4G":     {0xdb, 0xff, 0xff, 0xff, 0xff},
		"ext32 of 4G":     {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},
		"array16 short":   {0xdc, 0x00, 0x03, 0x01, 0x02},
		"fixmap short":    {0x82, 0x01, 0x02, 0x03},
		"fixstr short":    {0xa5, 'a'},
		"uint64 short":    {0xcf, 1, 2},
		"length short":    {0xdd, 0xff},
		"empty":           {},
		"reserved 0xc1":   {0xc1},
		"trailing bytes":  {0x01, 0x02},
		"nested 4G array": {0x91, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00},
	}
	for name, b := range bad {
		err := scanMsgpack(b, 32)
		if !errors.Is(err, ErrDecode) {
			t.Errorf("%s: got %v, want ErrDecode", name, err)
		}
	}
}

func TestScanMsgpackEnforcesDepth(t *testing.T) {
	if err := scanMsgpack(nest(33), 32); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth 33: got %v, want ErrTooDeep", err)
	}
	empty := append([]byte(strings.Repeat("\x91", 32)), 0x90) // 33rd level is an empty array
	if err := scanMsgpack(empty, 32); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("empty array at depth 33: got %v, want ErrTooDeep", err)
	}
	// Deep nesting must not recurse: a million levels is just an error.
	if err := scanMsgpack(nest(1_000_000), 32); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth 1e6: got %v", err)
	}
}
