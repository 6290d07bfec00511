package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// acl grant, list and revoke round-trip through the cluster, in table and
// JSON, and a repeated change says it changed nothing. (The cluster runs
// without TLS, so the grants are recorded but not enforced; enforcement
// is tested in package server.)
func TestACLGrantListRevoke(t *testing.T) {
	c := cluster(t)
	code, out, stderr := c.run(t, "-o", "json", "acl", "grant", "acl-svc", "lock", "acl-svc/")
	var ch aclChangeDoc
	if err := json.Unmarshal([]byte(out), &ch); code != 0 || err != nil || !ch.Changed || ch.Action != "grant" ||
		ch.Grant != (grantDoc{Principal: "acl-svc", Permission: "lock", Prefix: "acl-svc/"}) {
		t.Fatalf("acl grant: exit %d %v %+v %s", code, err, ch, stderr)
	}
	if code, out, _ := c.run(t, "acl", "grant", "acl-svc", "lock", "acl-svc/"); code != 0 || !strings.Contains(out, "already had") {
		t.Fatalf("repeated grant: exit %d %q", code, out)
	}
	code, out, _ = c.run(t, "-o", "json", "acl", "list")
	var doc aclDoc
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.Caller != "" {
		t.Fatalf("acl list: exit %d %v %q", code, err, out)
	}
	found := false
	for _, g := range doc.Grants {
		found = found || g == grantDoc{Principal: "acl-svc", Permission: "lock", Prefix: "acl-svc/"}
	}
	if !found {
		t.Fatalf("acl list %+v lacks the grant", doc.Grants)
	}
	if code, out, _ := c.run(t, "acl", "list"); code != 0 || !strings.Contains(out, "PRINCIPAL") || !strings.Contains(out, "acl-svc/") {
		t.Fatalf("acl list table: exit %d %q", code, out)
	}
	if code, out, _ := c.run(t, "acl", "revoke", "acl-svc", "lock", "acl-svc/"); code != 0 || !strings.Contains(out, "revoked lock on acl-svc/* from acl-svc") {
		t.Fatalf("acl revoke: exit %d %q", code, out)
	}
	if code, out, _ := c.run(t, "acl", "revoke", "acl-svc", "lock", "acl-svc/"); code != 0 || !strings.Contains(out, "did not have") {
		t.Fatalf("repeated revoke: exit %d %q", code, out)
	}
}

func TestACLBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"acl", "grant", "svc"},
		{"acl", "grant", "svc", "fly", "x/"},
		{"acl", "grant", "svc", "admin", "x/"},
		{"acl", "revoke", "a", "lock", "p", "extra"},
	} {
		if code, _, stderr := runArgs(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; %s", args, code, exitUsage, stderr)
		}
	}
}
