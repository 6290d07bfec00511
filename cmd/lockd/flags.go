package main

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/server"
)

// options is the command line (flags and LOCKD_* environment variables)
// after parsing and before validation.
type options struct {
	ID              string
	DataDir         string
	PeerAddr        string
	AdvertisePeer   string
	ClientAddr      string
	AdvertiseClient string
	HTTPAddr        string
	InitialCluster  string
	ClusterToken    string
	Join            bool
	Dev             bool

	CACert            string
	Cert              string
	Key               string
	Insecure          bool
	HTTPTLS           bool
	TLSReloadInterval time.Duration

	Tick            time.Duration
	ElectionTicks   int
	HeartbeatTicks  int
	WriteDelay      time.Duration
	SnapshotEntries uint64
	KeepTail        uint64

	SessionTTLMin     time.Duration
	SessionTTLMax     time.Duration
	SessionTTLDefault time.Duration
	MaxFrameSize      int
	MaxNameLen        int
	MaxValueLen       int
	MaxSessions       int
	MaxLocksPerSess   int

	MaxConns         int
	MaxConnsPerIP    int
	MaxQueueBytes    int
	HandshakeTimeout time.Duration

	ShutdownTimeout time.Duration
	WALStallTimeout time.Duration
	LogLevel        string
	LogJSON         bool
	PProf           bool
}

