package main

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

func TestParseInitialCluster(t *testing.T) {
	cases := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "n1=127.0.0.1:7101", want: map[string]string{"n1": "127.0.0.1:7101"}},
		{in: "n1=127.0.0.1:7101,n2=127.0.0.1:7102, n3 = lockd-3:7103",
			want: map[string]string{"n1": "127.0.0.1:7101", "n2": "127.0.0.1:7102", "n3": "lockd-3:7103"}},
		{in: "n1=[::1]:7101", want: map[string]string{"n1": "[::1]:7101"}},
		{in: "n1", wantErr: true},
		{in: "n1=", wantErr: true},
		{in: "=127.0.0.1:7101", wantErr: true},
		{in: "n1=127.0.0.1", wantErr: true},
		{in: "n1=127.0.0.1:http", wantErr: true},
		{in: "n1=127.0.0.1:70000", wantErr: true},
		{in: "n1=127.0.0.1:0", wantErr: true},
		{in: "n1=:7101", wantErr: true},
		{in: "n1=0.0.0.0:7101", wantErr: true},
		{in: "n1=127.0.0.1:7101,", wantErr: true},
		{in: "n1=127.0.0.1:7101,n1=127.0.0.1:7102", wantErr: true},
		{in: "n1=127.0.0.1:7101,n2=127.0.0.1:7101", wantErr: true},
		{in: "n 1=127.0.0.1:7101", wantErr: true},
		{in: "n1/x=127.0.0.1:7101", wantErr: true},
	}
	for _, c := range cases {
		got, err := parseInitialCluster(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("parseInitialCluster(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("parseInitialCluster(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// validNode is a command line that checkNode accepts; cases change one thing.
func validNode(t *testing.T) options {
	return options{
		ID:              "n1",
		DataDir:         filepath.Join(t.TempDir(), "d1"),
		PeerAddr:        "127.0.0.1:7101",
		ClientAddr:      "127.0.0.1:7001",
		HTTPAddr:        "127.0.0.1:7201",
		InitialCluster:  "n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103",
		ShutdownTimeout: time.Second,
		WALStallTimeout: 10 * time.Second,
		// What --handshake-timeout defaults to; the connection limits'
		// zeros mean no limit.
		HandshakeTimeout: 5 * time.Second,
	}
}

func TestCheckNodeRefusesBadCommandLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file)
	cases := map[string]func(o *options){
		"missing --id":                    func(o *options) { o.ID = "" },
		"bad --id":                        func(o *options) { o.ID = "n 1" },
		"missing --data-dir":              func(o *options) { o.DataDir = "" },
		"--data-dir is a file":            func(o *options) { o.DataDir = file },
		"missing --client-addr":           func(o *options) { o.ClientAddr = "" },
		"--client-addr without port":      func(o *options) { o.ClientAddr = "127.0.0.1" },
		"--http-addr bad port":            func(o *options) { o.HTTPAddr = "127.0.0.1:99999" },
		"--peer-addr not host:port":       func(o *options) { o.PeerAddr = "localhost" },
		"unparsable --initial-cluster":    func(o *options) { o.InitialCluster = "n1:127.0.0.1:7101" },
		"--id not in --initial-cluster":   func(o *options) { o.ID = "n4" },
		"--peer-addr differs from listed": func(o *options) { o.PeerAddr = "127.0.0.1:7109" },
		"--join but listed":               func(o *options) { o.Join = true },
		"--join without --peer-addr": func(o *options) {
			o.Join, o.ID, o.PeerAddr = true, "n4", ""
		},
		"no cluster, no --peer-addr": func(o *options) { o.InitialCluster, o.PeerAddr = "", "" },
		"--advertise-peer-addr differs from listed": func(o *options) {
			o.PeerAddr, o.AdvertisePeer = "127.0.0.1:7109", "127.0.0.1:7108"
		},
		"--advertise-peer-addr port 0": func(o *options) {
			o.InitialCluster, o.PeerAddr, o.AdvertisePeer = "n1=127.0.0.1:0", "127.0.0.1:7109", "127.0.0.1:0"
		},
		"--advertise-peer-addr without --peer-addr": func(o *options) {
			o.PeerAddr, o.AdvertisePeer = "", "127.0.0.1:7101"
		},
		"zero --shutdown-timeout": func(o *options) { o.ShutdownTimeout = 0 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			o := validNode(t)
			mutate(&o)
			if _, err := checkNode(o); !errors.Is(err, errBadFlag) {
				t.Fatalf("checkNode = %v, want errBadFlag", err)
			}
		})
	}
}

func TestCheckNodeFillsWhatTheFlagsImply(t *testing.T) {
	t.Run("peer address from the cluster", func(t *testing.T) {
		o := validNode(t)
		o.PeerAddr = ""
		spec, err := checkNode(o)
		if err != nil {
			t.Fatal(err)
		}
		if spec.opts.PeerAddr != "127.0.0.1:7101" || len(spec.cluster) != 3 {
			t.Fatalf("spec = %+v", spec)
		}
	})
	t.Run("unspecified listen host on the listed port", func(t *testing.T) {
		o := validNode(t)
		o.PeerAddr, o.Insecure = "0.0.0.0:7101", true
		if _, err := checkNode(o); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("listen elsewhere than the advertised, listed address", func(t *testing.T) {
		o := validNode(t)
		o.PeerAddr, o.AdvertisePeer = "127.0.0.1:7109", "127.0.0.1:7101"
		o.Tick, o.ElectionTicks, o.HeartbeatTicks = 10*time.Millisecond, 15, 5
		o.SessionTTLMin, o.SessionTTLMax, o.SessionTTLDefault = time.Second, time.Minute, 10*time.Second
		o.MaxFrameSize, o.MaxNameLen, o.MaxValueLen = 1<<20, 100, 200
		spec, err := checkNode(o)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := serverConfig(spec.opts, spec.cluster, hclog.NewNullLogger(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.PeerAddr != "127.0.0.1:7109" || cfg.AdvertisePeerAddr != "127.0.0.1:7101" {
			t.Fatalf("listen %s, advertise %s", cfg.PeerAddr, cfg.AdvertisePeerAddr)
		}
	})
	t.Run("no --initial-cluster: an empty data directory is refused", func(t *testing.T) {
		o := validNode(t)
		o.InitialCluster = ""
		_, err := checkNode(o)
		if !errors.Is(err, errBadFlag) || !strings.Contains(err.Error(), "--initial-cluster n1=127.0.0.1:7101") {
			t.Fatalf("checkNode = %v, want a refusal that shows the one-node --initial-cluster", err)
		}
	})
	t.Run("no --initial-cluster: a data directory with a node restarts it", func(t *testing.T) {
		o := validNode(t)
		o.InitialCluster = ""
		if err := os.MkdirAll(filepath.Join(o.DataDir, "badger"), 0o700); err != nil {
			t.Fatal(err)
		}
		spec, err := checkNode(o)
		if err != nil {
			t.Fatal(err)
		}
		if spec.cluster != nil {
			t.Fatalf("a restart bootstraps nothing, got cluster %v", spec.cluster)
		}
	})
	t.Run("join without a cluster", func(t *testing.T) {
		o := validNode(t)
		o.ID, o.Join, o.InitialCluster, o.PeerAddr = "n4", true, "", "127.0.0.1:7104"
		spec, err := checkNode(o)
		if err != nil {
			t.Fatal(err)
		}
		if spec.cluster != nil {
			t.Fatalf("a joining node bootstraps nothing, got cluster %v", spec.cluster)
		}
	})
}

func TestCheckDevRefusesFlagsItChooses(t *testing.T) {
	ok := options{Dev: true, ShutdownTimeout: time.Second, Tick: 10 * time.Millisecond}
	if err := checkDev(ok); err != nil {
		t.Fatalf("checkDev(plain --dev) = %v", err)
	}
	for name, mutate := range map[string]func(o *options){
		"--id":                  func(o *options) { o.ID = "n1" },
		"--data-dir":            func(o *options) { o.DataDir = "d" },
		"--client-addr":         func(o *options) { o.ClientAddr = "127.0.0.1:1" },
		"--initial-cluster":     func(o *options) { o.InitialCluster = "n1=127.0.0.1:1" },
		"--join":                func(o *options) { o.Join = true },
		"--advertise-peer-addr": func(o *options) { o.AdvertisePeer = "127.0.0.1:1" },
	} {
		o := ok
		mutate(&o)
		if err := checkDev(o); !errors.Is(err, errBadFlag) {
			t.Errorf("--dev with %s: err = %v, want errBadFlag", name, err)
		}
	}
}

// TestServerConfigCarriesEveryTimingAndLimitFlag checks that each timing and
// limit option reaches the server.Config field it names.
func TestServerConfigCarriesEveryTimingAndLimitFlag(t *testing.T) {
	o := validNode(t)
	o.Tick, o.ElectionTicks, o.HeartbeatTicks, o.SnapshotEntries = 7*time.Millisecond, 21, 3, 123
	o.KeepTail, o.WriteDelay = 77, 3*time.Millisecond
	o.SessionTTLMin, o.SessionTTLMax, o.SessionTTLDefault = 2*time.Second, time.Minute, 5*time.Second
	o.MaxFrameSize, o.MaxNameLen, o.MaxValueLen = 1<<20, 100, 200
	o.MaxSessions, o.MaxLocksPerSess = 999, 9
	o.WALStallTimeout = 7 * time.Second
	o.MaxConns, o.MaxConnsPerIP, o.MaxQueueBytes, o.HandshakeTimeout = 321, 12, 3<<20, 7*time.Second
	spec, err := checkNode(o)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := serverConfig(spec.opts, spec.cluster, hclog.NewNullLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.ID, cfg.DataDir, cfg.PeerAddr, cfg.ClientAddr, len(cfg.InitialCluster), cfg.Join,
		cfg.Node.TickInterval, cfg.Node.ElectionTick, cfg.Node.HeartbeatTick, cfg.Node.SnapshotEntries,
		cfg.FSM.Sessions.MinTTL, cfg.FSM.Sessions.MaxTTL, cfg.FSM.Sessions.DefaultTTL,
		cfg.RPC.MaxFrameSize, cfg.FSM.Locks.MaxNameLen, cfg.FSM.Locks.MaxValueLen, cfg.WAL.KeepTail,
		cfg.MaxSessions, cfg.MaxLocksPerSession, cfg.Node.LeaderWriteDelay, cfg.WALStallTimeout,
		cfg.RPC.MaxConns, cfg.RPC.MaxConnsPerIP, cfg.RPC.MaxQueueBytes, cfg.RPC.HandshakeTimeout}
	want := []any{"n1", o.DataDir, "127.0.0.1:7101", "127.0.0.1:7001", 3, false,
		7 * time.Millisecond, 21, 3, uint64(123),
		2 * time.Second, time.Minute, 5 * time.Second,
		1 << 20, 100, 200, uint64(77), 999, 9, 3 * time.Millisecond, 7 * time.Second,
		321, 12, 3 << 20, 7 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestServerConfigRefusesValuesTheServerRejects(t *testing.T) {
	for name, mutate := range map[string]func(o *options){
		"heartbeat not below election": func(o *options) { o.ElectionTicks, o.HeartbeatTicks = 5, 5 },
		"zero tick":                    func(o *options) { o.Tick = 0 },
		"zero wal stall timeout":       func(o *options) { o.WALStallTimeout = 0 },
		"write delay of a heartbeat":   func(o *options) { o.WriteDelay = 50 * time.Millisecond },
		"min TTL above max":            func(o *options) { o.SessionTTLMin, o.SessionTTLMax = time.Minute, time.Second },
		"negative connection limit":    func(o *options) { o.MaxConnsPerIP = -1 },
		"queue below one frame":        func(o *options) { o.MaxQueueBytes = 1000 },
		"zero handshake timeout":       func(o *options) { o.HandshakeTimeout = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			o := validNode(t)
			o.Tick, o.ElectionTicks, o.HeartbeatTicks = 10*time.Millisecond, 15, 5
			o.SessionTTLMin, o.SessionTTLMax, o.SessionTTLDefault = time.Second, time.Minute, 10*time.Second
			o.MaxFrameSize, o.MaxNameLen, o.MaxValueLen = 1<<20, 100, 100
			mutate(&o)
			spec, err := checkNode(o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := serverConfig(spec.opts, spec.cluster, hclog.NewNullLogger(), nil); !errors.Is(err, errBadFlag) {
				t.Fatalf("serverConfig = %v, want errBadFlag", err)
			}
		})
	}
}
