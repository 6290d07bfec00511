package api

import (
	"errors"
	"testing"
)

func TestEveryCodeMapsBackToItsSentinel(t *testing.T) {
	seen := map[error]Code{}
	for c, s := range Codes() {
		if prev, dup := seen[s]; dup {
			t.Fatalf("sentinel %v has two codes, %d and %d", s, prev, c)
		}
		seen[s] = c
		err := FromCode(c, "detail")
		if !errors.Is(err, s) {
			t.Fatalf("code %d: %v does not match %v", c, err, s)
		}
		var ae *Error
		if !errors.As(err, &ae) || ae.RPCCode() != uint32(c) {
			t.Fatalf("code %d did not survive the round trip", c)
		}
	}
}

func TestUnknownCodeIsReportedNotPanicked(t *testing.T) {
	err := FromCode(9999, "from the future")
	if !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("got %v, want ErrUnknownCode", err)
	}
	if FromCode(CodeOK, "") != nil {
		t.Fatal("CodeOK must be no error")
	}
}
