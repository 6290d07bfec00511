package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/client"
)

// snapshotAttempts bounds how often a backup is restarted because the
// leader replaced its snapshot mid-way.
const snapshotAttempts = 3

// snapshotDoc is the JSON of `snapshot save`.
type snapshotDoc struct {
	File   string `json:"file"`
	Index  uint64 `json:"index"`
	Term   uint64 `json:"term"`
	Bytes  uint64 `json:"bytes"`
	CRC32C uint32 `json:"crc32c"`
}

func (d snapshotDoc) table(t *tableWriter) {
	t.text("saved snapshot at index %d (term %d): %d bytes, crc32c %08x, to %s", d.Index, d.Term, d.Bytes, d.CRC32C, d.File)
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
					doc := snapshotDoc{File: file, Index: info.Index, Term: info.Term, Bytes: info.Size, CRC32C: info.CRC32C}
					return l.g.out.print(doc, doc.table)
				})
			},
		}},
	}
}

// saveSnapshot writes a backup to file atomically: into file.tmp, synced,
// then renamed over file, and the directory synced. A backup whose
// snapshot the leader replaced mid-way is started over.
func saveSnapshot(ctx context.Context, cl *client.Client, file string) (client.SnapshotInfo, error) {
	tmp := file + ".tmp"
	var err error
	for range snapshotAttempts {
		var info client.SnapshotInfo
		info, err = saveSnapshotOnce(ctx, cl, tmp)
		if err == nil {
			if err = os.Rename(tmp, file); err != nil {
				_ = os.Remove(tmp)
				return client.SnapshotInfo{}, err
			}
			return info, syncDir(filepath.Dir(file))
		}
		_ = os.Remove(tmp)
		if !errors.Is(err, client.ErrSnapshotGone) {
			break
		}
	}
	return client.SnapshotInfo{}, err
}

func saveSnapshotOnce(ctx context.Context, cl *client.Client, tmp string) (client.SnapshotInfo, error) {
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return client.SnapshotInfo{}, err
	}
	info, err := cl.SnapshotSave(ctx, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return client.SnapshotInfo{}, fmt.Errorf("snapshot save: %w", err)
	}
	return info, nil
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
