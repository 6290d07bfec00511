package server

import (
	"context"
	"hash/crc32"
	"sync"
	"time"

	"github.com/lockd/lockd/api"
	"github.com/lockd/lockd/rpc"
	"github.com/lockd/lockd/server/fsm"
)

// backup is one consistent copy of the FSM made for SnapshotSave.
type backup struct {
	index, term uint64
	data        []byte
	crc         uint32
	until       time.Duration // forgotten after this Clock.Monotonic reading
}

// backupStore keeps the latest backup while its chunks are fetched.
type backupStore struct {
	mu     sync.Mutex
	latest *backup
}

func (b *backupStore) get(index uint64, now time.Duration) *backup {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.latest == nil || now > b.latest.until {
		b.latest = nil
		return nil
	}
	if b.latest.index != index {
		return nil
	}
	return b.latest
}

func (b *backupStore) put(bk *backup) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.latest = bk
}

// snapshotSave serves a consistent backup in chunks. Offset 0 makes a new
// backup (after a ReadIndex, so it holds every write committed before the
// request); later offsets name its Index and must find it still kept.
func (s *Server) snapshotSave(ctx context.Context, req *api.SnapshotSaveRequest) (*api.SnapshotSaveResponse, error) {
	if err := s.requireLeader(ctx); err != nil {
		return nil, err
	}
	var bk *backup
	if req.Offset == 0 {
		if err := s.linearize(ctx, api.ReadOptions{}); err != nil {
			return nil, err
		}
		var data []byte
		var index uint64
		var err error
		s.app.read(func(f *fsm.Machine) {
			index = f.AppliedIndex()
			data, err = f.Snapshot()
		})
		if err != nil {
			return nil, api.Errorf(api.CodeUnavailable, "snapshot: %v", err)
		}
		term, _ := s.wal.Term(index) // 0 if compacted away; the index is what matters
		bk = &backup{index: index, term: term, data: data,
			crc: crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)), until: s.clock.Monotonic() + s.cfg.BackupRetention}
		s.backups.put(bk)
	} else if bk = s.backups.get(req.Index, s.clock.Monotonic()); bk == nil {
		return nil, api.Errorf(api.CodeSnapshotGone, "backup at index %d is no longer kept", req.Index)
	}
	if req.Offset > uint64(len(bk.data)) {
		return nil, api.Errorf(api.CodeInvalidRequest, "offset %d past the backup's %d bytes", req.Offset, len(bk.data))
	}
	size := uint64(rpc.MaxChunkData(s.cfg.RPC.MaxFrameSize) / 2)
	end := min(req.Offset+size, uint64(len(bk.data)))
	return &api.SnapshotSaveResponse{Index: bk.index, Term: bk.term, Total: uint64(len(bk.data)), CRC32C: bk.crc,
		Data: bk.data[req.Offset:end], ClusterID: s.ClusterID()}, nil
}
