package api

import (
	"bytes"
	"testing"
)

// TestMessageNumbersAndNames pins every request, push and mode number (the
// wire protocol, docs/PROTOCOL.md) and the name String gives it.
func TestMessageNumbersAndNames(t *testing.T) {
	msgs := []struct {
		t    MsgType
		n    uint8
		name string
	}{
		{MsgOpenSession, 1, "OpenSession"}, {MsgKeepAlive, 2, "KeepAlive"},
		{MsgCloseSession, 3, "CloseSession"}, {MsgAcquire, 4, "Acquire"},
		{MsgRelease, 5, "Release"}, {MsgCancelWait, 6, "CancelWait"},
		{MsgProclaim, 7, "Proclaim"}, {MsgCheckToken, 8, "CheckToken"},
		{MsgGetLock, 9, "GetLock"}, {MsgListLocks, 10, "ListLocks"},
		{MsgGetSession, 11, "GetSession"}, {MsgListSessions, 12, "ListSessions"},
		{MsgStatus, 13, "Status"}, {MsgMembers, 14, "Members"},
		{MsgAddLearner, 15, "AddLearner"}, {MsgPromote, 16, "Promote"},
		{MsgRemoveMember, 17, "RemoveMember"}, {MsgTransferLeader, 18, "TransferLeader"},
		{MsgSnapshotSave, 19, "SnapshotSave"}, {MsgObserve, 20, "Observe"},
		{MsgAttach, 21, "Attach"}, {MsgClusterStatus, 22, "ClusterStatus"},
		{MsgPolicy, 23, "Policy"}, {MsgGrant, 24, "Grant"}, {MsgRevoke, 25, "Revoke"},
	}
	for _, m := range msgs {
		if uint8(m.t) != m.n || m.t.String() != m.name {
			t.Errorf("%s = %d, want %s = %d", m.t, uint8(m.t), m.name, m.n)
		}
	}
	if s := MsgType(0).String(); s != "MsgType(0)" {
		t.Errorf("MsgType(0) prints as %q", s)
	}
	pushes := []struct {
		t    PushType
		n    uint8
		name string
	}{
		{PushGranted, 40, "Granted"}, {PushLost, 41, "Lost"}, {PushSessionExpired, 42, "SessionExpired"},
		{PushLeaderChanged, 43, "LeaderChanged"}, {PushHolderChanged, 44, "HolderChanged"},
	}
	for _, p := range pushes {
		if uint8(p.t) != p.n || p.t.String() != p.name {
			t.Errorf("%s = %d, want %s = %d", p.t, uint8(p.t), p.name, p.n)
		}
	}
	if s := PushType(1).String(); s != "PushType(1)" {
		t.Errorf("PushType(1) prints as %q", s)
	}
	if ModeExclusive != 1 || ModeShared != 2 || ModeExclusive.String() != "exclusive" ||
		ModeShared.String() != "shared" || Mode(3).String() != "Mode(3)" {
		t.Errorf("modes: %d %s, %d %s, %s", uint8(ModeExclusive), ModeExclusive, uint8(ModeShared), ModeShared, Mode(3))
	}
}

// TestTypedModeKeepsTheWireFormat: a Mode field encodes, through
// go-msgpack, to the bytes a plain uint8 field did.
func TestTypedModeKeepsTheWireFormat(t *testing.T) {
	type plainHolder struct {
		Session    uint64
		Mode       uint8
		Token      uint64
		Value      []byte
		AcquiredAt int64
	}
	typed := goEncode(t, HolderInfo{Session: 7, Mode: ModeShared, Token: 9, Value: []byte("v"), AcquiredAt: 11})
	plain := goEncode(t, plainHolder{Session: 7, Mode: 2, Token: 9, Value: []byte("v"), AcquiredAt: 11})
	if !bytes.Equal(typed, plain) {
		t.Fatalf("typed %x, plain %x", typed, plain)
	}
	var back plainHolder
	if err := goDecode(typed, &back); err != nil || back.Mode != 2 {
		t.Fatalf("decoded as plain: %+v, %v", back, err)
	}
}
