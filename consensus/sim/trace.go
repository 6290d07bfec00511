package sim

import (
	"fmt"
	"strings"

	"github.com/lockd/lockd/consensus"
)

// trace records what the simulator did, one line per event. It keeps the
// last keep lines verbatim (all of them when keepAll is set) and a hash and
// count of every line, so two runs of one seed can be compared cheaply.
type trace struct {
	keep    int
	keepAll bool
	ring    []string // the last keep lines; ring[next] is the oldest once full
	next    int
	all     []string
	count   int
	hash    uint64
}

func newTrace(keep int, keepAll bool) *trace {
	if keep < 1 {
		keep = 1
	}
	return &trace{keep: keep, keepAll: keepAll, hash: fnvOffset}
}

func (t *trace) add(line string) {
	t.count++
	t.hash = hashBytes(t.hash, []byte(line))
	t.hash = hashByte(t.hash, '\n')
	if t.keepAll {
		t.all = append(t.all, line)
	}
	if len(t.ring) < t.keep {
		t.ring = append(t.ring, line)
		return
	}
	t.ring[t.next] = line
	t.next = (t.next + 1) % t.keep
}

// lines returns the kept lines, oldest first.
func (t *trace) lines() []string {
	if t.keepAll {
		return append([]string(nil), t.all...)
	}
	out := make([]string, 0, len(t.ring))
	out = append(out, t.ring[t.next:]...)
	return append(out, t.ring[:t.next]...)
}

// fmtMsg renders a message as one trace field list:
// "n2 -> n3 MsgApp term=4 logterm=3 idx=17 ents=3 commit=15".
func fmtMsg(m *consensus.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s -> %s %s term=%d", m.From, m.To, m.Type, m.Term)
	switch m.Type {
	case consensus.MsgApp:
		fmt.Fprintf(&b, " logterm=%d idx=%d ents=%d commit=%d", m.LogTerm, m.Index, len(m.Entries), m.Commit)
		if len(m.Entries) > 0 {
			fmt.Fprintf(&b, " [%d..%d]", m.Entries[0].Index, m.Entries[len(m.Entries)-1].Index)
		}
	case consensus.MsgAppResp:
		fmt.Fprintf(&b, " idx=%d", m.Index)
		if m.Reject {
			fmt.Fprintf(&b, " reject hint=%d hintterm=%d", m.RejectHint, m.RejectTerm)
		}
	case consensus.MsgVote, consensus.MsgPreVote:
		fmt.Fprintf(&b, " logterm=%d idx=%d", m.LogTerm, m.Index)
		if len(m.Context) > 0 {
			b.WriteString(" transfer")
		}
	case consensus.MsgVoteResp, consensus.MsgPreVoteResp:
		if m.Reject {
			b.WriteString(" reject")
		} else {
			b.WriteString(" grant")
		}
	case consensus.MsgHeartbeat:
		fmt.Fprintf(&b, " commit=%d", m.Commit)
	case consensus.MsgSnap:
		if m.Snapshot != nil {
			fmt.Fprintf(&b, " snap=%d/%d", m.Snapshot.Meta.Index, m.Snapshot.Meta.Term)
		}
	case consensus.MsgReadIndexResp:
		fmt.Fprintf(&b, " idx=%d", m.Index)
	}
	if len(m.Context) > 0 && m.Type != consensus.MsgVote && m.Type != consensus.MsgPreVote {
		fmt.Fprintf(&b, " ctx=%x", m.Context)
	}
	return b.String()
}

// FNV-1a, used for trace hashes and the chained log hashes. It is fixed
// (unlike hash/maphash) so hashes are the same in every process.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func hashByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func hashBytes(h uint64, p []byte) uint64 {
	for _, b := range p {
		h = (h ^ uint64(b)) * fnvPrime
	}
	return h
}

func hashUint(h, v uint64) uint64 {
	for i := 0; i < 8; i++ {
		h = (h ^ (v & 0xff)) * fnvPrime
		v >>= 8
	}
	return h
}
