package zk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"go.etcd.io/bbolt"
	"hash/crc32"
)

// LogStore names the on-disk form of a node's raft log and stable store.
type LogStore string

const (
	// LogStoreWAL keeps the log in segment files under wal/ and the stable
	// store beside them (hashicorp/raft-wal): a batch of entries is one
	// append and one fsync, and compacting the log drops whole segment
	// files. The default: see the README's benchmarks for why.
	LogStoreWAL LogStore = "wal"
	// LogStoreBolt keeps the log and the stable store in one bbolt file,
	// raft.db (hashicorp/raft-boltdb): a batch rewrites B+tree pages and
	// syncs twice, and compacting the log is one long write transaction.
	LogStoreBolt LogStore = "bolt"
)

const (
	boltFile = "raft.db"
	walDir   = "wal"
)

// ErrLogStoreMismatch is returned by Open when Config.LogStore names a
// different store from the one Config.Dir already holds.
var ErrLogStoreMismatch = errors.New("zk: the data dir holds another log store")

// existingLogStore returns the store dir was created with, or "" when it
// holds none.
func existingLogStore(dir string) (LogStore, error) {
	var found []LogStore
	for _, c := range []struct {
		kind LogStore
		path string
	}{{LogStoreBolt, boltFile}, {LogStoreWAL, walDir}} {
		_, err := os.Stat(filepath.Join(dir, c.path))
		switch {
		case err == nil:
			found = append(found, c.kind)
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("zk: data dir: %w", err)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	default:
		return "", fmt.Errorf("zk: data dir %s holds both %s and %s/: keep the one the node ran with", dir, boltFile, walDir)
	}
}

// openDiskStores opens the log, stable and snapshot stores in dir: the
// log store dir already holds, or the one the config asks for. The
// returned closer closes the log and stable stores.
func openDiskStores(dir string, want LogStore, log hclog.Logger) (raft.LogStore, raft.StableStore, raft.SnapshotStore, io.Closer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("zk: data dir: %w", err)
	}
	have, err := existingLogStore(dir)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	kind := have
	switch {
	case have == "" && want == "":
		kind = LogStoreWAL
	case have == "":
		kind = want
	case want != "" && want != have:
		return nil, nil, nil, nil, fmt.Errorf("%w: %s holds a %q log store, the config asks for %q", ErrLogStoreMismatch, dir, have, want)
	}
	var (
		logs   raft.LogStore
		stable raft.StableStore
		closer io.Closer
	)
	switch kind {
	case LogStoreBolt:
		path := filepath.Join(dir, boltFile)
		var bs *raftboltdb.BoltStore
		err := guardOpen("bbolt", func() (err error) {
			bs, err = raftboltdb.New(raftboltdb.Options{
				Path: path,
				// The freelist is rebuilt by scanning at open instead of
				// being written on every commit; the map form frees pages
				// in O(1).
				BoltOptions: &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType, NoFreelistSync: true},
			})
			return err
		})
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("zk: open %s: %w; %s", path, err, recoverHint)
		}
		logs, stable, closer = bs, bs, bs
	case LogStoreWAL:
		path := filepath.Join(dir, walDir)
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("zk: data dir: %w", err)
		}
		// raft-wal recreates a missing wal-meta.db and then trips over the
		// segments it no longer knows of.
		if segs, _ := filepath.Glob(filepath.Join(path, "*.wal")); len(segs) > 0 {
			if _, err := os.Stat(filepath.Join(path, "wal-meta.db")); errors.Is(err, os.ErrNotExist) {
				return nil, nil, nil, nil, fmt.Errorf("%w: %s holds %d segment files but no wal-meta.db, which indexes them; %s", ErrCorruptLog, path, len(segs), recoverHint)
			}
		}
		var w *wal.WAL
		err := guardOpen("raft-wal", func() (err error) {
			w, err = wal.Open(path, wal.WithLogger(log.Named("wal")))
			return err
		})
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("zk: open %s: %w; %s", path, err, recoverHint)
		}
		logs, stable, closer = walLog{w}, w, w
	default:
		return nil, nil, nil, nil, fmt.Errorf("%w: unknown log store %q (want %q or %q)", ErrInvalidConfig, kind, LogStoreBolt, LogStoreWAL)
	}
	cached := newRecentLogs(summedLog{logs})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, log.Named("snapshot"))
	if err != nil {
		closer.Close()
		return nil, nil, nil, nil, fmt.Errorf("zk: snapshot store: %w", err)
	}
	return cached, stable, snaps, closer, nil
}

// walLog makes the entries raft-wal has deleted from the head of its log
// unreadable, as deleted entries are in raft's other log stores: raft-wal
// removes whole segment files only and goes on serving the rest of a
// segment it truncated, so a follower behind the compaction would be sent
// entries older than FirstIndex instead of the snapshot that replaced them.
type walLog struct{ *wal.WAL }

