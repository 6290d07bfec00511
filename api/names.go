package api

import "fmt"

// String names the request, as in its constant without the Msg prefix
// ("Acquire"); an unknown value prints as MsgType(n).
func (t MsgType) String() string {
	switch t {
	case MsgOpenSession:
		return "OpenSession"
	case MsgKeepAlive:
		return "KeepAlive"
	case MsgCloseSession:
		return "CloseSession"
	case MsgAcquire:
		return "Acquire"
	case MsgRelease:
		return "Release"
	case MsgCancelWait:
		return "CancelWait"
	case MsgProclaim:
		return "Proclaim"
	case MsgCheckToken:
		return "CheckToken"
	case MsgGetLock:
		return "GetLock"
	case MsgListLocks:
		return "ListLocks"
	case MsgGetSession:
		return "GetSession"
	case MsgListSessions:
		return "ListSessions"
	case MsgStatus:
		return "Status"
	case MsgMembers:
		return "Members"
	case MsgAddLearner:
		return "AddLearner"
	case MsgPromote:
		return "Promote"
	case MsgRemoveMember:
		return "RemoveMember"
	case MsgTransferLeader:
		return "TransferLeader"
	case MsgSnapshotSave:
		return "SnapshotSave"
	case MsgObserve:
		return "Observe"
	case MsgAttach:
		return "Attach"
	case MsgClusterStatus:
		return "ClusterStatus"
	case MsgPolicy:
		return "Policy"
	case MsgGrant:
		return "Grant"
	case MsgRevoke:
		return "Revoke"
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// String names the event, as in its constant without the Push prefix
// ("Granted"); an unknown value prints as PushType(n).
func (t PushType) String() string {
	switch t {
	case PushGranted:
		return "Granted"
	case PushLost:
		return "Lost"
	case PushSessionExpired:
		return "SessionExpired"
	case PushLeaderChanged:
		return "LeaderChanged"
	case PushHolderChanged:
		return "HolderChanged"
	}
	return fmt.Sprintf("PushType(%d)", uint8(t))
}

// String is "exclusive" or "shared"; an unknown value prints as Mode(n).
func (m Mode) String() string {
	switch m {
	case ModeExclusive:
		return "exclusive"
	case ModeShared:
		return "shared"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}
