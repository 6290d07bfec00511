package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lockd/lockd/server"
)

func writeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBadCommandLinesExitTwoBeforeAnythingStarts runs main's body with bad
// flags and checks the exit code, the message, and that no data directory
// was created.
func TestBadCommandLinesExitTwoBeforeAnythingStarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d1")
	bare := []string{"lockd", "--id", "n1", "--data-dir", dir, "--peer-addr", "127.0.0.1:7101",
		"--client-addr", "127.0.0.1:7001"}
	base := slices.Clip(append(slices.Clone(bare), "--initial-cluster", "n1=127.0.0.1:7101"))
	bare = slices.Clip(bare)
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"unparsable --initial-cluster", append(bare, "--initial-cluster", "n1@127.0.0.1:7101"), "--initial-cluster"},
		{"--id not in --initial-cluster", append(bare, "--initial-cluster", "n2=127.0.0.1:7102,n3=127.0.0.1:7103"), "not in --initial-cluster"},
		{"missing --data-dir", []string{"lockd", "--id", "n1", "--peer-addr", "127.0.0.1:7101", "--client-addr", "127.0.0.1:7001"}, "--data-dir is required"},
		{"bad --client-addr", []string{"lockd", "--id", "n1", "--data-dir", dir, "--peer-addr", "127.0.0.1:7101", "--client-addr", "127.0.0.1:x"}, "--client-addr"},
		{"bad --http-addr", append(base, "--http-addr", "nowhere"), "--http-addr"},
		{"unknown flag", append(base, "--bogus"), "bogus"},
		{"bad duration", append(base, "--tick", "soon"), "tick"},
		{"positional argument", append(base, "extra"), "unexpected argument"},
		{"bad --log-level", append(base, "--log-level", "loud"), "--log-level"},
		{"heartbeat not below election", append(base, "--heartbeat-ticks", "20", "--election-ticks", "10"), "HeartbeatTick"},
		{"--dev with --id", []string{"lockd", "--dev", "--id", "n1"}, "--dev chooses --id"},
		{"nothing at all", []string{"lockd"}, "--id is required"},
		{"lone start on an empty data directory", bare, "for a one-node cluster give --initial-cluster n1=127.0.0.1:7101"},
		{"unspecified --advertise-client-addr", append(base, "--advertise-client-addr", "0.0.0.0:7001"), "--advertise-client-addr"},
		{"unspecified IPv6 --advertise-client-addr", append(base, "--advertise-client-addr", "[::]:7001"), "unspecified host"},
		{"--cert without --cacert and --key", append(base, "--cert", "n1.crt"), "give all three"},
		{"non-loopback client address without TLS", append(bare, "--initial-cluster", "n1=127.0.0.1:7101", "--http-addr", "0.0.0.0:7201"), "--http-addr 0.0.0.0:7201 is not a loopback address"},
		{"--dev with --cert", []string{"lockd", "--dev", "--cert", "n1.crt"}, "--dev chooses --cert"},
		{"--dev with --advertise-client-addr", []string{"lockd", "--dev", "--advertise-client-addr", "127.0.0.1:7001"}, "--dev chooses --advertise-client-addr"},
		{"token without --initial-cluster", append(bare, "--initial-cluster-token", "t"), "--initial-cluster-token is only read with --initial-cluster"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code := run(ctx, func() {}, c.args, &stdout, &stderr)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.msg) {
				t.Fatalf("stderr does not mention %q:\n%s", c.msg, stderr.String())
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("data directory exists after a refused command line (stat: %v)", err)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), func() {}, []string{"lockd", "--help"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d; stderr: %s", code, stderr.String())
	}
	for _, want := range []string{"--initial-cluster", "LOCKD_INITIAL_CLUSTER", "--dev", "--session-ttl-min"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// parseArgs runs the real flag set over args and returns the options.
func parseArgs(t *testing.T, args ...string) options {
	t.Helper()
	var got options
	app := &cli.App{
		Flags:          cliFlags(server.DefaultConfig()),
		Writer:         &bytes.Buffer{},
		ErrWriter:      &bytes.Buffer{},
		ExitErrHandler: func(*cli.Context, error) {},
		Action:         func(c *cli.Context) error { got = optionsFrom(c); return nil },
	}
	if err := app.Run(append([]string{"lockd"}, args...)); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestEnvironmentVariablesStandInForFlags(t *testing.T) {
	env := map[string]string{
		"LOCKD_ID": "n2", "LOCKD_DATA_DIR": "/var/lib/lockd", "LOCKD_PEER_ADDR": "127.0.0.1:7102",
		"LOCKD_CLIENT_ADDR": "127.0.0.1:7002", "LOCKD_HTTP_ADDR": "127.0.0.1:7202",
		"LOCKD_INITIAL_CLUSTER": "n1=127.0.0.1:7101,n2=127.0.0.1:7102", "LOCKD_JOIN": "true",
		"LOCKD_TICK": "20ms", "LOCKD_ELECTION_TICKS": "30", "LOCKD_HEARTBEAT_TICKS": "4",
		"LOCKD_SNAPSHOT_ENTRIES": "99", "LOCKD_SESSION_TTL_MIN": "2s", "LOCKD_SESSION_TTL_MAX": "1m",
		"LOCKD_SESSION_TTL_DEFAULT": "9s", "LOCKD_MAX_FRAME_SIZE": "65536", "LOCKD_MAX_NAME_LEN": "77",
		"LOCKD_MAX_VALUE_LEN": "88", "LOCKD_SHUTDOWN_TIMEOUT": "3s", "LOCKD_LOG_LEVEL": "debug",
		"LOCKD_LOG_JSON": "true", "LOCKD_KEEP_TAIL": "321", "LOCKD_ADVERTISE_PEER_ADDR": "10.1.2.3:7102",
		"LOCKD_MAX_SESSIONS": "1234", "LOCKD_INITIAL_CLUSTER_TOKEN": "tok", "LOCKD_ADVERTISE_CLIENT_ADDR": "10.1.2.3:7002", "LOCKD_MAX_LOCKS_PER_SESSION": "56", "LOCKD_LEADER_WRITE_DELAY": "2ms",
		"LOCKD_CACERT": "ca.crt", "LOCKD_CERT": "n2.crt", "LOCKD_KEY": "n2.key", "LOCKD_INSECURE": "true",
		"LOCKD_HTTP_TLS": "true", "LOCKD_TLS_RELOAD_INTERVAL": "5s", "LOCKD_WAL_STALL_TIMEOUT": "7s",
		"LOCKD_MAX_CONNECTIONS": "500", "LOCKD_MAX_CONNECTIONS_PER_IP": "50", "LOCKD_MAX_QUEUE_BYTES": "1048576",
		"LOCKD_HANDSHAKE_TIMEOUT": "2s",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	got := parseArgs(t)
	want := options{
		ID: "n2", DataDir: "/var/lib/lockd", PeerAddr: "127.0.0.1:7102", ClientAddr: "127.0.0.1:7002",
		HTTPAddr: "127.0.0.1:7202", InitialCluster: "n1=127.0.0.1:7101,n2=127.0.0.1:7102", ClusterToken: "tok", Join: true,
		Tick: 20 * time.Millisecond, ElectionTicks: 30, HeartbeatTicks: 4, SnapshotEntries: 99, KeepTail: 321,
		AdvertisePeer: "10.1.2.3:7102", AdvertiseClient: "10.1.2.3:7002", SessionTTLMin: 2 * time.Second, SessionTTLMax: time.Minute, SessionTTLDefault: 9 * time.Second,
		MaxFrameSize: 65536, MaxNameLen: 77, MaxValueLen: 88, ShutdownTimeout: 3 * time.Second,
		LogLevel: "debug", LogJSON: true, MaxSessions: 1234, MaxLocksPerSess: 56, WriteDelay: 2 * time.Millisecond,
		CACert: "ca.crt", Cert: "n2.crt", Key: "n2.key", Insecure: true, HTTPTLS: true, TLSReloadInterval: 5 * time.Second,
		WALStallTimeout: 7 * time.Second,
		MaxConns:        500, MaxConnsPerIP: 50, MaxQueueBytes: 1 << 20, HandshakeTimeout: 2 * time.Second,
	}
	if got != want {
		t.Fatalf("options from the environment:\n got %+v\nwant %+v", got, want)
	}
	// A flag on the command line wins over its variable.
	if got := parseArgs(t, "--id", "n1"); got.ID != "n1" {
		t.Fatalf("--id n1 with LOCKD_ID=n2 gave %q", got.ID)
	}
}

func TestDefaultsComeFromTheServer(t *testing.T) {
	d := server.DefaultConfig()
	got := parseArgs(t)
	if got.Tick != d.Node.TickInterval || got.ElectionTicks != d.Node.ElectionTick ||
		got.HeartbeatTicks != d.Node.HeartbeatTick || got.SnapshotEntries != d.Node.SnapshotEntries ||
		got.SessionTTLMin != d.FSM.Sessions.MinTTL || got.SessionTTLMax != d.FSM.Sessions.MaxTTL ||
		got.MaxFrameSize != d.RPC.MaxFrameSize || got.MaxValueLen != d.FSM.Locks.MaxValueLen ||
		got.MaxSessions != d.MaxSessions || got.MaxLocksPerSess != d.MaxLocksPerSession ||
		got.WriteDelay != d.Node.LeaderWriteDelay || got.WALStallTimeout != d.WALStallTimeout ||
		got.MaxConns != d.RPC.MaxConns ||
		got.MaxConnsPerIP != d.RPC.MaxConnsPerIP || got.MaxQueueBytes != d.RPC.MaxQueueBytes ||
		got.HandshakeTimeout != d.RPC.HandshakeTimeout {
		t.Fatalf("defaults %+v differ from server.DefaultConfig", got)
	}
}
