package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/wal"
)

// ErrRestore: a restore was refused before it wrote anything (bad
// members, a data directory that is not empty, a missing one).
var ErrRestore = errors.New("server: restore refused")

// BackupInfo is what a backup file holds: its header and the counts of
// the state in it.
type BackupInfo struct {
	BackupHeader
	// Sessions, Locks, Holders and Waiters count the open sessions, the
	// locks held or awaited, their holders and their queued waiters.
	Sessions, Locks, Holders, Waiters int
}

// InspectBackup reads and checks the backup file at path and counts what
// it holds. The snapshot inside is loaded into a state machine, so a file
// that passes would also restore.
func InspectBackup(path string) (BackupInfo, error) {
	h, data, err := ReadBackupFile(path)
	if err != nil {
		return BackupInfo{BackupHeader: h}, err
	}
	m, err := loadBackup(data)
	if err != nil {
		return BackupInfo{BackupHeader: h}, fmt.Errorf("%s: %w", path, err)
	}
	info := BackupInfo{BackupHeader: h, Sessions: len(m.Sessions())}
	for _, l := range m.Locks() {
		info.Locks++
		info.Holders += len(l.Holders)
		info.Waiters += len(l.Waiters)
	}
	return info, nil
}

// loadBackup loads a backup's state machine snapshot, which checks it.
func loadBackup(data []byte) (*fsm.Machine, error) {
	m, err := fsm.New(fsm.DefaultConfig())
	if err != nil {
		return nil, err
	}
	if err := m.Restore(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBackupCorrupt, err)
	}
	return m, nil
}

// RestoreConfig says which backup to restore and the cluster to build.
type RestoreConfig struct {
	// File is the backup file (written by `lockctl snapshot save`).
	File string
	// Members is the new cluster's founding membership, ID -> peer
	// address, as the nodes' --initial-cluster will give it.
	Members map[string]string
	// Token is the new cluster's --initial-cluster-token ("" for none).
	Token string
	// DataDirs names the data directory (ID -> directory) of each member
	// to restore here: all of them, or those of this host (each host
	// restoring the same file with the same Members and Token makes the
	// same cluster). Each must not exist or be empty.
	DataDirs map[string]string
	// Logger receives the WAL's logs; nil discards them.
	Logger hclog.Logger
}

// RestoreResult is what Restore built.
type RestoreResult struct {
	Backup    BackupHeader
	ClusterID string            // the new cluster's ID
	DataDirs  map[string]string // ID -> data directory written
}

// Restore builds, from a backup file, the data directories of a new
// cluster: each holds the backup's state machine snapshot at the backup's
// index and term, the membership Members, and a cluster record with a new
// cluster ID, so nodes of the cluster the backup came from are refused as
// strangers. Started with --initial-cluster set to Members (and the same
// token), the nodes elect a leader and serve the backup's locks, holders,
// queues, values and fencing tokens; every session gets a fresh lease
// from the first leader, so a holder that reconnects within its TTL keeps
// its locks. The snapshot bytes are copied as they are, never re-encoded.
//
// Everything is checked before anything is written: the file (magic,
// version, lengths, checksum, and that the snapshot loads), the members
// and the data directories. Each data directory is written under a
// temporary name beside it and renamed into place when complete.
func Restore(cfg RestoreConfig) (RestoreResult, error) {
	var res RestoreResult
	h, data, err := ReadBackupFile(cfg.File)
	if err != nil {
		return res, err
	}
	res.Backup = h
	m, err := loadBackup(data)
	if err != nil {
		return res, fmt.Errorf("%s: %w", cfg.File, err)
	}
	if m.AppliedIndex() != h.Index {
		return res, fmt.Errorf("%s: %w: header index %d, snapshot applied up to %d", cfg.File, ErrBackupCorrupt, h.Index, m.AppliedIndex())
	}
	if err := checkRestoreTargets(cfg); err != nil {
		return res, err
	}
	res.ClusterID = restoredClusterID(h, cfg.Members, cfg.Token)
	conf := consensus.ConfState{Addrs: map[consensus.NodeID]string{}}
	for id, addr := range cfg.Members {
		conf.Voters = append(conf.Voters, consensus.NodeID(id))
		conf.Addrs[consensus.NodeID(id)] = addr
	}
	slices.Sort(conf.Voters)
	rec := clusterRecord{ClusterID: res.ClusterID, Members: maps.Clone(cfg.Members), Token: cfg.Token}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	res.DataDirs = map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(cfg.DataDirs)) {
		dir := cfg.DataDirs[id]
		if err := writeRestoredDir(dir, rec, conf, h, data, logger.Named(id)); err != nil {
			return res, fmt.Errorf("server: restore %s into %s: %w", id, dir, err)
		}
		res.DataDirs[id] = dir
	}
	return res, nil
}