func (l walLog) GetLog(index uint64, log *raft.Log) error {
	first, err := l.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return l.WAL.GetLog(index, log)
}

// ErrCorruptLog is returned by Open when the raft log in Config.Dir (or
// Config.Stores) cannot be read back whole: the node refuses to start
// from a log it cannot trust.
var ErrCorruptLog = errors.New("zk: corrupt raft log")

// recoverHint tells the operator what to do with a node whose state
// cannot be trusted.
const recoverHint = "to recover, move the node's data dir aside and start it again empty: " +
	"a member of an ensemble that keeps a quorum without it catches up from the leader; " +
	"a single node, or an ensemble that lost its quorum, must be restored from a backup or another member's data dir"

// guardOpen runs f, turning a panic into an error: bbolt and raft-wal
// panic on some corrupt files, and raft panics when its log does not
// cover what its snapshot left out, where Open must return an error.
func guardOpen(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s panicked: %v", ErrCorruptLog, what, r)
		}
	}()
	return f()
}

// checkStartState makes sure raft will start from state it can trust,
// before it starts. Raft restores the newest snapshot it can open and
// silently falls back to an older one when the newest is unreadable;
// that is safe only if the log still holds every entry from the older
// snapshot up to what the newest covered, or the node would start behind
// what it had acknowledged, or panic on the gap. So it finds the snapshot
// raft will restore, refuses to start when the log does not reach back to
// it or forward to the newest snapshot, and reads the whole log: every
// entry where it should be and passing summedLog's checksum (raft-wal and
// bbolt check only their own structure), with no gap after the snapshot.
// Below the snapshot a log may have gaps: raft compacts a store that is
// not monotonic only up to its own old entries when it installs a
// snapshot from the leader.
//
// dir, when set, is the data dir whose snapshots/ the file snapshot store
// keeps: a snapshot there whose metadata cannot be read is skipped by the
// store's List, but still counts as the newest. bootstrapped says the
// node bootstrapped its ensemble and has a persisted term: it wrote the
// configuration as entry 1, so a log and snapshot store that are both
// empty mean its state was lost (a removed segment file, a replaced
// raft.db), and it would start as a blank node.
func checkStartState(logs raft.LogStore, snaps raft.SnapshotStore, dir string, bootstrapped bool, log hclog.Logger) error {
	metas, err := snaps.List()
	if err != nil {
		return fmt.Errorf("%w: listing snapshots: %v; %s", ErrCorruptSnapshot, err, recoverHint)
	}
	newest, newestID := uint64(0), ""
	listed := make(map[string]bool, len(metas))
	for _, m := range metas {
		listed[m.ID] = true
		if m.Index > newest {
			newest, newestID = m.Index, m.ID
		}
	}
	var whyNewer []string // why each snapshot newer than the one restored is not
	if dir != "" {
		entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %v", ErrCorruptSnapshot, err)
		}
		for _, e := range entries {
			if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") || listed[e.Name()] {
				continue
			}
			// Unlisted: its meta.json is unreadable. FileSnapshotStore
			// names a snapshot term-index-milliseconds.
			var term, index, ms uint64
			if _, err := fmt.Sscanf(e.Name(), "%d-%d-%d", &term, &index, &ms); err != nil {
				continue // not a snapshot
			}
			log.Error("snapshot metadata unreadable", "snapshot", e.Name())
			whyNewer = append(whyNewer, e.Name()+": metadata unreadable")
			if index > newest {
				newest, newestID = index, e.Name()
			}
		}
	}
	// The snapshot raft will restore: the newest the store opens, which
	// for FileSnapshotStore checks its CRC-64 over the whole state.
	var base *raft.SnapshotMeta
	for _, m := range metas {
		_, rc, err := snaps.Open(m.ID)
		if err != nil {
			whyNewer = append(whyNewer, fmt.Sprintf("%s: %v", m.ID, err))
			continue
		}
		rc.Close()
		base = m
		break
	}
	if newest > 0 && base == nil {
		return fmt.Errorf("%w: no snapshot can be read (%s); %s", ErrCorruptSnapshot, strings.Join(whyNewer, "; "), recoverHint)
	}
	var baseIndex uint64
	if base != nil {
		baseIndex = base.Index
	}

	var first, last uint64
	err = guardOpen("reading the raft log", func() error {
		var err error
		if first, err = logs.FirstIndex(); err != nil {
			return fmt.Errorf("%w: first index: %v", ErrCorruptLog, err)
		}
		if last, err = logs.LastIndex(); err != nil {
			return fmt.Errorf("%w: last index: %v", ErrCorruptLog, err)
		}
		if base != nil && base.Index < newest && (last == 0 || first > base.Index+1 || last < newest) {
			return fmt.Errorf("%w: the newest snapshot %s is unreadable (%s), and the log (entries %d..%d) does not cover the gap between the older snapshot %s (index %d) and index %d, so the node would start without writes it acknowledged",
				ErrCorruptSnapshot, newestID, strings.Join(whyNewer, "; "), first, last, base.ID, base.Index, newest)
		}
		if last == 0 {
			return nil
		}
		if last > baseIndex && first > baseIndex+1 {
			return fmt.Errorf("%w: the log holds entries %d..%d, but the snapshot ends at index %d: entries %d..%d are missing",
				ErrCorruptLog, first, last, baseIndex, baseIndex+1, first-1)
		}
		var e raft.Log
		for i := first; i <= last; i++ {
			err := logs.GetLog(i, &e)
			switch {
			case errors.Is(err, raft.ErrLogNotFound) && i <= baseIndex:
				continue // a gap the snapshot covers
			case errors.Is(err, ErrCorruptLog): // summedLog's, which says which entry
				return err
			case err != nil:
				return fmt.Errorf("%w: entry %d of %d..%d: %v", ErrCorruptLog, i, first, last, err)
			case e.Index != i:
				return fmt.Errorf("%w: entry %d of %d..%d reads as entry %d", ErrCorruptLog, i, first, last, e.Index)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w; %s", err, recoverHint)
	}
	if newest == 0 {
		if bootstrapped && last == 0 {
			return fmt.Errorf("%w: the node has a raft term but neither log entries nor snapshots: its log was lost; %s", ErrCorruptLog, recoverHint)
		}
		return nil
	}
	if base.Index == newest {
		return nil
	}
	log.Warn("newest snapshot unreadable: starting from an older one and the log, which covers the gap; the next snapshot replaces it",
		"unreadable", newestID, "error", strings.Join(whyNewer, "; "), "snapshot", base.ID, "log", fmt.Sprintf("%d..%d", first, last))
	return nil
}

// summedLog keeps a CRC-32C of every entry it stores in the entry's
// Extensions, which raft leaves to log stores and middleware, and checks
// it when the entry is read: raft-wal checks only the structure of its
// frames (and the last batch of its last segment), bbolt nothing, so a
// flipped byte in a txn would otherwise be applied as a different txn on
// this node alone. A read that fails its checksum is an error, which makes
// Open refuse the dir (checkStartState reads every entry) and raft stop
// rather than apply it. Entries written before summedLog, or with
// Extensions of their own, are read unchecked.
type summedLog struct{ raft.LogStore }

var sumMagic = []byte("zkc1")

func entrySum(l *raft.Log) uint32 {
	var h [17]byte
	binary.BigEndian.PutUint64(h[0:], l.Index)
	binary.BigEndian.PutUint64(h[8:], l.Term)
	h[16] = byte(l.Type)
	return crc32.Update(crc32.Checksum(h[:], castagnoli), castagnoli, l.Data)
}

func (s summedLog) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores copies of the entries carrying their checksums, which
// share two arrays, not three allocations an entry: the store encodes
// them and keeps none. Raft's own entries, which it keeps in memory and
// replicates, stay as they were; an entry that already carries
// extensions is stored as it is.
func (s summedLog) StoreLogs(ls []*raft.Log) error {
	const extLen = 4 + 4 // len(sumMagic) + the checksum
	out := make([]*raft.Log, len(ls))
	copies := make([]raft.Log, len(ls))
	ext := make([]byte, 0, extLen*len(ls))
	for i, l := range ls {
		if len(l.Extensions) > 0 {
			out[i] = l
			continue
		}
		copies[i] = *l
		start := len(ext)
		ext = binary.BigEndian.AppendUint32(append(ext, sumMagic...), entrySum(l))
		copies[i].Extensions = ext[start:len(ext):len(ext)]
		out[i] = &copies[i]
	}
	return s.LogStore.StoreLogs(out)
}

func (s summedLog) GetLog(index uint64, l *raft.Log) error {
	if err := s.LogStore.GetLog(index, l); err != nil {
		return err
	}
	if len(l.Extensions) == len(sumMagic)+4 && bytes.HasPrefix(l.Extensions, sumMagic) {
		if binary.BigEndian.Uint32(l.Extensions[len(sumMagic):]) != entrySum(l) {
			return fmt.Errorf("%w: entry %d fails its checksum", ErrCorruptLog, index)
		}
		l.Extensions = nil
	}
	return nil
}

// IsMonotonic passes on the store's (see monotonic).
func (s summedLog) IsMonotonic() bool { return monotonic(s.LogStore) }

// monotonic reports whether s is a raft.MonotonicLogStore that says it
// is. Every wrapper of the log store passes it on: raft-wal takes no
// gaps, and raft, not told so, would after installing a snapshot append
// past a gap the store refuses instead of clearing the log first.
func monotonic(s raft.LogStore) bool {
	m, ok := s.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