// envFor names the environment variable that stands in for a flag:
// --session-ttl-min is LOCKD_SESSION_TTL_MIN.
func envFor(flag string) []string {
	return []string{"LOCKD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

const (
	catCluster = "cluster"
	catTiming  = "timing"
	catLimits  = "limits (must be equal on every node)"
	catProcess = "process"
	catTLS     = "TLS"
	catConns   = "connections (per node, each port)"
)

// defaultShutdownTimeout bounds a graceful stop, leadership hand-off included.
const defaultShutdownTimeout = 10 * time.Second

// cliFlags returns the flags with their defaults taken from d, so that the
// help text and the server agree on every default.
func cliFlags(d server.Config) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "id", EnvVars: envFor("id"), Category: catCluster,
			Usage: "this node's name in the cluster, e.g. n1"},
		&cli.StringFlag{Name: "data-dir", EnvVars: envFor("data-dir"), Category: catCluster,
			Usage: "directory for the write-ahead log and snapshots (created if missing)"},
		&cli.StringFlag{Name: "peer-addr", EnvVars: envFor("peer-addr"), Category: catCluster,
			Usage: "host:port for Raft traffic from the other nodes (default: this node's --initial-cluster address)"},
		&cli.StringFlag{Name: "advertise-peer-addr", EnvVars: envFor("advertise-peer-addr"), Category: catCluster,
			Usage: "host:port the other nodes reach --peer-addr at, when that differs (a proxy, NAT); it is this node's --initial-cluster address (default: --peer-addr)"},
		&cli.StringFlag{Name: "client-addr", EnvVars: envFor("client-addr"), Category: catCluster,
			Usage: "host:port for clients (lockctl, the Go SDK)"},
		&cli.StringFlag{Name: "advertise-client-addr", EnvVars: envFor("advertise-client-addr"), Category: catCluster,
			Usage: "host:port clients reach --client-addr at, when that differs (a published container port, NAT): what the other nodes give out for this node in leader hints and member lists (default: --client-addr as bound)"},
		&cli.StringFlag{Name: "http-addr", EnvVars: envFor("http-addr"), Category: catCluster,
			Usage: "host:port for /livez, /readyz, /metrics and the status page (empty: no HTTP)"},
		&cli.StringFlag{Name: "initial-cluster", EnvVars: envFor("initial-cluster"), Category: catCluster,
			Usage: "every founding member as id=host:port (peer addresses), comma-separated; n1=host:port alone founds a one-node cluster. " +
				"An empty data directory is bootstrapped with it and remembers it; a restart must give the same list, or none"},
		&cli.StringFlag{Name: "initial-cluster-token", EnvVars: envFor("initial-cluster-token"), Category: catCluster,
			Usage: "optional name mixed into the cluster ID with --initial-cluster, so that clusters founded on the same addresses differ"},
		&cli.BoolFlag{Name: "join", EnvVars: envFor("join"), Category: catCluster,
			Usage: "start empty and wait to be added to a running cluster (lockctl members add)"},
		&cli.BoolFlag{Name: "dev", EnvVars: envFor("dev"), Category: catCluster,
			Usage: "run a three-node development cluster in this process on loopback ports with temporary data"},

		&cli.StringFlag{Name: "cacert", EnvVars: envFor("cacert"), Category: catTLS,
			Usage: "PEM file of the cluster's CA (a bundle during a CA rotation); with --cert and --key, every port speaks mutual TLS 1.3"},
		&cli.StringFlag{Name: "cert", EnvVars: envFor("cert"), Category: catTLS,
			Usage: "PEM file of this node's certificate (lockctl cert create-node), naming lockd://node/ID for --id"},
		&cli.StringFlag{Name: "key", EnvVars: envFor("key"), Category: catTLS,
			Usage: "PEM file of this node's private key"},
		&cli.BoolFlag{Name: "insecure", EnvVars: envFor("insecure"), Category: catTLS,
			Usage: "run without TLS on non-loopback addresses: no authentication, anyone who reaches a port may do anything (without TLS lockd otherwise listens on loopback only)"},
		&cli.BoolFlag{Name: "http-tls", EnvVars: envFor("http-tls"), Category: catTLS,
			Usage: "serve the HTTP port over TLS with this node's certificate (no client certificate asked)"},
		&cli.DurationFlag{Name: "tls-reload-interval", EnvVars: envFor("tls-reload-interval"), Category: catTLS,
			Value: defaultTLSReloadInterval, Usage: "how often the certificate files are checked for changes and reloaded (0: only on SIGHUP)"},

		&cli.DurationFlag{Name: "tick", EnvVars: envFor("tick"), Category: catTiming,
			Value: d.Node.TickInterval, Usage: "length of one Raft tick"},
		&cli.IntFlag{Name: "election-ticks", EnvVars: envFor("election-ticks"), Category: catTiming,
			Value: d.Node.ElectionTick, Usage: "election timeout in ticks (randomized up to twice this)"},
		&cli.IntFlag{Name: "heartbeat-ticks", EnvVars: envFor("heartbeat-ticks"), Category: catTiming,
			Value: d.Node.HeartbeatTick, Usage: "leader heartbeat interval in ticks"},
		&cli.DurationFlag{Name: "leader-write-delay", EnvVars: envFor("leader-write-delay"), Category: catTiming,
			Value: d.Node.LeaderWriteDelay, Usage: "how long a leader whose followers commit without it may wait between its own log writes (0: write at once)"},
		&cli.Uint64Flag{Name: "snapshot-entries", EnvVars: envFor("snapshot-entries"), Category: catTiming,
			Value: d.Node.SnapshotEntries, Usage: "applied entries between snapshots (0: never)"},
		&cli.Uint64Flag{Name: "keep-tail", EnvVars: envFor("keep-tail"), Category: catTiming,
			Value: d.WAL.KeepTail, Usage: "log entries kept below a snapshot for slow followers; one further behind gets the snapshot"},
		&cli.DurationFlag{Name: "shutdown-timeout", EnvVars: envFor("shutdown-timeout"), Category: catTiming,
			Value: defaultShutdownTimeout, Usage: "bound on a graceful stop after SIGTERM, leadership hand-off included"},
		&cli.DurationFlag{Name: "wal-stall-timeout", EnvVars: envFor("wal-stall-timeout"), Category: catTiming,
			Value: d.WALStallTimeout, Usage: "a log write (with its fsync) pending this long fail-stops the node (exit 74); /livez reports it from half"},

		&cli.DurationFlag{Name: "session-ttl-min", EnvVars: envFor("session-ttl-min"), Category: catLimits,
			Value: d.FSM.Sessions.MinTTL, Usage: "shortest session TTL; shorter requests are raised to it"},
		&cli.DurationFlag{Name: "session-ttl-max", EnvVars: envFor("session-ttl-max"), Category: catLimits,
			Value: d.FSM.Sessions.MaxTTL, Usage: "longest session TTL; longer requests are lowered to it"},
		&cli.DurationFlag{Name: "session-ttl-default", EnvVars: envFor("session-ttl-default"), Category: catLimits,
			Value: d.FSM.Sessions.DefaultTTL, Usage: "TTL of a session opened without one"},
		&cli.IntFlag{Name: "max-frame-size", EnvVars: envFor("max-frame-size"), Category: catLimits,
			Value: d.RPC.MaxFrameSize, Usage: "largest rpc frame accepted, in bytes"},
		&cli.IntFlag{Name: "max-name-len", EnvVars: envFor("max-name-len"), Category: catLimits,
			Value: d.FSM.Locks.MaxNameLen, Usage: "longest lock name, in bytes"},
		&cli.IntFlag{Name: "max-value-len", EnvVars: envFor("max-value-len"), Category: catLimits,
			Value: d.FSM.Locks.MaxValueLen, Usage: "largest holder value, in bytes"},
		&cli.IntFlag{Name: "max-sessions", EnvVars: envFor("max-sessions"), Category: catLimits,
			Value: d.MaxSessions, Usage: "open sessions the leader allows; 0 for no limit"},
		&cli.IntFlag{Name: "max-locks-per-session", EnvVars: envFor("max-locks-per-session"), Category: catLimits,
			Value: d.MaxLocksPerSession, Usage: "locks one session may hold or wait for; 0 for no limit"},

		&cli.IntFlag{Name: "max-connections", EnvVars: envFor("max-connections"), Category: catConns,
			Value: d.RPC.MaxConns, Usage: "connections held at once on the client port, and on the peer port; one more is closed on accept (0: no limit)"},
		&cli.IntFlag{Name: "max-connections-per-ip", EnvVars: envFor("max-connections-per-ip"), Category: catConns,
			Value: d.RPC.MaxConnsPerIP, Usage: "connections held at once from one remote IP address, per port (0: no limit)"},
		&cli.IntFlag{Name: "max-queue-bytes", EnvVars: envFor("max-queue-bytes"), Category: catConns,
			Value: d.RPC.MaxQueueBytes, Usage: "answers and events queued for one connection, in bytes; a client past it is cut as a slow reader (0: 8 MiB, or two largest frames if more)"},
		&cli.DurationFlag{Name: "handshake-timeout", EnvVars: envFor("handshake-timeout"), Category: catConns,
			Value: d.RPC.HandshakeTimeout, Usage: "bound on a new connection's handshake (TLS included)"},

		&cli.StringFlag{Name: "log-level", EnvVars: envFor("log-level"), Category: catProcess,
			Value: "info", Usage: "trace, debug, info, warn or error"},
		&cli.BoolFlag{Name: "log-json", EnvVars: envFor("log-json"), Category: catProcess,
			Usage: "log JSON lines instead of text"},
		&cli.BoolFlag{Name: "pprof", EnvVars: envFor("pprof"), Category: catProcess,
			Usage: "serve Go's profiler at /debug/pprof/ on --http-addr (off by default: it exposes internals and costs CPU while profiling)"},
	}
}

