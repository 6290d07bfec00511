package consensus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// confChangeVersion is the first byte of an encoded ConfChange.
const confChangeVersion = 1

// maxConfChangeField bounds the node ID and address lengths in a decoded
// ConfChange so a corrupt length never causes a large allocation.
const maxConfChangeField = 4096

// EncodeConfChange returns the deterministic binary form of cc that travels
// in an EntryConfChange's Data: a version byte, the type byte, then the node
// ID and the address, each as a uvarint length and bytes.
func EncodeConfChange(cc ConfChange) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(cc.Node)+len(cc.Addr))
	b = append(b, confChangeVersion, byte(cc.Type))
	b = binary.AppendUvarint(b, uint64(len(cc.Node)))
	b = append(b, cc.Node...)
	b = binary.AppendUvarint(b, uint64(len(cc.Addr)))
	b = append(b, cc.Addr...)
	return b
}

// DecodeConfChange parses the output of EncodeConfChange. Anything else
// (unknown version or type, truncated or trailing bytes) is
// ErrCorruptConfChange.
func DecodeConfChange(data []byte) (ConfChange, error) {
	if len(data) < 2 || data[0] != confChangeVersion {
		return ConfChange{}, fmt.Errorf("%w: bad header", ErrCorruptConfChange)
	}
	cc := ConfChange{Type: ConfChangeType(data[1])}
	if cc.Type < ConfAddLearner || cc.Type > ConfRemove {
		return ConfChange{}, fmt.Errorf("%w: unknown type %d", ErrCorruptConfChange, data[1])
	}
	rest := data[2:]
	field := func(name string) (string, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > maxConfChangeField || n > uint64(len(rest)-k) {
			return "", fmt.Errorf("%w: bad %s length", ErrCorruptConfChange, name)
		}
		s := string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
		return s, nil
	}
	node, err := field("node")
	if err != nil {
		return ConfChange{}, err
	}
	addr, err := field("addr")
	if err != nil {
		return ConfChange{}, err
	}
	if len(rest) != 0 {
		return ConfChange{}, fmt.Errorf("%w: %d trailing bytes", ErrCorruptConfChange, len(rest))
	}
	cc.Node, cc.Addr = NodeID(node), addr
	if !bytes.Equal(EncodeConfChange(cc), data) {
		// Non-minimal varints: only the canonical form is accepted, so that
		// every replica reads the same bytes the same way.
		return ConfChange{}, fmt.Errorf("%w: non-canonical encoding", ErrCorruptConfChange)
	}
	return cc, nil
}

// BootstrapSnapshot is the snapshot every founding member of a new cluster
// applies to its empty storage (with HardState{Term: 1}): index 1, term 1,
// membership conf. The log then begins at index 2, and a node that joins
// later catches up from a snapshot.
func BootstrapSnapshot(conf ConfState) Snapshot {
	return Snapshot{Meta: SnapshotMeta{Index: 1, Term: 1, Conf: cloneConfState(conf)}}
}

// cloneConfState returns a deep copy of cs with sorted member lists.
func cloneConfState(cs ConfState) ConfState {
	out := ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}
	slices.Sort(out.Voters)
	slices.Sort(out.Learners)
	if cs.Addrs != nil {
		out.Addrs = make(map[NodeID]string, len(cs.Addrs))
		for k, v := range cs.Addrs {
			out.Addrs[k] = v
		}
	}
	return out
}

func isVoter(cs ConfState, id NodeID) bool   { return slices.Contains(cs.Voters, id) }
func isLearner(cs ConfState, id NodeID) bool { return slices.Contains(cs.Learners, id) }

// IsMember reports whether id is a voter or a learner of cs.
func (cs ConfState) IsMember(id NodeID) bool { return isVoter(cs, id) || isLearner(cs, id) }

// checkConfChange reports whether cc can be applied to cs.
func checkConfChange(cs ConfState, cc ConfChange) error {
	if cc.Node == None {
		return fmt.Errorf("%w: empty node ID", ErrInvalidConfChange)
	}
	switch cc.Type {
	case ConfAddLearner:
		if cs.IsMember(cc.Node) {
			return fmt.Errorf("%w: %s is already a member", ErrInvalidConfChange, cc.Node)
		}
	case ConfPromote:
		if isVoter(cs, cc.Node) {
			return fmt.Errorf("%w: %s is already a voter", ErrInvalidConfChange, cc.Node)
		}
		if !isLearner(cs, cc.Node) {
			return fmt.Errorf("%w: promote %s", ErrUnknownNode, cc.Node)
		}
	case ConfRemove:
		if !cs.IsMember(cc.Node) {
			return fmt.Errorf("%w: remove %s", ErrUnknownNode, cc.Node)
		}
		if isVoter(cs, cc.Node) && len(cs.Voters) == 1 {
			return fmt.Errorf("%w: removing %s leaves no voters", ErrInvalidConfChange, cc.Node)
		}
	default:
		return fmt.Errorf("%w: unknown type %d", ErrInvalidConfChange, cc.Type)
	}
	return nil
}

// applyConfChange returns cs with cc applied; cc must pass checkConfChange.
func applyConfChange(cs ConfState, cc ConfChange) ConfState {
	out := cloneConfState(cs)
	if out.Addrs == nil {
		out.Addrs = map[NodeID]string{}
	}
	switch cc.Type {
	case ConfAddLearner:
		out.Learners = append(out.Learners, cc.Node)
		if cc.Addr != "" {
			out.Addrs[cc.Node] = cc.Addr
		}
	case ConfPromote:
		out.Learners = slices.DeleteFunc(out.Learners, func(id NodeID) bool { return id == cc.Node })
		out.Voters = append(out.Voters, cc.Node)
		if cc.Addr != "" {
			out.Addrs[cc.Node] = cc.Addr
		}
	case ConfRemove:
		out.Learners = slices.DeleteFunc(out.Learners, func(id NodeID) bool { return id == cc.Node })
		out.Voters = slices.DeleteFunc(out.Voters, func(id NodeID) bool { return id == cc.Node })
		delete(out.Addrs, cc.Node)
	}
	slices.Sort(out.Voters)
	slices.Sort(out.Learners)
	return out
}
