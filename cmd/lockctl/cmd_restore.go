package main

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/server"
)

// inspectDoc is the JSON of `snapshot inspect`.
type inspectDoc struct {
	File          string `json:"file"`
	FormatVersion uint16 `json:"format_version"`
	ClusterID     string `json:"cluster_id"`
	Index         uint64 `json:"index"`
	Term          uint64 `json:"term"`
	Bytes         uint64 `json:"bytes"`
	SHA256        string `json:"sha256"`
	Sessions      int    `json:"sessions"`
	Locks         int    `json:"locks"`
	Holders       int    `json:"holders"`
	Waiters       int    `json:"waiters"`
}

func (d inspectDoc) table(t *tableWriter) {
	t.row("FILE", d.File)
	t.row("FORMAT VERSION", d.FormatVersion)
	t.row("CLUSTER ID", orDash(d.ClusterID))
	t.row("INDEX", d.Index)
	t.row("TERM", d.Term)
	t.row("BYTES", d.Bytes)
	t.row("SHA256", d.SHA256)
	t.row("SESSIONS", d.Sessions)
	t.row("LOCKS", d.Locks)
	t.row("HOLDERS", d.Holders)
	t.row("WAITERS", d.Waiters)
}

func (l *lockctl) snapshotInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "check a backup file and show its header and what it holds",
		ArgsUsage: "FILE",
		Description: "Reads FILE offline (no cluster needed), checks its format version, length\n" +
			"and SHA-256 and that its snapshot loads, then prints the header (cluster ID,\n" +
			"index, term) and the counts of sessions, locks, holders and waiters.",
		Action: func(c *cli.Context) error {
			if err := exactArgs(c, "FILE"); err != nil {
				return err
			}
			file := c.Args().First()
			info, err := server.InspectBackup(file)
			if err != nil {
				return err
			}
			doc := inspectDoc{File: file, FormatVersion: info.Version, ClusterID: info.ClusterID, Index: info.Index,
				Term: info.Term, Bytes: info.Size, SHA256: fmt.Sprintf("%x", info.SHA256), Sessions: info.Sessions,
				Locks: info.Locks, Holders: info.Holders, Waiters: info.Waiters}
			return l.g.out.print(doc, doc.table)
		},
	}
}

// restoreDoc is the JSON of `snapshot restore`.
type restoreDoc struct {
	File string `json:"file"`
	// FromClusterID is the cluster the backup was taken from, ClusterID
	// the new one.
	FromClusterID string `json:"from_cluster_id"`
	ClusterID     string `json:"cluster_id"`
	Index         uint64 `json:"index"`
	Term          uint64 `json:"term"`
	// InitialCluster and InitialClusterToken are what to start the nodes
	// with.
	InitialCluster      string              `json:"initial_cluster"`
	InitialClusterToken string              `json:"initial_cluster_token"`
	Members             []restoredMemberDoc `json:"members"`
}

// restoredMemberDoc is one member in restoreDoc; DataDir is "" for a
// member restored on another host.
type restoredMemberDoc struct {
	ID       string `json:"id"`
	PeerAddr string `json:"peer_addr"`
	DataDir  string `json:"data_dir"`
}

func (d restoreDoc) table(t *tableWriter) {
	t.text("restored the snapshot of cluster %s at index %d (term %d) as the new cluster %s",
		orDash(d.FromClusterID), d.Index, d.Term, d.ClusterID)
	t.row("ID", "PEER ADDRESS", "DATA DIRECTORY")
	for _, m := range d.Members {
		t.row(m.ID, m.PeerAddr, orDash(m.DataDir))
	}
	token := ""
	if d.InitialClusterToken != "" {
		token = " --initial-cluster-token " + d.InitialClusterToken
	}
	t.text("start each node with its --id and --data-dir and --initial-cluster %s%s", d.InitialCluster, token)
}

