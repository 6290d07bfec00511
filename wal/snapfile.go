package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
)

// A snapshot file is a 40-byte header then the data:
//
//	magic "LKDSNAP1" (its last byte is the file's format version) | index(8) | term(8) | size(8) | crc32c(data)(4) | crc32c(header[0:36])(4)
//
// It is written to <name>.tmp, fsynced, renamed to <term>-<index>.snap
// (16 hex digits each) and the directory fsynced, so a crash leaves either no
// file or the whole file under its final name.
const (
	snapMagic     = "LKDSNAP1"
	snapHeaderLen = 40
	snapExt       = ".snap"
	tmpExt        = ".tmp"
)

func snapFileName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapExt)
}

// writeSnapFile durably writes data as the snapshot (index, term) and
// returns its metadata.
func (w *WAL) writeSnapFile(index, term uint64, data []byte) (snapMeta, error) {
	m := snapMeta{index: index, term: term, size: uint64(len(data)), crc: crc32.Checksum(data, castagnoli)}
	hdr := make([]byte, 0, snapHeaderLen)
	hdr = append(hdr, snapMagic...)
	hdr = binary.BigEndian.AppendUint64(hdr, index)
	hdr = binary.BigEndian.AppendUint64(hdr, term)
	hdr = binary.BigEndian.AppendUint64(hdr, m.size)
	hdr = binary.BigEndian.AppendUint32(hdr, m.crc)
	hdr = binary.BigEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))

	final := filepath.Join(w.snapDir, snapFileName(term, index))
	tmp := final + tmpExt
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return m, err
	}
	_, err = f.Write(hdr)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = w.beforeSync()
	}
	if err == nil && !w.opts.UnsafeNoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil && !w.opts.UnsafeNoSync {
		err = syncDir(w.snapDir)
	}
	if err == nil {
		err = w.fail("snapshot file")
	}
	return m, err
}

// readSnapFile loads and verifies the data of snapshot m.
func (w *WAL) readSnapFile(m snapMeta) ([]byte, error) {
	path := filepath.Join(w.snapDir, snapFileName(m.term, m.index))
	corrupt := func(reason string) error {
		return &CorruptError{Record: "snapshot file", Index: m.index, File: path, Reason: reason}
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, corrupt("file missing")
	}
	if err != nil {
		return nil, fmt.Errorf("wal: read snapshot %s: %w", path, err)
	}
	if len(b) < snapHeaderLen {
		return nil, corrupt(fmt.Sprintf("truncated header: %d bytes", len(b)))
	}
	hdr := b[:snapHeaderLen]
	switch {
	case bytes.Equal(hdr[:7], []byte(snapMagic[:7])) && hdr[7] != snapMagic[7]:
		return nil, corrupt(fmt.Sprintf("snapshot file format version %c; this lockd reads snapshot format version %c",
			hdr[7], snapMagic[7]))
	case !bytes.Equal(hdr[:8], []byte(snapMagic)):
		return nil, corrupt("bad magic")
	case binary.BigEndian.Uint32(hdr[36:]) != crc32.Checksum(hdr[:36], castagnoli):
		return nil, corrupt("header checksum mismatch")
	case binary.BigEndian.Uint64(hdr[8:]) != m.index || binary.BigEndian.Uint64(hdr[16:]) != m.term:
		return nil, corrupt("header names another snapshot")
	case binary.BigEndian.Uint64(hdr[24:]) != m.size || uint64(len(b)-snapHeaderLen) != m.size:
		return nil, corrupt(fmt.Sprintf("size %d, want %d (truncated?)", len(b)-snapHeaderLen, m.size))
	}
	data := b[snapHeaderLen:]
	if crc := crc32.Checksum(data, castagnoli); crc != m.crc || binary.BigEndian.Uint32(hdr[32:]) != m.crc {
		return nil, corrupt("data checksum mismatch")
	}
	return data, nil
}

// removeStaleSnapFiles deletes temporary files and every snapshot file but
// keep (the durable latest; "" keeps none).
func (w *WAL) removeStaleSnapFiles(keep string) error {
	des, err := os.ReadDir(w.snapDir)
	if err != nil {
		return err
	}
	removed := false
	for _, de := range des {
		n := de.Name()
		if n == keep || !(strings.HasSuffix(n, snapExt) || strings.HasSuffix(n, tmpExt)) {
			continue
		}
		if err := os.Remove(filepath.Join(w.snapDir, n)); err != nil && !os.IsNotExist(err) {
			return err
		}
		w.log.Debug("removed stale snapshot file", "file", n)
		removed = true
	}
	if removed && !w.opts.UnsafeNoSync {
		return syncDir(w.snapDir)
	}
	return nil
}

// syncDir fsyncs a directory so a rename or create in it is durable.
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
