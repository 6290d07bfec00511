package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// A backup file (what `lockctl snapshot save` writes and `lockctl
// snapshot restore` reads) is a header, the state machine's snapshot
// bytes as the leader made them, and a SHA-256 of everything before it.
// Integers are big-endian:
//
//	magic "LOCKDBAK" | version uint16 | idLen uint8 | clusterID [idLen]
//	| index uint64 | term uint64 | size uint64 | data [size] | sha256 [32]
//
// The file's length must be exactly what the header says: a truncated
// file, or one with bytes appended, is refused before its checksum is
// even computed.
const (
	backupMagic = "LOCKDBAK"
	// BackupFormatVersion is the backup file layout this lockd writes and
	// the only one it reads.
	BackupFormatVersion uint16 = 1
	// backupFixed is the header's length without the cluster ID.
	backupFixed  = len(backupMagic) + 2 + 1 + 8 + 8 + 8
	backupSumLen = sha256.Size
)

var (
	// ErrBackupCorrupt: the file is not a complete, unaltered lockd backup
	// (wrong magic, truncated, trailing bytes, checksum mismatch, or a
	// snapshot the state machine cannot load).
	ErrBackupCorrupt = errors.New("server: backup file corrupt")
	// ErrBackupVersion: the file was written in a backup format version
	// this lockd does not know; the message names both versions.
	ErrBackupVersion = errors.New("server: backup file format version unknown")
)

// BackupHeader describes a backup: what its header holds and the
// checksum that ends the file.
type BackupHeader struct {
	// Version is the file's format version (BackupFormatVersion).
	Version uint16
	// ClusterID is the cluster the backup was taken from ("" if the
	// cluster's data directories do not record one).
	ClusterID string
	// Index and Term are the last log entry the backup holds.
	Index, Term uint64
	// Size is the length of the state machine snapshot in the file.
	Size uint64
	// SHA256 is the checksum of the file up to it.
	SHA256 [sha256.Size]byte
}

// EncodeBackup returns the backup file of data (a state machine snapshot
// taken at index, term in cluster clusterID).
func EncodeBackup(clusterID string, index, term uint64, data []byte) ([]byte, error) {
	if len(clusterID) > 255 {
		return nil, fmt.Errorf("server: cluster ID of %d bytes does not fit a backup header", len(clusterID))
	}
	out := make([]byte, 0, backupFixed+len(clusterID)+len(data)+backupSumLen)
	out = append(out, backupMagic...)
	out = binary.BigEndian.AppendUint16(out, BackupFormatVersion)
	out = append(out, byte(len(clusterID)))
	out = append(out, clusterID...)
	out = binary.BigEndian.AppendUint64(out, index)
	out = binary.BigEndian.AppendUint64(out, term)
	out = binary.BigEndian.AppendUint64(out, uint64(len(data)))
	out = append(out, data...)
	sum := sha256.Sum256(out)
	return append(out, sum[:]...), nil
}

// DecodeBackup checks a whole backup file and returns its header and the
// state machine snapshot it holds (aliasing b). It judges the magic, then
// the version, then the lengths, then the checksum.
func DecodeBackup(b []byte) (BackupHeader, []byte, error) {
	var h BackupHeader
	corrupt := func(format string, args ...any) (BackupHeader, []byte, error) {
		return h, nil, fmt.Errorf("%w: %s", ErrBackupCorrupt, fmt.Sprintf(format, args...))
	}
	if len(b) < len(backupMagic)+2 || !bytes.Equal(b[:len(backupMagic)], []byte(backupMagic)) {
		return corrupt("not a lockd backup (no %q magic at its start)", backupMagic)
	}
	h.Version = binary.BigEndian.Uint16(b[len(backupMagic):])
	if h.Version != BackupFormatVersion {
		return h, nil, fmt.Errorf("%w: the file has format version %d, this lockd reads version %d",
			ErrBackupVersion, h.Version, BackupFormatVersion)
	}
	if len(b) < backupFixed {
		return corrupt("truncated: %d bytes, shorter than a header", len(b))
	}
	p := len(backupMagic) + 2
	idLen := int(b[p])
	p++
	if len(b) < backupFixed+idLen {
		return corrupt("truncated: %d bytes, shorter than its header", len(b))
	}
	h.ClusterID = string(b[p : p+idLen])
	p += idLen
	h.Index = binary.BigEndian.Uint64(b[p:])
	h.Term = binary.BigEndian.Uint64(b[p+8:])
	h.Size = binary.BigEndian.Uint64(b[p+16:])
	p += 24
	rest := uint64(len(b) - p)
	switch {
	case rest < h.Size+backupSumLen || h.Size > rest:
		return corrupt("truncated: %d bytes after the header, the header announces %d and a %d-byte checksum",
			rest, h.Size, backupSumLen)
	case rest > h.Size+backupSumLen:
		return corrupt("%d bytes after the end the header announces", rest-h.Size-backupSumLen)
	}
	end := p + int(h.Size)
	copy(h.SHA256[:], b[end:])
	if got := sha256.Sum256(b[:end]); got != h.SHA256 {
		return corrupt("checksum mismatch: sha256 %x, the file says %x", got, h.SHA256)
	}
	return h, b[p:end], nil
}

// ReadBackupFile reads and checks the backup file at path.
func ReadBackupFile(path string) (BackupHeader, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return BackupHeader{}, nil, fmt.Errorf("server: backup file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return BackupHeader{}, nil, fmt.Errorf("server: backup file %s: %w", path, err)
	}
	h, data, err := DecodeBackup(b)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", path, err)
	}
	return h, data, nil
}
