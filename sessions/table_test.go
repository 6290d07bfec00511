package sessions

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func newTestTable(t *testing.T) *Table {
	t.Helper()
	tb, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func mustSnapshot(t *testing.T, tb *Table) []byte {
	t.Helper()
	b, err := tb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenUsesEntryIndexAsID(t *testing.T) {
	tb := newTestTable(t)
	a, existing, err := tb.Open(7, 100, "a", 0, Owner{})
	if err != nil || existing || a.ID != 7 || a.OpenedAt != 100 {
		t.Fatalf("open = %+v, %v, %v; want ID 7 opened at 100", a, existing, err)
	}
	b, _, _ := tb.Open(9, 200, "b", 0, Owner{})
	if b.ID != 9 || tb.Len() != 2 {
		t.Fatalf("second open ID %d, len %d", b.ID, tb.Len())
	}
}

func TestOpenWithSameKeyReturnsSameSession(t *testing.T) {
	tb := newTestTable(t)
	first, _, _ := tb.Open(3, 10, "client-1", 5*time.Second, Owner{})
	again, existing, err := tb.Open(4, 20, "client-1", 30*time.Second, Owner{})
	if err != nil || !existing || again != first {
		t.Fatalf("retried open = %+v existing=%v err=%v, want %+v", again, existing, err, first)
	}
	if tb.Len() != 1 {
		t.Fatalf("retried open made %d sessions", tb.Len())
	}
	// Keyless opens are never deduplicated.
	x, _, _ := tb.Open(5, 30, "", 0, Owner{})
	y, _, _ := tb.Open(6, 30, "", 0, Owner{})
	if x.ID == y.ID {
		t.Fatal("two keyless opens returned one session")
	}
}

func TestOpenAfterEndWithSameKeyOpensNewSession(t *testing.T) {
	tb := newTestTable(t)
	first, _, _ := tb.Open(3, 10, "k", 0, Owner{})
	if _, err := tb.End(first.ID, Expired); err != nil {
		t.Fatal(err)
	}
	second, existing, _ := tb.Open(8, 20, "k", 0, Owner{})
	if existing || second.ID != 8 {
		t.Fatalf("open after end = %+v existing=%v, want new session 8", second, existing)
	}
}

func TestOpenClampsTTL(t *testing.T) {
	cfg := DefaultConfig()
	cases := []struct {
		name string
		ask  time.Duration
		want time.Duration
	}{
		{"zero gets default", 0, cfg.DefaultTTL},
		{"negative gets default", -time.Second, cfg.DefaultTTL},
		{"below min raised", time.Millisecond, cfg.MinTTL},
		{"above max lowered", time.Hour, cfg.MaxTTL},
		{"in range kept", 42 * time.Second, 42 * time.Second},
		{"min kept", cfg.MinTTL, cfg.MinTTL},
		{"max kept", cfg.MaxTTL, cfg.MaxTTL},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := newTestTable(t)
			info, _, err := tb.Open(uint64(i+1), 0, "", c.ask, Owner{})
			if err != nil || info.TTL != c.want {
				t.Fatalf("TTL %v → %v (err %v), want %v", c.ask, info.TTL, err, c.want)
			}
		})
	}
}

func TestOpenRejectsLongKeyAndChangesNothing(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "x", 0, Owner{})
	before := mustSnapshot(t, tb)
	_, _, err := tb.Open(2, 0, strings.Repeat("k", DefaultConfig().MaxKeyLen+1), 0, Owner{})
	if !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("err = %v, want ErrInvalidKey", err)
	}
	if !bytes.Equal(before, mustSnapshot(t, tb)) {
		t.Fatal("rejected open changed the table")
	}
}

func TestOpenPanicsOnNonIncreasingIndex(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(5, 0, "", 0, Owner{})
	defer func() {
		if recover() == nil {
			t.Fatal("open at a used index did not panic")
		}
	}()
	tb.Open(5, 0, "", 0, Owner{})
}

func TestEndedSessionsAnswerWithTheirReason(t *testing.T) {
	tb := newTestTable(t)
	tb.Open(1, 0, "a", 0, Owner{})
	tb.Open(2, 0, "b", 0, Owner{})
	if _, err := tb.End(1, Expired); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.End(2, Closed); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id   ID
		want error
	}{{1, ErrSessionExpired}, {2, ErrSessionClosed}, {3, ErrUnknownSession}}
	for _, c := range cases {
		if err := tb.Check(c.id); !errors.Is(err, c.want) {
			t.Errorf("Check(%d) = %v, want %v", c.id, err, c.want)
		}
		if _, _, err := tb.Begin(c.id, 1, 1, Digest{}); !errors.Is(err, c.want) {
			t.Errorf("Begin(%d) = %v, want %v", c.id, err, c.want)
		}
		before := mustSnapshot(t, tb)
		if _, err := tb.End(c.id, Expired); !errors.Is(err, c.want) {
			t.Errorf("End(%d) = %v, want %v", c.id, err, c.want)
		}
		if !bytes.Equal(before, mustSnapshot(t, tb)) {
			t.Errorf("End(%d) of a session not open changed the table", c.id)
		}
	}
	if tb.Len() != 0 {
		t.Fatalf("%d sessions still open", tb.Len())
	}
}

func TestTombstonesAreBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTombstones = 2
	tb, _ := New(cfg)
	for i := uint64(1); i <= 3; i++ {
		tb.Open(i, 0, "", 0, Owner{})
		tb.End(ID(i), Expired)
	}
	if err := tb.Check(1); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("oldest tombstone kept: %v", err)
	}
	for _, id := range []ID{2, 3} {
		if err := tb.Check(id); !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("Check(%d) = %v, want expired", id, err)
		}
	}
}

func TestListAndDeadlinesAreSortedByID(t *testing.T) {
	tb := newTestTable(t)
	for i := uint64(1); i <= 20; i++ {
		tb.Open(i*3, int64(i), "", time.Duration(i)*time.Second, Owner{})
	}
	list := tb.List()
	dl := tb.Deadlines(1_000)
	if len(list) != 20 || len(dl) != 20 {
		t.Fatalf("len list %d deadlines %d", len(list), len(dl))
	}
	for i := range list {
		if i > 0 && list[i].ID <= list[i-1].ID {
			t.Fatalf("List not sorted at %d", i)
		}
		if dl[i].ID != list[i].ID || dl[i].At != 1_000+int64(list[i].TTL) {
			t.Fatalf("deadline %+v for %+v, want now+TTL", dl[i], list[i])
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"zero min", func(c *Config) { c.MinTTL = 0 }, false},
		{"max below min", func(c *Config) { c.MaxTTL = c.MinTTL / 2 }, false},
		{"default above max", func(c *Config) { c.DefaultTTL = c.MaxTTL + 1 }, false},
		{"default below min", func(c *Config) { c.DefaultTTL = c.MinTTL - 1 }, false},
		{"no responses", func(c *Config) { c.MaxResponses = 0 }, false},
		{"no key", func(c *Config) { c.MaxKeyLen = 0 }, false},
		{"negative tombstones", func(c *Config) { c.MaxTombstones = -1 }, false},
		{"zero tombstones", func(c *Config) { c.MaxTombstones = 0 }, true},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.mut(&cfg)
		err := cfg.Validate()
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%s: Validate = %v, want ok=%v", c.name, err, c.ok)
		}
		if _, err := New(cfg); (err == nil) != c.ok {
			t.Errorf("%s: New err = %v", c.name, err)
		}
	}
}
