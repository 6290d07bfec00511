package server

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/locks"
	"github.com/lockd/lockd/server/fsm"
	"github.com/lockd/lockd/sessions"
)

// fetchBackup saves a backup from the node at addr, as lockctl does, and
// returns the backup file's bytes.
func fetchBackup(t *testing.T, cl *svcClient) ([]byte, api.SnapshotSaveResponse) {
	t.Helper()
	var first api.SnapshotSaveResponse
	cl.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{}, &first)
	data := append([]byte(nil), first.Data...)
	for uint64(len(data)) < first.Total {
		var r api.SnapshotSaveResponse
		cl.must(api.MsgSnapshotSave, &api.SnapshotSaveRequest{Index: first.Index, Offset: uint64(len(data))}, &r)
		data = append(data, r.Data...)
	}
	file, err := EncodeBackup(first.ClusterID, first.Index, first.Term, data)
	if err != nil {
		t.Fatal(err)
	}
	return file, first
}

// fsmState is what a node's state machine holds, for comparing clusters.
func fsmState(s *Server) ([]locks.Info, []sessions.Info) {
	var ls []locks.Info
	var ss []sessions.Info
	s.app.read(func(f *fsm.Machine) { ls, ss = f.Locks(), f.Sessions() })
	return ls, ss
}

