package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lockd/lockd/consensus"
	"github.com/lockd/lockd/server"
)

// errBadFlag is the cause of every refusal of the command line; main exits
// with exitUsage when it sees it.
var errBadFlag = errors.New("lockd: bad flag")

const maxIDLen = 64

// checkID accepts names of letters, digits, '-', '_' and '.'.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("node id %q must be 1 to %d characters", id, maxIDLen)
	}
	for _, r := range id {
		ok := r == '-' || r == '_' || r == '.' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return fmt.Errorf("node id %q may hold only letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}

// checkAddr accepts host:port. A dialable address (one other nodes or the
// operator's tools connect to) needs a concrete host and a non-zero port; a
// listen address may leave the host empty or unspecified and use port 0.
func checkAddr(addr string, dialable bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q is not host:port: %v", addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("address %q: bad host %q", addr, host)
	}
	if dialable {
		if p == 0 {
			return fmt.Errorf("address %q: other nodes cannot dial port 0", addr)
		}
		if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			return fmt.Errorf("address %q: other nodes cannot dial an unspecified host", addr)
		}
	}
	return nil
}

// parseInitialCluster reads "n1=host:port,n2=host:port". Ids and addresses
// must be unique. An empty string gives a nil map.
func parseInitialCluster(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	members := make(map[string]string)
	byAddr := make(map[string]string)
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		id, addr, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %q is not id=host:port", entry)
		}
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if err := checkID(id); err != nil {
			return nil, fmt.Errorf("entry %q: %v", entry, err)
		}
		if err := checkAddr(addr, true); err != nil {
			return nil, fmt.Errorf("entry %q: %v", entry, err)
		}
		if _, dup := members[id]; dup {
			return nil, fmt.Errorf("node %q listed twice", id)
		}
		if other, dup := byAddr[addr]; dup {
			return nil, fmt.Errorf("nodes %q and %q share address %s", other, id, addr)
		}
		members[id] = addr
		byAddr[addr] = id
	}
	return members, nil
}

// sameListenAddr reports whether a node listening on listen is reachable at
// the advertised address adv: equal, or listen's host is unspecified
// (0.0.0.0, ::) with the same port.
func sameListenAddr(listen, adv string) bool {
	if listen == adv {
		return true
	}
	lh, lp, err1 := net.SplitHostPort(listen)
	_, ap, err2 := net.SplitHostPort(adv)
	if err1 != nil || err2 != nil || lp != ap {
		return false
	}
	ip := net.ParseIP(lh)
	return lh == "" || ip != nil && ip.IsUnspecified()
}

// nodeSpec is a validated single-node command line.
type nodeSpec struct {
	opts    options
	cluster map[string]string // id -> peer address; nil when joining
}

