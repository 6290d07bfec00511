package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server/raftnode"
	"github.com/lockd/lockd/wal"
)

// ErrClusterMismatch: the data directory was bootstrapped for (or joined) a
// cluster other than the one InitialCluster names. Returned wrapped in a
// *ClusterMismatchError.
var ErrClusterMismatch = errors.New("server: data directory belongs to another cluster")

// clusterMetaName is the WAL meta record that holds a data directory's
// clusterRecord.
const clusterMetaName = "cluster"

// clusterRecord is what a data directory remembers of its cluster: the
// founding membership it was bootstrapped with, or, for a node that
// joined a running cluster, only the cluster ID it learnt from a member.
// It is JSON in the WAL meta record "cluster".
type clusterRecord struct {
	ClusterID string            `json:"cluster_id"`
	Members   map[string]string `json:"members,omitempty"`
	Token     string            `json:"token,omitempty"`
	Joined    bool              `json:"joined,omitempty"`
}

// ClusterID is the ID of the cluster founded by members (ID -> peer
// address) with token: the first 8 bytes of a SHA-256 over the token and
// the sorted id=address list, in hex. Every founding member computes the
// same ID from the same flags, independently.
func ClusterID(members map[string]string, token string) string {
	h := sha256.New()
	fmt.Fprintf(h, "lockd cluster\x00%s\x00%s", token, FormatMembers(members))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// FormatMembers writes members (ID -> peer address) as the sorted
// id=address list --initial-cluster takes.
func FormatMembers(members map[string]string) string {
	parts := make([]string, 0, len(members))
	for _, id := range slices.Sorted(maps.Keys(members)) {
		parts = append(parts, id+"="+members[id])
	}
	return strings.Join(parts, ",")
}

// ClusterMismatchError says how InitialCluster contradicts what the data
// directory remembers. errors.Is(err, ErrClusterMismatch) holds for it.
type ClusterMismatchError struct {
	DataDir string
	// RecordedID is the cluster ID the data directory holds; Recorded and
	// RecordedToken the founding membership and token it was bootstrapped
	// with (Recorded is empty when the node joined a running cluster).
	RecordedID    string
	Recorded      map[string]string
	RecordedToken string
	// Given and GivenToken are InitialCluster and InitialClusterToken;
	// GivenID the cluster ID they derive.
	Given      map[string]string
	GivenToken string
	GivenID    string
}

func (e *ClusterMismatchError) Error() string {
	if len(e.Recorded) == 0 {
		return fmt.Sprintf("server: data directory %s joined cluster %s; InitialCluster %s names cluster %s",
			e.DataDir, e.RecordedID, FormatMembers(e.Given), e.GivenID)
	}
	if e.sameMembers() {
		return fmt.Sprintf("server: data directory %s was bootstrapped for cluster %s with token %q; InitialClusterToken is %q",
			e.DataDir, FormatMembers(e.Recorded), e.RecordedToken, e.GivenToken)
	}
	return fmt.Sprintf("server: data directory %s was bootstrapped for cluster %s; InitialCluster says %s",
		e.DataDir, FormatMembers(e.Recorded), FormatMembers(e.Given))
}

// sameMembers reports whether only the token differs.
func (e *ClusterMismatchError) sameMembers() bool { return maps.Equal(e.Recorded, e.Given) }

// TokenOnly reports whether the membership matches and only the token
// differs.
func (e *ClusterMismatchError) TokenOnly() bool { return len(e.Recorded) > 0 && e.sameMembers() }

// Unwrap makes errors.Is(err, ErrClusterMismatch) true.
func (e *ClusterMismatchError) Unwrap() error { return ErrClusterMismatch }

// dataDirFresh reports whether dir does not exist or is an empty
// directory: a node there would have to bootstrap or join.
func dataDirFresh(dir string) bool {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && len(entries) == 0
}

// loadClusterRecord reads the data directory's record; nil if it has
// none (a new WAL, or one written before lockd kept the record).
func loadClusterRecord(w *wal.WAL) (*clusterRecord, error) {
	v, err := w.Meta(clusterMetaName)
	if err != nil || v == nil {
		return nil, err
	}
	var rec clusterRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("server: cluster record of the data directory: %w", err)
	}
	return &rec, nil
}

func saveClusterRecord(w *wal.WAL, rec clusterRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := w.SetMeta(clusterMetaName, v); err != nil {
		return fmt.Errorf("server: record the cluster: %w", err)
	}
	return nil
}

