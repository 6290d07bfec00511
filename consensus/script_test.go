package consensus

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var updateScripts = flag.Bool("update", false, "rewrite testdata/*.txt with the actual output")

// TestScripts runs the interaction scripts in testdata/*.txt. Each block is
// one or more commands, a "----" line, and the expected output, ended by a
// blank line; the output reads like a trace of the cluster. Run with
// -update to rewrite the expected output after an intended change.
// Reference: Raft thesis §3.10 and §4.2 (the scenarios each script names).
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptBlock struct {
	cmds []string
	want string
}

func parseScript(t *testing.T, text string) []scriptBlock {
	var blocks []scriptBlock
	var cur *scriptBlock
	inOut := false
	var out []string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
		case cur == nil:
			cur = &scriptBlock{cmds: []string{line}}
		case !inOut && line == "----":
			inOut = true
		case !inOut:
			cur.cmds = append(cur.cmds, line)
		case line == "":
			cur.want = strings.Join(out, "\n")
			blocks = append(blocks, *cur)
			cur, inOut, out = nil, false, nil
		default:
			out = append(out, line)
		}
	}
	if cur != nil {
		cur.want = strings.Join(out, "\n")
		blocks = append(blocks, *cur)
	}
	return blocks
}

func runScript(t *testing.T, path string) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nw *network
	var rewritten strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		rewritten.WriteString(line + "\n")
	}
	for _, b := range parseScript(t, string(raw)) {
		var out []string
		for _, cmd := range b.cmds {
			out = append(out, runCommand(t, &nw, cmd)...)
		}
		got := strings.Join(out, "\n")
		if *updateScripts {
			fmt.Fprintf(&rewritten, "\n%s\n----\n", strings.Join(b.cmds, "\n"))
			if got != "" {
				rewritten.WriteString(got + "\n")
			}
			continue
		}
		if got != b.want {
			t.Fatalf("%s: after\n%s\ngot:\n%s\nwant:\n%s", path, strings.Join(b.cmds, "\n"), got, b.want)
		}
	}
	if *updateScripts {
		if err := os.WriteFile(path, []byte(rewritten.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runCommand executes one script command and returns its output lines.
func runCommand(t *testing.T, nwp **network, line string) []string {
	f := strings.Fields(line)
	nw := *nwp
	node := func(i int) *Raft { return nw.nodes[NodeID(f[i])].r }
	num := func(i int) int {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		return n
	}
	errLine := func(err error) []string {
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		return nil
	}
	switch f[0] {
	case "cluster": // cluster N [prevote] [checkquorum]
		var opts []netOption
		for _, o := range f[2:] {
			switch o {
			case "prevote":
				opts = append(opts, withPreVote)
			case "checkquorum":
				opts = append(opts, withCheckQuorum)
			}
		}
		*nwp = newNetwork(t, num(1), opts...)
	case "campaign":
		nw.campaign(NodeID(f[1]))
	case "tick": // tick N [nodes...]
		var only []NodeID
		for _, id := range f[2:] {
			only = append(only, NodeID(id))
		}
		nw.tick(num(1), only...)
	case "propose":
		_, _, err := node(1).Propose([]byte(f[2]))
		nw.stabilize()
		return errLine(err)
	case "isolate":
		nw.isolate(NodeID(f[1]))
	case "heal":
		nw.heal()
	case "transfer":
		err := node(1).TransferLeader(NodeID(f[2]))
		nw.stabilize()
		return errLine(err)
	case "read": // read NODE ID
		err := node(1).ReadIndex(uint64(num(2)))
		nw.stabilize()
		return errLine(err)
	case "join":
		nw.joinNode(NodeID(f[1]))
	case "conf": // conf LEADER add-learner|promote|remove NODE
		types := map[string]ConfChangeType{"add-learner": ConfAddLearner, "promote": ConfPromote, "remove": ConfRemove}
		_, _, err := node(1).ProposeConfChange(ConfChange{Type: types[f[2]], Node: NodeID(f[3])})
		nw.stabilize()
		return errLine(err)
	case "status":
		var out []string
		for _, id := range nw.ids {
			n := nw.nodes[id]
			s := n.r.Status()
			out = append(out, fmt.Sprintf("%s: %s term=%d lead=%s commit=%d last=%d voters=%v learners=%v applied=%v reads=%v dropped=%v",
				id, s.Role, s.Term, s.Lead, s.Commit, s.LastIndex, s.ConfState.Voters, s.ConfState.Learners,
				n.normalData(), n.reads, n.dropped))
		}
		return out
	case "progress":
		s := node(1).Status()
		var out []string
		for id, pr := range s.Progress {
			out = append(out, fmt.Sprintf("%s: match=%d next=%d %s learner=%v active=%v", id, pr.Match, pr.Next, pr.State, pr.IsLearner, pr.RecentActive))
		}
		slices.Sort(out)
		return out
	default:
		t.Fatalf("unknown command %q", line)
	}
	return nil
}