// checkNode validates a single-node command line (not --dev) and fills in
// what the flags imply: the peer address from --initial-cluster. Without
// --initial-cluster or --join the data directory must hold a node already:
// a lone node never founds a cluster of itself unless --initial-cluster
// names it alone.
func checkNode(o options) (nodeSpec, error) {
	bad := func(format string, args ...any) (nodeSpec, error) {
		return nodeSpec{}, fmt.Errorf("%w: "+format, append([]any{errBadFlag}, args...)...)
	}
	if o.ID == "" {
		return bad("--id is required (or --dev for a development cluster)")
	}
	if err := checkID(o.ID); err != nil {
		return bad("--id: %v", err)
	}
	if o.DataDir == "" {
		return bad("--data-dir is required")
	}
	if fi, err := os.Stat(o.DataDir); err == nil && !fi.IsDir() {
		return bad("--data-dir %q is not a directory", o.DataDir)
	}
	if o.ClientAddr == "" {
		return bad("--client-addr is required")
	}
	if err := checkAddr(o.ClientAddr, false); err != nil {
		return bad("--client-addr: %v", err)
	}
	if o.AdvertiseClient != "" {
		if err := checkAddr(o.AdvertiseClient, true); err != nil {
			return bad("--advertise-client-addr: %v", err)
		}
	}
	if o.HTTPAddr != "" {
		if err := checkAddr(o.HTTPAddr, false); err != nil {
			return bad("--http-addr: %v", err)
		}
	}
	cluster, err := parseInitialCluster(o.InitialCluster)
	if err != nil {
		return bad("--initial-cluster: %v", err)
	}
	if o.ClusterToken != "" && cluster == nil {
		return bad("--initial-cluster-token is only read with --initial-cluster")
	}
	adv, listed := cluster[o.ID]
	switch {
	case o.Join && listed:
		return bad("--join: %q is in --initial-cluster; a joining node is added later with lockctl members add", o.ID)
	case o.Join:
		// The cluster is learned from the leader that adds this node.
	case cluster == nil:
		if dataDirEmpty(o.DataDir) {
			return nodeSpec{}, noBootstrapError(o)
		}
		if o.PeerAddr == "" {
			return bad("--peer-addr is required without --initial-cluster")
		}
	case !listed:
		return bad("--id %q is not in --initial-cluster (%s); use --join to join a running cluster",
			o.ID, strings.Join(sortedKeys(cluster), ", "))
	case o.AdvertisePeer != "" && o.AdvertisePeer != adv:
		return bad("--advertise-peer-addr %s differs from %s, this node's address in --initial-cluster", o.AdvertisePeer, adv)
	case o.AdvertisePeer != "":
		if o.PeerAddr == "" {
			return bad("--peer-addr is required with --advertise-peer-addr")
		}
	case o.PeerAddr == "":
		o.PeerAddr = adv
	case !sameListenAddr(o.PeerAddr, adv):
		return bad("--peer-addr %s differs from %s, this node's address in --initial-cluster (set --advertise-peer-addr if peers reach it elsewhere)", o.PeerAddr, adv)
	}
	if o.AdvertisePeer != "" {
		if err := checkAddr(o.AdvertisePeer, true); err != nil {
			return bad("--advertise-peer-addr: %v", err)
		}
	}
	if o.PeerAddr == "" {
		return bad("--peer-addr is required with --join")
	}
	if err := checkAddr(o.PeerAddr, false); err != nil {
		return bad("--peer-addr: %v", err)
	}
	if o.ShutdownTimeout <= 0 {
		return bad("--shutdown-timeout must be positive")
	}
	if err := checkTLS(o); err != nil {
		return nodeSpec{}, err
	}
	if err := checkInsecureListen(o, [][2]string{
		{"--client-addr", o.ClientAddr}, {"--peer-addr", o.PeerAddr}, {"--http-addr", o.HTTPAddr},
	}); err != nil {
		return nodeSpec{}, err
	}
	return nodeSpec{opts: o, cluster: cluster}, nil
}

// checkDev refuses the flags that --dev chooses itself.
func checkDev(o options) error {
	for flag, set := range map[string]bool{
		"--id": o.ID != "", "--data-dir": o.DataDir != "", "--peer-addr": o.PeerAddr != "",
		"--client-addr": o.ClientAddr != "", "--http-addr": o.HTTPAddr != "",
		"--initial-cluster": o.InitialCluster != "", "--join": o.Join, "--initial-cluster-token": o.ClusterToken != "",
		"--advertise-peer-addr": o.AdvertisePeer != "", "--advertise-client-addr": o.AdvertiseClient != "",
		"--cacert": o.CACert != "", "--cert": o.Cert != "", "--key": o.Key != "",
		"--insecure": o.Insecure, "--http-tls": o.HTTPTLS,
	} {
		if set {
			return fmt.Errorf("%w: --dev chooses %s itself; drop one of them", errBadFlag, flag)
		}
	}
	if o.ShutdownTimeout <= 0 {
		return fmt.Errorf("%w: --shutdown-timeout must be positive", errBadFlag)
	}
	return nil
}