// optionsFrom reads the parsed flags.
func optionsFrom(c *cli.Context) options {
	return options{
		ID:                c.String("id"),
		DataDir:           c.String("data-dir"),
		PeerAddr:          c.String("peer-addr"),
		AdvertisePeer:     c.String("advertise-peer-addr"),
		ClientAddr:        c.String("client-addr"),
		AdvertiseClient:   c.String("advertise-client-addr"),
		HTTPAddr:          c.String("http-addr"),
		InitialCluster:    c.String("initial-cluster"),
		ClusterToken:      c.String("initial-cluster-token"),
		Join:              c.Bool("join"),
		Dev:               c.Bool("dev"),
		CACert:            c.String("cacert"),
		Cert:              c.String("cert"),
		Key:               c.String("key"),
		Insecure:          c.Bool("insecure"),
		HTTPTLS:           c.Bool("http-tls"),
		TLSReloadInterval: c.Duration("tls-reload-interval"),
		Tick:              c.Duration("tick"),
		ElectionTicks:     c.Int("election-ticks"),
		HeartbeatTicks:    c.Int("heartbeat-ticks"),
		WriteDelay:        c.Duration("leader-write-delay"),
		SnapshotEntries:   c.Uint64("snapshot-entries"),
		KeepTail:          c.Uint64("keep-tail"),
		ShutdownTimeout:   c.Duration("shutdown-timeout"),
		WALStallTimeout:   c.Duration("wal-stall-timeout"),
		SessionTTLMin:     c.Duration("session-ttl-min"),
		SessionTTLMax:     c.Duration("session-ttl-max"),
		SessionTTLDefault: c.Duration("session-ttl-default"),
		MaxFrameSize:      c.Int("max-frame-size"),
		MaxNameLen:        c.Int("max-name-len"),
		MaxValueLen:       c.Int("max-value-len"),
		MaxSessions:       c.Int("max-sessions"),
		MaxLocksPerSess:   c.Int("max-locks-per-session"),
		MaxConns:          c.Int("max-connections"),
		MaxConnsPerIP:     c.Int("max-connections-per-ip"),
		MaxQueueBytes:     c.Int("max-queue-bytes"),
		HandshakeTimeout:  c.Duration("handshake-timeout"),
		LogLevel:          c.String("log-level"),
		LogJSON:           c.Bool("log-json"),
		PProf:             c.Bool("pprof"),
	}
}
