package zk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"go.etcd.io/bbolt"
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
		bs, err := raftboltdb.New(raftboltdb.Options{
			Path: path,
			// The freelist is rebuilt by scanning at open instead of being
			// written on every commit; the map form frees pages in O(1).
			BoltOptions: &bbolt.Options{Timeout: time.Second, FreelistType: bbolt.FreelistMapType, NoFreelistSync: true},
		})
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("zk: open %s: %w", path, err)
		}
		logs, stable, closer = bs, bs, bs
	case LogStoreWAL:
		path := filepath.Join(dir, walDir)
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("zk: data dir: %w", err)
		}
		w, err := wal.Open(path, wal.WithLogger(log.Named("wal")))
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("zk: open %s: %w", path, err)
		}
		logs, stable, closer = walLog{w}, w, w
	default:
		return nil, nil, nil, nil, fmt.Errorf("%w: unknown log store %q (want %q or %q)", ErrInvalidConfig, kind, LogStoreBolt, LogStoreWAL)
	}
	cached, err := raft.NewLogCache(1024, logs)
	if err != nil {
		closer.Close()
		return nil, nil, nil, nil, err
	}
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