// checkRestoreTargets refuses empty members, no data directory at all,
// data directories of no member, two members sharing one, and data
// directories that hold anything.
func checkRestoreTargets(cfg RestoreConfig) error {
	if len(cfg.Members) == 0 {
		return fmt.Errorf("%w: no members", ErrRestore)
	}
	for id, addr := range cfg.Members {
		if id == "" || addr == "" {
			return fmt.Errorf("%w: member %q at %q: empty ID or peer address", ErrRestore, id, addr)
		}
	}
	if len(cfg.DataDirs) == 0 {
		return fmt.Errorf("%w: no data directory to restore into", ErrRestore)
	}
	seen := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(cfg.DataDirs)) {
		if _, ok := cfg.Members[id]; !ok {
			return fmt.Errorf("%w: data directory for %s, which is not a member", ErrRestore, id)
		}
		dir := cfg.DataDirs[id]
		if dir == "" {
			return fmt.Errorf("%w: member %s has an empty data directory path", ErrRestore, id)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRestore, err)
		}
		if other, ok := seen[abs]; ok {
			return fmt.Errorf("%w: members %s and %s share the data directory %s", ErrRestore, other, id, dir)
		}
		seen[abs] = id
		if !dataDirFresh(dir) {
			return fmt.Errorf("%w: data directory %s of %s is not empty", ErrRestore, dir, id)
		}
		if _, err := os.Stat(dir + restoreTmpExt); err == nil {
			return fmt.Errorf("%w: %s exists (left by an interrupted restore? remove it)", ErrRestore, dir+restoreTmpExt)
		}
	}
	return nil
}

// restoreTmpExt names the directory a member's data is written to before
// it is renamed into place.
const restoreTmpExt = ".restoring"

// restoredClusterID makes the new cluster's ID: the first 8 bytes of a
// SHA-256 over the backup's checksum, the members and the token. It
// differs from the backup's cluster ID and from any ID a bootstrap gives
// (ClusterID hashes another prefix), and every host that restores the
// same file with the same members and token gets the same ID, so the
// members can be restored one per host.
func restoredClusterID(h BackupHeader, members map[string]string, token string) string {
	sum := sha256.New()
	fmt.Fprintf(sum, "lockd restored cluster\x00%x\x00%s\x00%s", h.SHA256, token, FormatMembers(members))
	return hex.EncodeToString(sum.Sum(nil)[:8])
}

// writeRestoredDir writes one member's data directory into dir.restoring
// and renames it to dir (replacing dir if it is an empty directory).
func writeRestoredDir(dir string, rec clusterRecord, conf consensus.ConfState, h BackupHeader, data []byte, logger hclog.Logger) error {
	tmp := dir + restoreTmpExt
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	err := writeRestoredWAL(tmp, rec, conf, h, data, logger)
	if err == nil {
		if _, serr := os.Stat(dir); serr == nil {
			err = os.Remove(dir) // empty, checked before
		}
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err == nil {
		err = syncParent(dir)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
	}
	return err
}

func writeRestoredWAL(dir string, rec clusterRecord, conf consensus.ConfState, h BackupHeader, data []byte, logger hclog.Logger) error {
	opts := wal.DefaultOptions(dir)
	opts.Logger = logger
	w, err := wal.Open(opts)
	if err != nil {
		return err
	}
	// A backup of a cluster that applied no command yet is at index 0; the
	// log of the new cluster then starts after index 1, as a bootstrap's.
	index, term := max(h.Index, 1), max(h.Term, 1)
	snap := consensus.Snapshot{Meta: consensus.SnapshotMeta{Index: index, Term: term, Conf: conf}, Data: data}
	err = w.Save(consensus.HardState{Term: term, Commit: index}, nil, &snap)
	if err == nil {
		err = saveClusterRecord(w, rec)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncParent makes a rename of path durable.
func syncParent(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