// serverConfig turns validated options into a server.Config and has the
// server validate the timing and limit values.
func serverConfig(o options, cluster map[string]string, logger hclog.Logger, reg prometheus.Registerer) (server.Config, error) {
	cfg := server.DefaultConfig()
	cfg.ID = o.ID
	cfg.DataDir = o.DataDir
	cfg.PeerAddr = o.PeerAddr
	cfg.AdvertisePeerAddr = o.AdvertisePeer
	cfg.ClientAddr = o.ClientAddr
	cfg.AdvertiseClientAddr = o.AdvertiseClient
	cfg.InitialCluster = cluster
	cfg.InitialClusterToken = o.ClusterToken
	cfg.Join = o.Join
	cfg.Node.ID = consensus.NodeID(o.ID)
	cfg.Node.TickInterval = o.Tick
	cfg.Node.ElectionTick = o.ElectionTicks
	cfg.Node.HeartbeatTick = o.HeartbeatTicks
	cfg.Node.LeaderWriteDelay = o.WriteDelay
	cfg.Node.SnapshotEntries = o.SnapshotEntries
	cfg.WAL.KeepTail = o.KeepTail
	cfg.FSM.Sessions.MinTTL = o.SessionTTLMin
	cfg.FSM.Sessions.MaxTTL = o.SessionTTLMax
	cfg.FSM.Sessions.DefaultTTL = o.SessionTTLDefault
	cfg.FSM.Locks.MaxNameLen = o.MaxNameLen
	cfg.FSM.Locks.MaxValueLen = o.MaxValueLen
	cfg.MaxSessions = o.MaxSessions
	cfg.MaxLocksPerSession = o.MaxLocksPerSess
	cfg.RPC.MaxFrameSize = o.MaxFrameSize
	cfg.WALStallTimeout = o.WALStallTimeout
	cfg.RPC.MaxConns = o.MaxConns
	cfg.RPC.MaxConnsPerIP = o.MaxConnsPerIP
	cfg.RPC.MaxQueueBytes = o.MaxQueueBytes
	cfg.RPC.HandshakeTimeout = o.HandshakeTimeout
	cfg.Registerer = reg
	cfg.Logger = logger
	if err := cfg.Validate(); err != nil {
		return server.Config{}, fmt.Errorf("%w: %w", errBadFlag, err)
	}
	return cfg, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dataDirEmpty reports whether dir does not exist or is an empty
// directory.
func dataDirEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	return errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0
}

// noBootstrapError refuses to found a cluster nobody asked for: an empty
// data directory without --initial-cluster or --join.
func noBootstrapError(o options) error {
	addr := "HOST:PORT"
	if o.PeerAddr != "" && checkAddr(o.PeerAddr, true) == nil {
		addr = o.PeerAddr
	}
	return fmt.Errorf("%w: data directory %s is empty and neither --initial-cluster nor --join is given: "+
		"for a one-node cluster give --initial-cluster %s=%s (this node alone, at the peer address other nodes would dial); "+
		"to add this node to a running cluster give --join", errBadFlag, o.DataDir, o.ID, addr)
}

// openError turns the server's refusals of the data directory into
// messages about the flags (exit 2); anything else is a runtime failure.
func openError(o options, err error) error {
	var me *server.ClusterMismatchError
	switch {
	case errors.Is(err, server.ErrNoBootstrap):
		return noBootstrapError(o)
	case errors.As(err, &me) && len(me.Recorded) == 0:
		return fmt.Errorf("%w: data directory %s joined cluster %s; --initial-cluster %s names cluster %s: "+
			"drop --initial-cluster to restart this node; to start afresh use an empty --data-dir",
			errBadFlag, o.DataDir, me.RecordedID, server.FormatMembers(me.Given), me.GivenID)
	case errors.As(err, &me) && me.TokenOnly():
		return fmt.Errorf("%w: data directory %s was bootstrapped for cluster %s with --initial-cluster-token %q; "+
			"--initial-cluster-token is %q: give the same token, or none, to restart it; to start afresh use an empty --data-dir",
			errBadFlag, o.DataDir, server.FormatMembers(me.Recorded), me.RecordedToken, me.GivenToken)
	case errors.As(err, &me):
		return fmt.Errorf("%w: data directory %s was bootstrapped for cluster %s; --initial-cluster says %s: "+
			"to grow the cluster use `lockctl members add`; to start afresh use an empty --data-dir",
			errBadFlag, o.DataDir, server.FormatMembers(me.Recorded), server.FormatMembers(me.Given))
	}
	return fmt.Errorf("open node: %w", err)
}