func (l *lockctl) snapshotRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "build the data directories of a new cluster from a backup file (offline)",
		ArgsUsage: "--initial-cluster ID=HOST:PORT,... (--out DIR | --data-dir-template PATH | --id ID --data-dir DIR) FILE",
		Description: "Checks FILE, then writes, for the members --initial-cluster names, data\n" +
			"directories that hold the backup's state under a new cluster ID. Every data\n" +
			"directory must not exist or be empty; nothing is written if any check fails.\n" +
			"Where the directories go: --out DIR (DIR/ID for every member), or\n" +
			"--data-dir-template with {id} (every member), or --id and --data-dir (one\n" +
			"member, on its own host; every host that restores the same file with the same\n" +
			"--initial-cluster and token makes the same cluster). Then start the nodes\n" +
			"with the same --initial-cluster (and token).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "initial-cluster",
				Usage: "the new cluster's members as id=host:port peer addresses, comma-separated (as lockd's --initial-cluster)"},
			&cli.StringFlag{Name: "initial-cluster-token", Usage: "the new cluster's --initial-cluster-token, if its nodes will be given one"},
			&cli.StringFlag{Name: "out", Usage: "write every member's data directory as `DIR`/ID"},
			&cli.StringFlag{Name: "data-dir-template", Usage: "write every member's data directory at `PATH`, with {id} replaced by its ID"},
			&cli.StringFlag{Name: "id", Usage: "restore only member `ID` (with --data-dir)"},
			&cli.StringFlag{Name: "data-dir", Usage: "the data directory of --id"},
		},
		Action: func(c *cli.Context) error {
			if err := exactArgs(c, "FILE"); err != nil {
				return err
			}
			if c.String("initial-cluster") == "" {
				return usagef("%s: --initial-cluster is required: the new cluster's members", c.Command.HelpName)
			}
			members, err := parseMembers(c.String("initial-cluster"))
			if err != nil {
				return err
			}
			dirs, err := restoreDirs(c, members)
			if err != nil {
				return err
			}
			file := c.Args().First()
			res, err := server.Restore(server.RestoreConfig{File: file, Members: members,
				Token: c.String("initial-cluster-token"), DataDirs: dirs})
			if err != nil {
				return err
			}
			doc := restoreDoc{File: file, FromClusterID: res.Backup.ClusterID, ClusterID: res.ClusterID,
				Index: res.Backup.Index, Term: res.Backup.Term, InitialCluster: server.FormatMembers(members),
				InitialClusterToken: c.String("initial-cluster-token")}
			for _, id := range slices.Sorted(maps.Keys(members)) {
				doc.Members = append(doc.Members, restoredMemberDoc{ID: id, PeerAddr: members[id], DataDir: res.DataDirs[id]})
			}
			return l.g.out.print(doc, doc.table)
		},
	}
}

// parseMembers reads an --initial-cluster list: id=host:port, comma
// separated, IDs and addresses each once.
func parseMembers(s string) (map[string]string, error) {
	members := map[string]string{}
	byAddr := map[string]string{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		id, addr, ok := strings.Cut(entry, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok || id == "" {
			return nil, usagef("--initial-cluster: entry %q is not id=host:port", entry)
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return nil, usagef("--initial-cluster: entry %q: %q is not host:port", entry, addr)
		}
		if _, dup := members[id]; dup {
			return nil, usagef("--initial-cluster: node %q listed twice", id)
		}
		if other, dup := byAddr[addr]; dup {
			return nil, usagef("--initial-cluster: nodes %q and %q share address %s", other, id, addr)
		}
		members[id], byAddr[addr] = addr, id
	}
	return members, nil
}

// restoreDirs turns --out, --data-dir-template or --id with --data-dir
// into the data directory of each member to restore.
func restoreDirs(c *cli.Context, members map[string]string) (map[string]string, error) {
	out, tmpl, id, dir := c.String("out"), c.String("data-dir-template"), c.String("id"), c.String("data-dir")
	given := 0
	for _, v := range []string{out, tmpl, dir} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return nil, usagef("%s: give one of --out, --data-dir-template, or --id with --data-dir", c.Command.HelpName)
	}
	dirs := map[string]string{}
	switch {
	case out != "":
		for m := range members {
			dirs[m] = filepath.Join(out, m)
		}
	case tmpl != "":
		if !strings.Contains(tmpl, "{id}") {
			return nil, usagef("--data-dir-template %q has no {id}", tmpl)
		}
		for m := range members {
			dirs[m] = strings.ReplaceAll(tmpl, "{id}", m)
		}
	default:
		if id == "" {
			return nil, usagef("--data-dir needs --id: the member whose data directory it is")
		}
		if _, ok := members[id]; !ok {
			return nil, usagef("--id %s is not in --initial-cluster", id)
		}
		dirs[id] = dir
	}
	if id != "" && dir == "" {
		return nil, usagef("--id goes with --data-dir")
	}
	return dirs, nil
}
