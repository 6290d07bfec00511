package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
	"github.com/lockd/lockd/server"
)

// snapshotAttempts bounds how often a backup is restarted because the
// leader replaced its snapshot mid-way.
const snapshotAttempts = 3

// snapshotDoc is the JSON of `snapshot save`.
type snapshotDoc struct {
	File      string `json:"file"`
	ClusterID string `json:"cluster_id"`
	Index     uint64 `json:"index"`
	Term      uint64 `json:"term"`
	// Bytes is the state machine snapshot's size; the file adds its
	// header and checksum.
	Bytes  uint64 `json:"bytes"`
	CRC32C uint32 `json:"crc32c"`
	SHA256 string `json:"sha256"`
}

func (d snapshotDoc) table(t *tableWriter) {
	t.text("saved snapshot of cluster %s at index %d (term %d): %d bytes, sha256 %s, to %s",
		orDash(d.ClusterID), d.Index, d.Term, d.Bytes, d.SHA256, d.File)
}

func (l *lockctl) snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "back up the cluster's state",
		Subcommands: []*cli.Command{{
			Name:      "save",
			Usage:     "save a consistent backup of the replicated state to FILE",
			ArgsUsage: "FILE",
			Description: "Fetches a fresh snapshot from the leader into FILE.tmp, checks its length\n" +
				"and checksum, syncs it and renames it to FILE: FILE is either the old file\n" +
				"or a complete backup, never a partial one.",
			Action: func(c *cli.Context) error {
				if err := exactArgs(c, "FILE"); err != nil {
					return err
				}
				file := c.Args().First()
				return l.withClient(c, func(ctx context.Context, cl *client.Client) error {
					info, err := saveSnapshot(ctx, cl, file)
					if err != nil {
						return err
					}
					doc := snapshotDoc{File: file, ClusterID: info.ClusterID, Index: info.Index, Term: info.Term,
						Bytes: info.Size, CRC32C: info.CRC32C, SHA256: fmt.Sprintf("%x", info.sha256)}
					return l.g.out.print(doc, doc.table)
				})
			},
		}, l.snapshotInspectCommand(), l.snapshotRestoreCommand()},
	}
}

// savedSnapshot is what saveSnapshot wrote.
type savedSnapshot struct {
	client.SnapshotInfo
	sha256 [32]byte
}

// saveSnapshot writes a backup file (server.EncodeBackup: header, the
// snapshot, SHA-256) to file atomically: into file.tmp, synced, then
// renamed over file, and the directory synced. A backup whose snapshot
// the leader replaced mid-way is started over.
func saveSnapshot(ctx context.Context, cl *client.Client, file string) (savedSnapshot, error) {
	tmp := file + ".tmp"
	var err error
	for range snapshotAttempts {
		var info savedSnapshot
		info, err = saveSnapshotOnce(ctx, cl, tmp)
		if err == nil {
			if err = os.Rename(tmp, file); err != nil {
				_ = os.Remove(tmp)
				return savedSnapshot{}, err
			}
			return info, syncDir(filepath.Dir(file))
		}
		_ = os.Remove(tmp)
		if !errors.Is(err, client.ErrSnapshotGone) {
			break
		}
	}
	return savedSnapshot{}, err
}

// saveSnapshotOnce fetches the snapshot into memory (the whole state of
// the cluster, bounded by the server's limits), then writes the file.
func saveSnapshotOnce(ctx context.Context, cl *client.Client, tmp string) (savedSnapshot, error) {
	var data bytes.Buffer
	info, err := cl.SnapshotSave(ctx, &data)
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot save: %w", err)
	}
	file, err := server.EncodeBackup(info.ClusterID, info.Index, info.Term, data.Bytes())
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot save: %w", err)
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return savedSnapshot{}, err
	}
	_, err = f.Write(file)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return savedSnapshot{}, fmt.Errorf("snapshot save: %w", err)
	}
	saved := savedSnapshot{SnapshotInfo: info}
	copy(saved.sha256[:], file[len(file)-len(saved.sha256):])
	return saved, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