// checkClusterRecord refuses an InitialCluster that contradicts rec. A
// restart without InitialCluster, with the same one (with the same token,
// or none), or with one that lists the current membership (current: ID
// -> peer address, as the log holds it) passes.
func (c Config) checkClusterRecord(rec *clusterRecord, current map[string]string) error {
	if len(c.InitialCluster) == 0 {
		return nil
	}
	givenID := ClusterID(c.InitialCluster, c.InitialClusterToken)
	switch {
	case givenID == rec.ClusterID:
		return nil
	case !rec.Joined && maps.Equal(rec.Members, c.InitialCluster) && c.InitialClusterToken == "":
		return nil // a restart that leaves the token out
	case maps.Equal(current, c.InitialCluster) && (c.InitialClusterToken == "" || c.InitialClusterToken == rec.Token):
		return nil // the members as they are now, changed since the bootstrap
	}
	return &ClusterMismatchError{DataDir: c.DataDir, RecordedID: rec.ClusterID, Recorded: rec.Members,
		RecordedToken: rec.Token, Given: c.InitialCluster, GivenToken: c.InitialClusterToken, GivenID: givenID}
}

// confAddrs is the membership's peer addresses as an ID -> address map.
func confAddrs(cs consensus.ConfState) map[string]string {
	out := make(map[string]string, len(cs.Addrs))
	for id, a := range cs.Addrs {
		out[string(id)] = a
	}
	return out
}

// setClusterID publishes the cluster ID this node knows.
func (s *Server) setClusterID(id string) { s.clusterID.Store(&id) }

// identify checks the data directory against the configured cluster and
// bootstraps an empty one (unless joining), recording the cluster it was
// bootstrapped for first. It returns the membership to start from.
func (s *Server) identify(empty bool, conf consensus.ConfState) (consensus.ConfState, error) {
	ic := s.cfg.InitialCluster
	if empty && !s.cfg.Join {
		// What an interrupted bootstrap recorded is overwritten: the log
		// is empty, so this node never served.
		if len(ic) == 0 {
			return conf, ErrNoBootstrap
		}
		rec := clusterRecord{ClusterID: ClusterID(ic, s.cfg.InitialClusterToken), Members: maps.Clone(ic),
			Token: s.cfg.InitialClusterToken}
		if err := saveClusterRecord(s.wal, rec); err != nil {
			return conf, err
		}
		conf = consensus.ConfState{Addrs: map[consensus.NodeID]string{}}
		for id, addr := range ic {
			conf.Voters = append(conf.Voters, consensus.NodeID(id))
			conf.Addrs[consensus.NodeID(id)] = addr
		}
		slices.Sort(conf.Voters)
		if err := raftnode.Bootstrap(s.wal, conf); err != nil {
			return conf, fmt.Errorf("server: bootstrap: %w", err)
		}
		s.setClusterID(rec.ClusterID)
		s.log.Info("bootstrapped a new cluster", "cluster_id", rec.ClusterID, "members", FormatMembers(ic))
		return conf, nil
	}
	rec, err := loadClusterRecord(s.wal)
	if err != nil {
		return conf, err
	}
	switch {
	case rec != nil:
		if err := s.cfg.checkClusterRecord(rec, confAddrs(conf)); err != nil {
			return conf, err
		}
		s.setClusterID(rec.ClusterID)
	case empty:
		// Joining: the cluster ID comes with the first word from a member.
	case len(ic) > 0 && !maps.Equal(confAddrs(conf), ic):
		s.log.Warn("the data directory does not record the cluster it was bootstrapped for (it was written by an "+
			"older lockd), so InitialCluster cannot be checked and is ignored; it differs from the membership stored here",
			"initial_cluster", FormatMembers(ic), "membership", FormatMembers(confAddrs(conf)))
	default:
		s.log.Info("the data directory does not record the cluster it was bootstrapped for (it was written by an older lockd); cluster ID unknown")
	}
	return conf, nil
}

// learnClusterID records the cluster ID a joining node hears from the
// member that adds it, so the data directory remembers the cluster it
// joined. Only the first call counts.
func (s *Server) learnClusterID(id string) {
	if !s.clusterID.CompareAndSwap(nil, &id) {
		return
	}
	if err := saveClusterRecord(s.wal, clusterRecord{ClusterID: id, Joined: true}); err != nil {
		s.log.Warn("could not record the cluster this node joins", "cluster_id", id, "error", err)
		return
	}
	s.log.Info("joining cluster", "cluster_id", id)
}