// A cluster restored from a backup holds the same locks, holders, tokens,
// values, queues and sessions under a new cluster ID; the holder's session
// goes on (its write sequence continues), and releasing hands the lock to
// the queued waiter with a token above every token of the backup.
func TestRestoredClusterServesTheBackupsStateUnderANewClusterID(t *testing.T) {
	c := newSvcCluster(t, 3, nil)
	lead := c.leader()
	cl := dialClient(t, lead.ClientAddr())
	holder, waiter := cl.open(time.Minute), cl.open(time.Minute)
	for i, name := range []string{"restore/a", "restore/b"} {
		if r, err := cl.call2(api.MsgAcquire, &api.AcquireRequest{Write: cl.write(holder), Name: name,
			Mode: api.ModeExclusive, Value: []byte(fmt.Sprintf("value-%d", i))}); err != nil {
			t.Fatal(r, err)
		}
	}
	if r, err := cl.acquire(waiter, "restore/a", true); err != nil || r.Granted {
		t.Fatalf("waiter's acquire: %+v, %v; want queued", r, err)
	}
	file, resp := fetchBackup(t, cl)
	if resp.ClusterID == "" || resp.ClusterID != lead.ClusterID() {
		t.Fatalf("backup's cluster ID %q, the leader's %q", resp.ClusterID, lead.ClusterID())
	}
	wantLocks, wantSessions := fsmState(lead)
	path := filepath.Join(t.TempDir(), "backup.lockd")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	c.closeAll()

	a := svcFreeAddrs(t, 6)
	members := map[string]string{"n1": a[0], "n2": a[2], "n3": a[4]}
	root := t.TempDir()
	dirs := map[string]string{}
	for id := range members {
		dirs[id] = filepath.Join(root, id)
	}
	res, err := Restore(RestoreConfig{File: path, Members: members, DataDirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	if res.ClusterID == "" || res.ClusterID == resp.ClusterID || res.ClusterID == ClusterID(members, "") {
		t.Fatalf("restored cluster ID %q: want one new, not the backup's %q nor a bootstrap's", res.ClusterID, resp.ClusterID)
	}
	if res.Backup.Index != resp.Index {
		t.Fatalf("restored at index %d, the backup was taken at %d", res.Backup.Index, resp.Index)
	}

	c2 := &svcCluster{t: t, clock: c.clock, cfgs: map[string]Config{}, servers: map[string]*Server{}, faults: c.faults}
	for i, id := range []string{"n1", "n2", "n3"} {
		cfg := c2.baseConfig(id, a[2*i], a[2*i+1])
		cfg.DataDir, cfg.InitialCluster = dirs[id], members
		cfg.Node.Seed = uint64(i+1) * 104729
		c2.cfgs[id] = cfg
	}
	for _, id := range c2.ids() {
		c2.start(id)
	}
	t.Cleanup(c2.closeAll)
	lead2 := c2.leader()
	for _, id := range c2.ids() {
		if got := c2.servers[id].ClusterID(); got != res.ClusterID {
			t.Fatalf("%s runs cluster %q, want the restored %q", id, got, res.ClusterID)
		}
	}
	gotLocks, gotSessions := fsmState(lead2)
	if !reflect.DeepEqual(gotLocks, wantLocks) {
		t.Fatalf("restored locks\n%+v\nwant\n%+v", gotLocks, wantLocks)
	}
	if len(gotSessions) != len(wantSessions) {
		t.Fatalf("restored sessions %+v, want %+v", gotSessions, wantSessions)
	}
	for i := range wantSessions {
		if gotSessions[i].ID != wantSessions[i].ID || gotSessions[i].TTL != wantSessions[i].TTL {
			t.Fatalf("restored session %+v, want %+v", gotSessions[i], wantSessions[i])
		}
	}

	cl2 := dialClient(t, lead2.ClientAddr())
	cl2.seq = cl.seq // the SDK's sequence numbers go on in the restored cluster
	if err := cl2.call(api.MsgKeepAlive, &api.KeepAliveRequest{Sessions: []uint64{holder}}, &api.KeepAliveResponse{}); err != nil {
		t.Fatalf("the holder's keep-alive on the restored cluster: %v", err)
	}
	var heldA locks.Info
	for _, l := range wantLocks {
		if l.Name == "restore/a" {
			heldA = l
		}
	}
	if _, err := cl2.call2(api.MsgRelease, &api.ReleaseRequest{Write: cl2.write(holder), Name: "restore/a",
		Token: heldA.Holders[0].Token}); err != nil {
		t.Fatalf("release by the restored holder with its token: %v", err)
	}
	var got api.LockInfo
	svcWait(t, "the waiter granted restore/a", 10*time.Second, func() bool {
		cl2.must(api.MsgGetLock, &api.GetLockRequest{Name: "restore/a"}, &got)
		return len(got.Holders) == 1 && got.Holders[0].Session == waiter
	})
	if got.Holders[0].Token <= resp.Index {
		t.Fatalf("the waiter's token %d is not above the backup's index %d", got.Holders[0].Token, resp.Index)
	}
}

// validBackup makes a small backup file of a state machine with one
// session holding one lock.
func validBackup(t *testing.T) []byte {
	t.Helper()
	m, err := fsm.New(fsm.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	codec := fsm.NewCodec()
	apply := func(index uint64, cmd fsm.Command, body any) {
		b, err := codec.Encode(cmd, body)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := m.Apply(index, b); r.Err != nil {
			t.Fatalf("apply %d: %v", index, r.Err)
		}
	}
	apply(2, fsm.Command{Type: fsm.CmdOpenSession, Time: 1}, &fsm.OpenSessionBody{TTL: int64(time.Minute)})
	apply(3, fsm.Command{Type: fsm.CmdAcquire, Session: 2, Seq: 1, LowestUnanswered: 1, Time: 2},
		&fsm.AcquireBody{Name: "x", Mode: locks.Exclusive})
	data, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	file, err := EncodeBackup("0123456789abcdef", 3, 2, data)
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// Every truncation, every flipped byte and every appended byte of a backup
// file is refused with a typed error, and a refused restore writes nothing.
func TestBackupFileRefusesTruncatedOrAlteredBytes(t *testing.T) {
	file := validBackup(t)
	h, _, err := DecodeBackup(file)
	if err != nil {
		t.Fatalf("the valid file (negative control): %v", err)
	}
	if h.Version != BackupFormatVersion || h.ClusterID != "0123456789abcdef" || h.Index != 3 || h.Term != 2 {
		t.Fatalf("header %+v", h)
	}
	refused := func(what string, b []byte) {
		t.Helper()
		_, _, err := DecodeBackup(b)
		if !errors.Is(err, ErrBackupCorrupt) && !errors.Is(err, ErrBackupVersion) {
			t.Fatalf("%s: %v, want ErrBackupCorrupt or ErrBackupVersion", what, err)
		}
	}
	for n := 0; n < len(file); n++ {
		refused(fmt.Sprintf("truncated to %d bytes", n), file[:n])
	}
	for i := range file {
		b := bytes.Clone(file)
		b[i] ^= 0x20
		refused(fmt.Sprintf("byte %d flipped", i), b)
	}
	refused("a byte appended", append(bytes.Clone(file), 0))

	path := filepath.Join(t.TempDir(), "cut.lockd")
	if err := os.WriteFile(path, file[:len(file)-1], 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "n1")
	_, err = Restore(RestoreConfig{File: path, Members: map[string]string{"n1": "127.0.0.1:1"}, DataDirs: map[string]string{"n1": dir}})
	if !errors.Is(err, ErrBackupCorrupt) {
		t.Fatalf("restore of a truncated file: %v, want ErrBackupCorrupt", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused restore created %s (stat: %v)", dir, err)
	}
	if _, err := os.Stat(dir + restoreTmpExt); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s (stat: %v)", dir+restoreTmpExt, err)
	}
}

// A backup of a format version this lockd does not know is refused with
// a message that names both versions.
func TestBackupOfAnUnknownVersionNamesBothVersions(t *testing.T) {
	file := validBackup(t)
	file[len(backupMagic)+1] = 7 // version 7
	_, _, err := DecodeBackup(file)
	if !errors.Is(err, ErrBackupVersion) {
		t.Fatalf("%v, want ErrBackupVersion", err)
	}
	for _, want := range []string{"format version 7", fmt.Sprintf("reads version %d", BackupFormatVersion)} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%q does not say %q", err, want)
		}
	}
}

// Restore refuses, before writing anything, a data directory that holds
// something, members without a data directory to restore, and a data
// directory of no member.
func TestRestoreRefusesBadTargetsAndWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ok.lockd")
	if err := os.WriteFile(path, validBackup(t), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	full := filepath.Join(root, "full")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	two := map[string]string{"n1": "127.0.0.1:1", "n2": "127.0.0.1:2"}
	fresh := filepath.Join(root, "fresh")
	cases := []struct {
		name string
		dirs map[string]string
	}{
		{"a data directory that holds a file", map[string]string{"n1": fresh, "n2": full}},
		{"no data directory", nil},
		{"a data directory of no member", map[string]string{"n1": fresh, "n9": filepath.Join(root, "n9")}},
		{"two members sharing one", map[string]string{"n1": fresh, "n2": fresh}},
	}
	for _, tc := range cases {
		_, err := Restore(RestoreConfig{File: path, Members: two, DataDirs: tc.dirs})
		if !errors.Is(err, ErrRestore) {
			t.Fatalf("%s: %v, want ErrRestore", tc.name, err)
		}
		if _, err := os.Stat(fresh); !os.IsNotExist(err) {
			t.Fatalf("%s: the refused restore created %s", tc.name, fresh)
		}
	}
	// The negative control: the same call with good targets restores, and
	// the ID is the same on every host that restores the same file.
	d1, d2 := filepath.Join(root, "a", "n1"), filepath.Join(root, "b", "n2")
	r1, err := Restore(RestoreConfig{File: path, Members: two, DataDirs: map[string]string{"n1": d1}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(RestoreConfig{File: path, Members: two, DataDirs: map[string]string{"n2": d2}})
	if err != nil {
		t.Fatal(err)
	}
	if r1.ClusterID != r2.ClusterID {
		t.Fatalf("two hosts restoring the same file got clusters %s and %s", r1.ClusterID, r2.ClusterID)
	}
	info, err := InspectBackup(path)
	if err != nil || info.Sessions != 1 || info.Locks != 1 || info.Holders != 1 || info.Waiters != 0 {
		t.Fatalf("inspect: %+v, %v", info, err)
	}
}
